"""Compile-time errors name the task and the problem; the compiler's command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeline import dsl
from kubeline.api.problems import PipelineInvalid
from kubeline.compiler import Compiler, compile_pipeline
from kubeline.components import InputPath, create_component_from_func, load_component_from_text
from tests.helpers import kubeline


def make_text() -> str:
    return "x"


def need_int(n: int) -> int:
    return n


def pair() -> tuple:
    return 1, 2


text_op = create_component_from_func(make_text)
int_op = create_component_from_func(need_int)


def test_an_output_that_does_not_exist() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        produced = text_op()
        int_op(produced.outputs["nope"])

    with pytest.raises(dsl.CompileError, match="task 'make-text' has no output 'nope' \\(its outputs: Output\\)"):
        compile_pipeline(pipeline)


def test_a_type_mismatch_names_the_task_and_input() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        int_op(text_op().output)

    with pytest.raises(
        PipelineInvalid,
        match=r"spec.tasks\[need-int\].arguments.n: \{\{tasks.make-text.outputs.Output\}\} is a string but input 'n' is an integer",
    ):
        compile_pipeline(pipeline)


def test_a_cycle_through_after() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        first = text_op()
        second = text_op().after(first)
        first.after(second)

    with pytest.raises(PipelineInvalid, match="dependency cycle: make-text -> make-text-2 -> make-text"):
        compile_pipeline(pipeline)


def test_component_types_written_with_their_properties_are_value_types() -> None:
    """`type: {Integer: {openapi_schema_validator: ...}}`, as kfp.dsl.types write a type, is an Integer."""
    schema = {"Integer": {"openapi_schema_validator": {"type": "integer"}}}
    counted = load_component_from_text(
        yaml.safe_dump(
            {
                "name": "count",
                "inputs": [{"name": "n", "type": schema}],
                "outputs": [{"name": "total", "type": schema}],
                "implementation": {"container": {"image": "x", "args": [{"inputValue": "n"}, {"outputPath": "total"}]}},
            }
        )
    )
    component = counted.component_spec.to_dict()
    assert component["inputs"] == [{"name": "n", "type": "integer"}]
    assert component["outputs"] == [{"name": "total", "type": "integer"}]


def test_output_of_a_task_with_several_outputs_must_be_named() -> None:
    spec = load_component_from_text(
        yaml.safe_dump(
            {
                "name": "two",
                "outputs": [{"name": "a"}, {"name": "b"}],
                "implementation": {"container": {"image": "x", "args": [{"outputPath": "a"}, {"outputPath": "b"}]}},
            }
        )
    )

    @dsl.pipeline(name="p")
    def pipeline():
        int_op(spec().output)

    with pytest.raises(dsl.CompileError, match="task 'two' has 2 outputs \\(a, b\\): use task.outputs\\['NAME'\\]"):
        compile_pipeline(pipeline)


def test_the_item_of_an_outer_loop_reads_that_loop_by_its_item_name() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        with dsl.ParallelFor([{"n": 1}, {"n": 2}]) as outer:
            with dsl.ParallelFor([3, 4]):
                int_op(outer.n)
                dsl.ContainerOp(name="say", image="alpine", command=["echo", f"{outer.n}"])

    outer = compile_pipeline(pipeline)["spec"]["tasks"][0]
    assert outer["itemName"] == "loop-item-1"
    inner_tasks = outer["dag"]["tasks"][0]["dag"]["tasks"]
    assert [t["arguments"] for t in inner_tasks] == [
        {"n": "{{items.loop-item-1.n}}"},
        {"loop-item-1_n": "{{items.loop-item-1.n}}"},
    ]


def test_a_loop_item_used_after_its_loop_is_refused() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        with dsl.ParallelFor([1, 2]) as item:
            pass
        int_op(item)

    with pytest.raises(dsl.CompileError, match="task 'need-int' uses the item of ParallelFor 'for-loop-1' outside"):
        compile_pipeline(pipeline)


def test_component_yaml_with_optional_arguments_is_resolved_per_task() -> None:
    component = load_component_from_text(
        yaml.safe_dump(
            {
                "name": "Greet",
                "inputs": [{"name": "name"}, {"name": "greeting", "optional": True}],
                "outputs": [{"name": "said"}],
                "implementation": {
                    "container": {
                        "image": "alpine",
                        "command": ["sh", "-c", "echo $0 $1 > $2"],
                        "args": [
                            {
                                "if": {
                                    "cond": {"isPresent": "greeting"},
                                    "then": [{"inputValue": "greeting"}],
                                    "else": ["hello"],
                                }
                            },
                            {"inputValue": "name"},
                            {"outputPath": "said"},
                        ],
                    }
                },
            }
        )
    )

    @dsl.pipeline(name="p")
    def pipeline():
        component(name="ada")
        component(name="bob", greeting="hi")

    components = {c["name"]: c for c in compile_pipeline(pipeline)["spec"]["components"]}
    assert components["greet"]["container"]["args"] == ["hello", "{{inputs.name}}", "{{outputs.said.path}}"]
    assert components["greet-2"]["container"]["args"] == [
        "{{inputs.greeting}}",
        "{{inputs.name}}",
        "{{outputs.said.path}}",
    ]


def test_packages_to_install_are_installed_only_when_missing() -> None:
    op = create_component_from_func(need_int, packages_to_install=["pyyaml"])
    program = op.component_spec.command[-1]
    assert "_install(['pyyaml'])" in program and "importlib.metadata.distribution" in program


def test_compiler_writes_deterministic_yaml(tmp_path: Path) -> None:
    @dsl.pipeline(name="p")
    def pipeline(n: int = 3):
        int_op(n)

    Compiler().compile(pipeline, str(tmp_path / "a.yaml"))
    Compiler().compile(pipeline, str(tmp_path / "b.yaml"))
    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()
    assert yaml.safe_load((tmp_path / "a.yaml").read_text())["spec"]["params"] == [
        {"name": "n", "type": "integer", "default": 3}
    ]


TWO_PIPELINES = """
from kubeline import dsl
from kubeline.components import create_component_from_func

def hello() -> str:
    return "hi"

hello_op = create_component_from_func(hello)

@dsl.pipeline(name="first")
def first():
    hello_op()

@dsl.pipeline(name="second")
def second():
    hello_op()
"""


def test_compile_command_asks_which_of_several_pipelines(tmp_path: Path) -> None:
    (tmp_path / "two.py").write_text(TWO_PIPELINES)
    result = kubeline("compile", "two.py", home=tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "several pipelines: first, second; choose one with --function NAME" in result.stderr
    chosen = kubeline("compile", "two.py", "--function", "second", "-o", "out.yaml", home=tmp_path, cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert yaml.safe_load((tmp_path / "out.yaml").read_text())["metadata"]["name"] == "second"
    ran = kubeline("run", "two.py", "--function", "first", "--json", home=tmp_path, cwd=tmp_path)
    assert ran.returncode == 0 and '"Output": "hi"' in ran.stdout


def test_a_broken_python_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module\n")
    result = kubeline("compile", "broken.py", home=tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "importing it failed: ModuleNotFoundError" in result.stderr
    assert "Traceback" not in result.stderr


def test_input_path_annotation_makes_an_artifact_input() -> None:
    def read(data_path: InputPath("CSV")) -> int:
        return len(open(data_path).read())

    spec = create_component_from_func(read).component_spec
    assert [(i.name, i.type) for i in spec.inputs] == [("data", "artifact")]
    assert spec.args == ["--data", "{{inputs.data.path}}", "--output-Output", "{{outputs.Output.path}}"]


# --- names as KFP gives them; calls checked as Python checks them --------------------------------------


def test_every_op_is_numbered_apart_the_exit_op_included() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        exit_task = text_op()
        with dsl.ExitHandler(exit_task):
            text_op()
            text_op()

    spec = compile_pipeline(pipeline)["spec"]
    assert spec["onExit"]["name"] == "make-text"
    assert [t["name"] for t in spec["tasks"]] == ["make-text-2", "make-text-3"]


def test_numbered_names_of_long_components_stay_valid_and_distinct() -> None:
    from kubeline.api.names import is_dns_label, unique_label

    base = "x" * 63
    names: set[str] = set()
    for _ in range(12):
        names.add(unique_label(base, names))
    assert len(names) == 12 and all(is_dns_label(n) for n in names)
    assert "x" * 61 + "-2" in names and "x" * 60 + "-12" in names


def test_a_display_name_becomes_a_valid_name_and_stays_as_an_annotation() -> None:
    @dsl.pipeline(name="../My Parallel pipeline/")
    def pipeline():
        text_op()

    metadata = compile_pipeline(pipeline)["metadata"]
    assert metadata == {
        "name": "my-parallel-pipeline",
        "annotations": {"kubeline.dev/display-name": "../My Parallel pipeline/"},
    }


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: int_op(), r"need-int\(n\) is missing required argument 'n'"),
        (lambda: int_op(1, 2), r"need-int\(n\) takes 1 argument but 2 were given"),
        (lambda: int_op(m=1), r"need-int\(n\) got an unexpected argument 'm'"),
        (lambda: int_op(1, n=2), r"need-int\(n\) got two values for 'n'"),
    ],
)
def test_a_component_called_wrongly_is_a_type_error_naming_its_inputs(call, message) -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        call()

    with pytest.raises(TypeError, match=message):
        compile_pipeline(pipeline)


@pytest.mark.parametrize(
    "function, message",
    [
        (lambda x: x, "a lambda cannot be a component"),
        (len, "'len' is a builtin_function_or_method, not a Python function"),
        (dict, "'dict' is a type, not a Python function"),
    ],
)
def test_what_is_not_a_def_function_cannot_be_a_component(function, message) -> None:
    with pytest.raises(dsl.CompileError, match=message):
        create_component_from_func(function)


def test_a_function_without_source_cannot_be_a_component() -> None:
    namespace: dict[str, object] = {}
    exec("def hidden(x: int) -> int:\n    return x", namespace)
    with pytest.raises(dsl.CompileError, match=r"the source of hidden\(\) cannot be found"):
        create_component_from_func(namespace["hidden"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=120), min_size=1, max_size=6))
def test_names_from_any_python_name_are_valid_and_distinct(texts: list[str]) -> None:
    """Function names (unicode, long, leading digits or underscores) become DNS-1123 names; repeated
    ones are numbered apart, the number always within 63 characters."""
    from kubeline.api.names import is_dns_label, unique_label
    from kubeline.sdk.components import dns_name

    names: list[str] = []
    for text in texts * 3:
        names.append(unique_label(dns_name(text), names))
    assert all(is_dns_label(n) for n in names), names
    assert len(set(names)) == len(names)


LOUD_PIPELINE = """
import sys
print("loading my pipeline")
sys.stdout.write("not: [yaml\\n")
from kubeline import dsl
from kubeline.components import create_component_from_func

def hello() -> str:
    return "hi"

hello_op = create_component_from_func(hello)

@dsl.pipeline(name="loud")
def loud():
    print("compiling")
    hello_op()
"""


def test_what_a_pipeline_file_prints_never_mixes_with_the_compiled_yaml(tmp_path: Path) -> None:
    (tmp_path / "loud.py").write_text(LOUD_PIPELINE)
    result = kubeline("compile", "loud.py", home=tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["metadata"]["name"] == "loud"
    assert "loading my pipeline" in result.stderr and "compiling" in result.stderr


def test_a_pipeline_file_that_never_finishes_importing_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubeline.sdk import loader

    (tmp_path / "slow.py").write_text("import time\ntime.sleep(600)\n")
    monkeypatch.setattr(loader, "COMPILE_SECONDS", 2)
    with pytest.raises(PipelineInvalid, match="took longer than 2 s, so it was stopped"):
        loader.pipeline_document_from_python(tmp_path / "slow.py")


def test_a_tuple_default_is_a_list_and_bytes_are_refused() -> None:
    @dsl.pipeline(name="p")
    def tuples(sizes: list = (1, 2)):
        text_op()

    @dsl.pipeline(name="p")
    def keyed(mapping: dict = {"a": [{1: "x"}]}):  # noqa: B006 - the default is the point
        text_op()

    assert compile_pipeline(tuples)["spec"]["params"][0]["default"] == [1, 2]
    with pytest.raises(dsl.CompileError, match=r"parameter 'mapping': its default holds the key 1 \(int, not text\)"):
        compile_pipeline(keyed)


@pytest.mark.parametrize("value", [True, 1.5, float("inf"), float("nan"), "soon", None])
def test_setters_taking_counts_refuse_what_is_not_a_whole_number(value: object) -> None:
    """int() read True as 1 and cut 1.5 to 1: a retry count or timeout the program never asked for."""

    @dsl.pipeline(name="p")
    def pipeline():
        text_op().set_retry(value)

    with pytest.raises(dsl.CompileError, match=r"set_retry\(num_retries\): .* is not a whole number"):
        compile_pipeline(pipeline)


def test_setters_taking_counts_accept_whole_numbers_and_their_text() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.get_pipeline_conf().set_parallelism("2")
        text_op().set_retry(3.0).set_timeout(60)

    document = compile_pipeline(pipeline)
    assert document["spec"]["parallelism"] == 2
    assert document["spec"]["tasks"][0]["retries"] == {"limit": 3} and document["spec"]["tasks"][0]["timeout"] == "60s"


def test_component_yaml_defaults_are_taken_as_kfp_takes_them() -> None:
    """KFP v1 passes a default as its text: one the input's type cannot take is kept, never refused."""
    component = load_component_from_text(
        yaml.safe_dump(
            {
                "name": "defaults",
                "inputs": [
                    {"name": "tags", "type": "List", "default": ""},
                    {"name": "limit", "type": "Integer", "default": "auto"},
                    {"name": "ratio", "type": "Float", "default": "0.5"},
                ],
                "implementation": {
                    "container": {"image": "x", "args": [{"inputValue": n} for n in ("tags", "limit", "ratio")]}
                },
            }
        )
    )

    @dsl.pipeline(name="p")
    def pipeline():
        component()

    (compiled,) = compile_pipeline(pipeline)["spec"]["components"]
    assert compiled["inputs"] == [
        {"name": "tags", "type": "list", "optional": True},
        {"name": "limit", "type": "string", "default": "auto"},
        {"name": "ratio", "type": "number", "default": "0.5"},
    ]


def test_kfp_metrics_and_visualization_outputs_are_recognized_in_yaml_and_container_ops() -> None:
    yaml_component = load_component_from_text(
        yaml.safe_dump(
            {
                "name": "evaluate",
                "outputs": [
                    {"name": "MLPipeline UI metadata", "type": "UI metadata"},
                    {"name": "MLPipeline Metrics", "type": "Metrics"},
                    {"name": "scores", "type": "Metrics"},
                ],
                "implementation": {
                    "container": {
                        "image": "x",
                        "args": [
                            {"outputPath": "MLPipeline UI metadata"},
                            {"outputPath": "MLPipeline Metrics"},
                            {"outputPath": "scores"},
                        ],
                    }
                },
            }
        )
    )

    @dsl.pipeline(name="p")
    def pipeline():
        yaml_component()
        dsl.ContainerOp(
            name="raw",
            image="alpine",
            command=["sh", "-c", "echo {} > /mlpipeline-metrics.json; echo {} > /tmp/ui.json"],
            file_outputs={"mlpipeline-metrics": "/mlpipeline-metrics.json"},
            output_artifact_paths={"mlpipeline-ui-metadata": "/tmp/ui.json"},
        )

    components = {c["name"]: c for c in compile_pipeline(pipeline)["spec"]["components"]}
    assert components["evaluate"]["outputs"] == [
        {"name": "mlpipeline-ui-metadata", "type": "ui-metadata"},
        {"name": "mlpipeline-metrics", "type": "metrics"},
        {"name": "scores", "type": "metrics"},
    ]
    assert components["evaluate"]["container"]["args"][:2] == [
        "{{outputs.mlpipeline-ui-metadata.path}}",
        "{{outputs.mlpipeline-metrics.path}}",
    ]
    assert components["raw"]["outputs"] == [
        {"name": "mlpipeline-ui-metadata", "type": "ui-metadata"},
        {"name": "mlpipeline-metrics", "type": "metrics"},
    ]
    assert "{{outputs.mlpipeline-metrics.path}}" in components["raw"]["container"]["command"][2]
