"""The KFP v1 task and pipeline API: what kubeline honours changes the compiled YAML, the rest is refused by name."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes.client import V1EnvVar

from kubeline import dsl
from kubeline.api.problems import PipelineInvalid
from kubeline.compiler import Compiler, compile_pipeline
from kubeline.components import create_component_from_func


def hello(name: str) -> str:
    return "hello " + name


hello_op = create_component_from_func(hello)


def compiled_task(configure: Any) -> dict[str, Any]:
    """The compiled task of a one-step pipeline after ``configure(task)``."""

    @dsl.pipeline(name="p")
    def pipeline(name: str = "world"):
        configure(hello_op(name))

    (task,) = compile_pipeline(pipeline)["spec"]["tasks"]
    return task


def compiled(configure: Any) -> dict[str, Any]:
    @dsl.pipeline(name="p")
    def pipeline(name: str = "world"):
        configure(hello_op(name))

    return compile_pipeline(pipeline)["spec"]


def test_set_display_name_is_the_tasks_display_name() -> None:
    task = compiled_task(lambda t: t.set_display_name("Say hello"))
    assert task["name"] == "hello"
    assert task["displayName"] == "Say hello"


def test_no_display_name_unless_set() -> None:
    assert "displayName" not in compiled_task(lambda t: t)


def test_the_exit_handler_keeps_its_display_name() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        with dsl.ExitHandler(hello_op("bye").set_display_name("Clean up")):
            hello_op("world")

    assert compile_pipeline(pipeline)["spec"]["onExit"]["displayName"] == "Clean up"


@pytest.mark.parametrize(
    ("configure", "caching"),
    [
        (lambda t: t.set_caching_options(False), {"enabled": False}),
        (
            lambda t: setattr(t.execution_options.caching_strategy, "max_cache_staleness", "P0D"),
            {"maxStaleness": "P0D"},
        ),
        (lambda t: t.add_pod_annotation("pipelines.kubeflow.org/max_cache_staleness", "P7D"), {"maxStaleness": "P7D"}),
        (lambda t: t.add_pod_label("pipelines.kubeflow.org/enable_caching", "false"), {"enabled": False}),
    ],
    ids=["set_caching_options", "max_cache_staleness", "staleness annotation", "caching label"],
)
def test_caching_settings(configure: Any, caching: dict[str, Any]) -> None:
    assert compiled_task(configure)["caching"] == caching


def test_a_misspelt_caching_setting_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="max_cache_stalenes"):
        compiled_task(lambda t: setattr(t.execution_options.caching_strategy, "max_cache_stalenes", "P0D"))


def test_a_staleness_that_is_not_a_duration_names_the_field() -> None:
    with pytest.raises(PipelineInvalid, match=r"tasks\[hello\]\.caching\.maxStaleness"):
        compiled_task(lambda t: t.add_pod_annotation("pipelines.kubeflow.org/max_cache_staleness", "soon"))


def test_resources_including_ephemeral_storage() -> None:
    task = compiled_task(
        lambda t: (
            t.set_cpu_request("500m").set_memory_limit("1Gi").set_ephemeral_storage_request("2Gi").set_gpu_limit(1)
        )
    )
    assert task["resources"] == {
        "limits": {"memory": "1Gi", "nvidia.com/gpu": "1"},
        "requests": {"cpu": "500m", "ephemeral-storage": "2Gi"},
    }


def test_get_resource_reads_back_what_was_set() -> None:
    seen = {}

    def configure(task: Any) -> None:
        task.set_memory_request("1Gi")
        seen["request"], seen["limit"] = task.get_resource_request("memory"), task.get_resource_limit("memory")

    compiled_task(configure)
    assert seen == {"request": "1Gi", "limit": None}


def test_retry_with_a_policy_kubeline_follows() -> None:
    assert compiled_task(lambda t: t.set_retry(2, policy="Always"))["retries"] == {"limit": 2}


def test_apply_runs_the_modifier() -> None:
    assert compiled_task(lambda t: t.apply(lambda op: op.set_timeout(30)))["timeout"] == "30s"


def test_env_variable_with_a_value() -> None:
    spec = compiled(lambda t: t.add_env_variable(V1EnvVar(name="GREETING", value="hi")))
    (component,) = spec["components"]
    assert component["container"]["env"] == [{"name": "GREETING", "value": "hi"}]


def test_env_variable_only_changes_its_own_task() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        hello_op("a").set_env_variable("GREETING", "hi")
        hello_op("b")

    spec = compile_pipeline(pipeline)["spec"]
    components = {c["name"]: c["container"].get("env") for c in spec["components"]}
    assert [components[t["component"]] for t in spec["tasks"]] == [[{"name": "GREETING", "value": "hi"}], None]


def test_env_variable_with_a_run_time_value_becomes_an_input() -> None:
    @dsl.pipeline(name="p")
    def pipeline(name: str = "world"):
        hello_op("a").set_env_variable("WHO", f"dear {name}")

    spec = compile_pipeline(pipeline)["spec"]
    (task,) = spec["tasks"]
    (component,) = spec["components"]
    (input_name,) = [i["name"] for i in component["inputs"] if i["name"] != "name"]
    assert component["container"]["env"] == [{"name": "WHO", "value": f"dear {{{{inputs.{input_name}}}}}"}]
    assert task["arguments"][input_name] == "{{params.name}}"


def test_container_op_env_from_container_kwargs() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.ContainerOp(
            name="echo", image="alpine", command=["env"], container_kwargs={"env": [V1EnvVar(name="A", value="1")]}
        )

    (component,) = compile_pipeline(pipeline)["spec"]["components"]
    assert component["container"]["env"] == [{"name": "A", "value": "1"}]


@pytest.mark.parametrize(
    ("call", "configure", "instead"),
    [
        ("set_retry", lambda t: t.set_retry(2, policy="OnError"), "every failed attempt"),
        ("set_termination_message_path", lambda t: t.set_termination_message_path("/x"), "outputs"),
        ("add_volume_devices", lambda t: t.add_volume_devices(object()), "not block devices"),
        ("add_port", lambda t: t.add_port(object()), "set what the program needs in the image"),
    ],
)
def test_what_kubeline_cannot_honour_is_refused_by_name(call: str, configure: Any, instead: str) -> None:
    with pytest.raises(dsl.CompileError) as raised:
        compiled_task(configure)
    assert f"task 'hello': {call}(" in str(raised.value)
    assert instead in str(raised.value)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (object(), "artifact_argument_paths takes dsl.InputArgumentPath(task.outputs['NAME'], ...)"),
        (dsl.InputArgumentPath("text", path="/in"), "InputArgumentPath('text') passes a constant"),
    ],
)
def test_artifact_argument_paths_that_are_not_task_outputs_are_refused(given: object, problem: str) -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.ContainerOp(name="echo", image="alpine", artifact_argument_paths=[given])

    with pytest.raises(dsl.CompileError, match=re.escape(f"ContainerOp 'echo': {problem}")):
        compile_pipeline(pipeline)


def test_container_kwargs_without_a_field_in_the_step_container_are_refused_by_name() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.ContainerOp(name="echo", image="alpine", container_kwargs={"ports": [], "tty": True})

    with pytest.raises(dsl.CompileError, match="ContainerOp 'echo': container_kwargs ports, tty not supported"):
        compile_pipeline(pipeline)


def test_an_unknown_container_op_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="imagee"):
        dsl.ContainerOp(name="echo", image="alpine", imagee="x")


def test_output_artifact_paths_are_outputs_as_in_kfp() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.ContainerOp(
            name="echo", image="alpine", command=["sh", "-c", "echo hi > /out"], output_artifact_paths={"out": "/out"}
        )

    (component,) = compile_pipeline(pipeline)["spec"]["components"]
    assert component["outputs"] == [{"name": "out", "type": "artifact"}]  # a file (or folder) only, as in KFP


@pytest.mark.parametrize("name", ["set_cpu_limt", "add_tolerations", "set_displayname", "outputz"])
def test_a_misspelt_method_is_an_attribute_error(name: str) -> None:
    with pytest.raises(AttributeError, match=name):
        compiled_task(lambda t: getattr(t, name))


def test_pipeline_root_is_refused() -> None:
    with pytest.raises(dsl.CompileError, match=r"pipeline_root=\.\.\.\) is not supported: .*run's own volume"):
        dsl.pipeline(name="p", pipeline_root="gs://bucket/root")


def test_type_check_true_compiles_and_false_is_refused(tmp_path: Any) -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        hello_op("world")

    Compiler().compile(pipeline, str(tmp_path / "p.yaml"), type_check=True)
    assert (tmp_path / "p.yaml").exists()
    with pytest.raises(dsl.CompileError, match=r"compile\(type_check=False\) is not supported"):
        Compiler().compile(pipeline, str(tmp_path / "q.yaml"), type_check=False)
    assert not (tmp_path / "q.yaml").exists()


def test_component_annotations_are_refused() -> None:
    with pytest.raises(dsl.CompileError, match=r"create_component_from_func\('hello', annotations=\.\.\.\)"):
        create_component_from_func(hello, annotations={"author": "me"})


def test_container_op_reads_the_loop_item_in_its_command_and_env() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        with dsl.ParallelFor([1, 2]) as item:
            dsl.ContainerOp(name="echo", image="alpine", command=["echo", f"n={item}"]).set_env_variable("N", f"{item}")

    spec = compile_pipeline(pipeline)["spec"]
    (component,) = spec["components"]
    assert component["container"]["command"] == ["echo", "n={{inputs.loop-item-1}}"]
    assert component["container"]["env"] == [{"name": "N", "value": "{{inputs.loop-item-1}}"}]
    assert spec["tasks"][0]["dag"]["tasks"][0]["arguments"] == {"loop-item-1": "{{item}}"}


def test_graph_component_is_refused_saying_why() -> None:
    with pytest.raises(
        dsl.CompileError, match="@dsl.graph_component 'flip_until_tails' is not supported: .* cannot recurse"
    ):

        @dsl.graph_component
        def flip_until_tails() -> None: ...


def test_a_dsl_component_that_returns_no_container_op_is_refused() -> None:
    @dsl.component
    def broken() -> None:
        return None

    with pytest.raises(
        dsl.CompileError, match=r"@dsl.component broken\(\) must return a dsl.ContainerOp, not NoneType"
    ):
        broken()


@pytest.mark.parametrize(("keyword", "value"), [("name", {"a": 1}), ("image", None)])
def test_a_container_op_name_or_image_that_is_not_text_is_refused_by_name(keyword: str, value: object) -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.ContainerOp(**{"name": "echo", "image": "alpine", keyword: value})

    with pytest.raises(dsl.CompileError, match=f"{keyword} must be text, not {type(value).__name__}"):
        compile_pipeline(pipeline)
