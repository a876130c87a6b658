"""The command line with bad input: clear messages naming the field, exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import COMPONENTS, kubeline


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def pipeline_text(tasks: list[dict], **spec: object) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kubeline.dev/v1alpha1",
            "kind": "Pipeline",
            "metadata": {"name": "p"},
            "spec": {"components": COMPONENTS, "tasks": tasks, **spec},
        },
        allow_unicode=True,
    )


def test_validate_reports_a_cycle_an_unknown_task_and_a_wrong_type_together(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        pipeline_text(
            [
                {"name": "a", "component": "op", "after": ["b"]},
                {"name": "b", "component": "op", "after": ["a"]},
                {"name": "c", "component": "op", "arguments": {"a": "{{tasks.missing.outputs.out}}"}},
                {"name": "d", "component": "num", "arguments": {"x": "many"}},
            ]
        ),
    )
    result = kubeline("validate", str(path), home=tmp_path)
    assert result.returncode == 2
    assert "3 problems" in result.stderr
    assert "spec.tasks: dependency cycle: a -> b -> a" in result.stderr
    assert "spec.tasks[c].arguments.a: unknown task 'missing'" in result.stderr
    assert "spec.tasks[d].arguments.x: input 'x': 'many' is not an integer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ("spec: [unclosed", "pipeline.yaml:1:"),
        ("", "the file holds no document"),
        ("- just\n- a list\n", "expected a Pipeline"),
        ("kind: Workflow\napiVersion: argoproj.io/v1alpha1\n", "convert it with `kubeline import`"),
        ("kind: Pipeline\napiVersion: kubeline.dev/v1alpha1\nspec: {}\n", "spec.components: required field is missing"),
        ("kind: Pipeline\napiVersion: kubeline.dev/v1alpha1\nspec: 7\n", "spec: must be a mapping"),
        ("kind: Pipeline\napiVersion: v1\nspec: {}\n", "apiVersion: must be kubeline.dev/v1alpha1"),
        (
            pipeline_text([{"name": "a", "component": "op", "retries": {"limit": 10**30}}]),
            "spec.tasks[a].retries.limit",
        ),
        (pipeline_text([{"name": "a", "component": "num", "arguments": {"x": 10**30}}]), "does not fit in 64 bits"),
        (
            pipeline_text([{"name": "größe", "component": "op"}]),
            "spec.tasks[größe].name: 'größe' is not a valid name: use lowercase letters",
        ),
        (
            pipeline_text([{"name": "a", "component": "op", "arguments": "oops"}]),
            "spec.tasks[a].arguments: input should be a valid dictionary",
        ),
        (
            pipeline_text(
                [{"name": "a", "component": "op"}], params=[{"name": "n", "type": "integer", "default": "x"}]
            ),
            "spec.params[n].default: 'x' is not an integer",
        ),
    ],
)
def test_bad_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    for command in ("validate", "run"):
        result = kubeline(command, str(path), home=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = kubeline("run", str(tmp_path / "nope.yaml"), home=tmp_path)
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr


@pytest.mark.parametrize(
    "params, message",
    [
        (["value_1=seven"], "arguments.value_1: 'seven' is not an integer"),
        (["value_3=1"], "the pipeline has no parameter 'value_3'"),
        (["value_1"], "write parameters as NAME=VALUE"),
        ([f"value_1={10**40}"], "does not fit in 64 bits"),
    ],
)
def test_bad_parameters_are_explained(tmp_path: Path, params: list[str], message: str) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "add-subtract-multiply.yaml"
    args = ["run", str(example)]
    for param in params:
        args += ["-p", param]
    result = kubeline(*args, home=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_failed_run_exits_1_and_shows_the_log_tail(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "exit-handler.yaml"
    result = kubeline("run", str(example), home=tmp_path)
    assert result.returncode == 1
    assert "out of memory" in result.stdout  # the failing step's log tail
    assert "Failed: train failed: exit code 1" in result.stdout


def test_crds_command_prints_every_crd(tmp_path: Path) -> None:
    result = kubeline("crds", home=tmp_path)
    assert result.returncode == 0
    kinds = [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(result.stdout)]
    assert kinds == ["Pipeline", "Run", "CacheEntry", "RunRecord", "RecurringRun", "Queue"]


def test_help_teaches_by_example(tmp_path: Path) -> None:
    result = kubeline("--help", home=tmp_path)
    assert "kubeline run examples/add-subtract-multiply.yaml -p value_1=7 -p value_2=3" in result.stdout


def test_a_run_beside_the_pipeline_gives_its_arguments(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / "examples" / "add-subtract-multiply.yaml").read_text()
    run = "---\napiVersion: kubeline.dev/v1alpha1\nkind: Run\nmetadata: {name: r}\nspec:\n  pipelineRef: {name: add-subtract-multiply}\n  arguments: {value_1: 10, value_2: 2}\n"
    path = write(tmp_path, example + run)
    result = kubeline("run", str(path), "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"product": "96"' in result.stdout  # (10 + 2) * (10 - 2)
    overridden = kubeline("run", str(path), "--json", "-p", "value_2=0", home=tmp_path)
    assert '"product": "100"' in overridden.stdout


def test_kubeline_get_shows_a_run_s_metrics() -> None:
    import argparse
    import io

    from kubeline.commands.display import plain_console
    from kubeline.commands.get import _show_run
    from kubeline.sdk.results import run_info

    status = {
        "phase": "Succeeded",
        "tasks": {"train": {"phase": "Succeeded", "attempts": 1}},
        "metrics": {"train": {"accuracy-score": 0.9, "epochs": 40}},
    }
    run = run_info({"metadata": {"name": "r1", "uid": "u1"}, "spec": {}, "status": status})
    out = io.StringIO()
    _show_run(run, plain_console(file=out, width=120), argparse.Namespace(json=False))
    assert "metrics of train: accuracy-score=0.9, epochs=40" in out.getvalue()
    assert run.metrics[0].name == "accuracy-score" and run.metrics[0].node_id == "train"  # kfp's ApiRun.metrics


def test_compile_takes_dsl_compiles_flags_as_well_as_its_own(tmp_path: Path) -> None:
    program = tmp_path / "hello.py"
    program.write_text(
        "from kubeline import dsl\n"
        "from kubeline.components import func_to_container_op\n\n"
        "@func_to_container_op\n"
        "def say(text: str) -> str:\n"
        "    return text\n\n"
        "@dsl.pipeline(name='Hello pipeline')\n"
        "def hello(text: str = 'hi'):\n"
        "    say(text)\n\n"
        "@dsl.pipeline(name='Other')\n"
        "def other():\n"
        "    say('other')\n"
    )
    as_dsl_compile = kubeline(
        "compile", "--py", "hello.py", "--output", "a.yaml", "--function", "hello", "--disable-type-check",
        home=tmp_path, cwd=tmp_path,
    )  # fmt: skip
    assert as_dsl_compile.returncode == 0, as_dsl_compile.stderr
    assert "--disable-type-check has no effect" in as_dsl_compile.stderr
    own = kubeline("compile", "hello.py", "-o", "b.yaml", "--function", "hello", home=tmp_path, cwd=tmp_path)
    assert own.returncode == 0, own.stderr
    compiled = (tmp_path / "a.yaml").read_text()
    assert compiled == (tmp_path / "b.yaml").read_text()
    assert yaml.safe_load(compiled)["metadata"]["name"] == "hello-pipeline"
    both = kubeline("compile", "hello.py", "--py", "hello.py", home=tmp_path, cwd=tmp_path)
    neither = kubeline("compile", "--output", "c.yaml", home=tmp_path, cwd=tmp_path)
    for refused in (both, neither):
        assert refused.returncode == 2
        assert "give the Python file once" in refused.stderr
