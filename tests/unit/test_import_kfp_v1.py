"""`kubeline import`: workflows compiled by the real KFP v1 SDK, imported and run on the local runner;
the translation itself on small hand-written workflows."""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from kubeline.api.problems import PipelineInvalid
from kubeline.api.yamlio import dump
from kubeline.backends.local import LocalRunner, RunResult
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import bind_arguments
from kubeline.importers.kfp_v1 import import_workflow
from kubeline.importers.kfp_v1.variables import replace_path
from tests.kfp_expectations import assert_container_op_scheduling

Workflows = dict[str, tuple[Path, dict[str, Any]]]


def imported(workflows: Workflows, program: str) -> dict[str, Any]:
    """The program's pipeline; strict, so the classic programs must need nothing dropped."""
    return import_workflow(yaml.safe_load(workflows[program][0].read_text()), strict=True).pipeline


def run(pipeline: dict[str, Any], tmp_path: Path, **arguments: object) -> RunResult:
    plan = build(load_spec(pipeline["spec"]))
    return LocalRunner(plan, bind_arguments(plan, arguments), "imported", run_dir=tmp_path, cache=None).run()


def outputs(result: RunResult, step: str) -> dict[str, str]:
    return result.state.steps[step].outputs


# --- programs compiled by kfp==1.8.22 ------------------------------------------------------------------


def test_add_subtract_multiply(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "add_subtract_multiply")
    result = run(pipeline, tmp_path, **kfp_workflows["add_subtract_multiply"][1])
    assert result.decision.phase == "Succeeded"
    assert float(outputs(result, "multiply")["Output"]) == 40.0
    assert pipeline["spec"]["params"] == [{"name": "value_1", "default": "7"}, {"name": "value_2", "default": "3"}]


def test_file_passing(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "file_passing")
    result = run(pipeline, tmp_path, rows=4)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "total-score") == {"Output": "60"}  # 0 + 10 + 20 + 30
    components = {c["name"]: c for c in pipeline["spec"]["components"]}
    assert components["make-report"]["outputs"] == [{"name": "report", "type": "artifact"}]
    assert components["total-score"]["container"]["args"][:2] == ["--report", "{{inputs.make-report-report.path}}"]
    assert "/tmp/outputs/" not in json.dumps(pipeline) and "/tmp/inputs/" not in json.dumps(pipeline)
    assert pipeline["spec"]["params"] == [{"name": "rows", "type": "integer", "default": 4}]


def test_conditions_run_the_branch_of_the_drawn_number(kfp_workflows: Workflows, tmp_path: Path) -> None:
    result = run(imported(kfp_workflows, "random_condition"), tmp_path)
    assert result.decision.phase == "Succeeded"
    number = int(outputs(result, "random-number")["Output"])
    ran, skipped, step = (
        ("condition-1", "condition-2", "announce") if number > 5 else ("condition-2", "condition-1", "announce-2")
    )
    assert (result.decision.views[ran].phase, result.decision.views[skipped].phase) == ("Succeeded", "Skipped")
    assert outputs(result, f"{ran}.{step}") == {"Output": "high" if number > 5 else "low"}


def test_parallel_for_over_a_produced_list(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "parallel_for")
    result = run(pipeline, tmp_path, count=3)
    assert result.decision.phase == "Succeeded"
    assert [outputs(result, f"for-loop-1[{i}].show")["Output"] for i in range(3)] == [
        "1 squared is 1",
        "2 squared is 4",
        "3 squared is 9",
    ]
    loop = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "for-loop-1")
    assert loop["forEach"] == "{{tasks.make-items.outputs.Output}}"
    assert loop["dag"]["tasks"][1]["arguments"]["make-items-Output-loop-item"] == "{{item}}"


def test_exit_handler_runs_after_a_failure(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "coin_flip_exit_handler")
    assert pipeline["spec"]["onExit"] == {
        "name": "exit-notice",
        "component": "exit-notice",
        "arguments": {"workflow-status": "{{run.status}}"},
    }
    result = run(pipeline, tmp_path / "tails", force="tails")
    assert result.decision.phase == "Failed"
    assert result.decision.views["exit-handler-1.condition-5.fail"].phase == "Failed"
    assert result.decision.views["exit-handler-1.condition-2"].phase == "Skipped"
    assert outputs(result, "exit-notice") == {"Output": "Failed"}
    heads = run(pipeline, tmp_path / "heads", force="heads")
    assert heads.decision.phase == "Succeeded"
    assert outputs(heads, "exit-notice") == {"Output": "Succeeded"}


def test_scheduling_and_pipeline_conf_land_in_tasks_and_defaults(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "container_op_scheduling")
    assert_container_op_scheduling(pipeline["spec"])
    result = run(pipeline, tmp_path)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "first") == {"said": "hello"}  # a ContainerOp file output is a value, as in KFP
    first = next(c for c in pipeline["spec"]["components"] if c["name"] == "first")
    assert first["container"]["args"] == ['echo "hello" | tee {{outputs.said.path}}']


def test_files_into_conditions_group_outputs_records_and_settings(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "more_features")
    spec = pipeline["spec"]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["condition-1"]["when"] == "{{params.count}} > {{params.threshold}}"
    assert tasks["shout"]["arguments"] == {"count-lines-Output": "{{tasks.count-lines.outputs.Output}}"}
    assert tasks["for-loop-3"]["parallelism"] == 1
    assert tasks["write-lines"]["retries"] == {"limit": 2, "backoff": {"duration": "1s", "factor": 2.0}}
    assert (tasks["write-lines"]["timeout"], tasks["write-lines"]["caching"]) == ("60s", {"maxStaleness": "P0D"})
    assert spec["defaults"] == {"imagePullSecrets": [{"name": "registry"}]}
    assert (spec["parallelism"], spec["timeout"], spec["ttlAfterFinished"]) == (4, "3600s", "86400s")
    result = run(pipeline, tmp_path / "high", count=3, threshold=2)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "shout") == {"Output": "3 lines!"}
    assert [outputs(result, f"for-loop-3[{i}].describe")["Output"] for i in range(2)] == ["a weighs 1", "b weighs 2"]
    low = run(pipeline, tmp_path / "low", count=1, threshold=2)
    assert low.decision.views["condition-1"].phase == "Skipped"
    assert low.decision.views["shout"].phase == "Skipped"  # it reads the output of a skipped task


def test_import_command_writes_a_pipeline_kubeline_runs(kfp_workflows: Workflows, tmp_path: Path) -> None:
    env = {**os.environ, "KUBELINE_HOME": str(tmp_path / "home")}
    out = tmp_path / "imported.yaml"
    command = [
        sys.executable,
        "-m",
        "kubeline",
        "import",
        str(kfp_workflows["add_subtract_multiply"][0]),
        "-o",
        str(out),
    ]
    imported_once = subprocess.run(command, capture_output=True, text=True, env=env)
    assert imported_once.returncode == 0, imported_once.stderr
    first = out.read_bytes()
    subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert out.read_bytes() == first  # deterministic
    ran = subprocess.run(
        [sys.executable, "-m", "kubeline", "run", str(out), "-p", "value_1=7", "-p", "value_2=3", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["tasks"]["multiply"]["outputs"] == {"Output": "40.0"}


# --- the translation, on hand-written workflows ---------------------------------------------------------


def workflow(*templates: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "snippet-"},
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "n", "value": "2"}]},
            "templates": list(templates),
            **spec,
        },
    }


def dag(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "main", "inputs": {"parameters": [{"name": "n"}]}, "dag": {"tasks": list(tasks)}, **fields}


def echo(name: str = "echo", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "inputs": {"parameters": [{"name": "n"}]},
        "container": {"image": "alpine", "command": ["sh", "-c", "echo {{inputs.parameters.n}} | tee /tmp/out"]},
        "outputs": {"parameters": [{"name": f"{name}-out", "valueFrom": {"path": "/tmp/out"}}]},
        **fields,
    }


def call(
    name: str = "echo", template: str = "echo", value: str = "{{inputs.parameters.n}}", **fields: Any
) -> dict[str, Any]:
    return {"name": name, "template": template, "arguments": {"parameters": [{"name": "n", "value": value}]}, **fields}


def messages(error: pytest.ExceptionInfo[PipelineInvalid]) -> list[str]:
    return [str(issue) for issue in error.value.issues]


def test_a_step_with_its_settings() -> None:
    template = echo(
        retryStrategy={"limit": "2", "retryPolicy": "Always", "backoff": {"duration": "5", "factor": 2}},
        activeDeadlineSeconds=30,
        nodeSelector={"disk": "ssd"},
        metadata={"labels": {"pipelines.kubeflow.org/enable_caching": "false"}},
    )
    pipeline = import_workflow(workflow(dag(call()), template)).pipeline
    task = pipeline["spec"]["tasks"][0]
    assert task == {
        "name": "echo",
        "component": "echo",
        "arguments": {"n": "{{params.n}}"},
        "caching": {"enabled": False},
        "retries": {"limit": 2, "backoff": {"duration": "5s", "factor": 2.0}},
        "timeout": "30s",
        "nodeSelector": {"disk": "ssd"},
    }
    component = pipeline["spec"]["components"][0]
    assert component["container"]["command"] == ["sh", "-c", "echo {{inputs.n}} | tee {{outputs.out.path}}"]
    assert component["outputs"] == [{"name": "out"}]


def test_unsupported_fields_are_warnings_naming_template_and_field() -> None:
    template = echo(sidecars=[{"name": "proxy"}])
    template["container"]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    template["container"]["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    result = import_workflow(workflow(dag(call()), template, volumes=[{"name": "data"}]))
    assert result.warnings == [
        "spec.volumes: not supported, dropped",
        "templates[echo].sidecars: not supported, dropped",
        "templates[echo].container.volumeMounts: not supported, dropped",
        "templates[echo].container.env[TOKEN].valueFrom: values from secrets, config maps or fields are not supported, dropped",
    ]
    assert "env" not in result.pipeline["spec"]["components"][0]["container"]


def test_strict_mode_makes_warnings_errors() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(dag(call()), echo(sidecars=[{"name": "proxy"}])), strict=True)
    assert messages(caught) == ["templates[echo].sidecars: not supported, dropped"]


def test_what_cannot_be_translated_is_an_error_even_without_strict() -> None:
    volume = {"name": "make-volume", "resource": {"action": "create", "manifest": "kind: PersistentVolumeClaim"}}
    bad = echo()
    bad["container"]["args"] = ["{{pod.name}}"]
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(dag(call(), call("volume", "make-volume")), bad, volume))
    assert messages(caught) == [
        "templates[echo].container.args[0]: {{pod.name}} cannot be translated",
        "templates[make-volume].resource: resource templates are not supported (task 'volume' runs it); kubeline steps run containers",
    ]


def test_a_loop_inside_a_loop_cannot_use_the_outer_item() -> None:
    inner = {"name": "inner", "inputs": {"parameters": [{"name": "n"}]}, "dag": {"tasks": [call(withItems=[1, 2])]}}
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(dag(call("outer", "inner", "{{item}}", withItems=["a", "b"])), inner, echo()))
    assert messages(caught) == [
        "templates[inner].dag.tasks[echo].arguments.parameters[n]: a loop inside a loop uses "
        "the outer loop's item: kubeline's {{item}} is the innermost one"
    ]


def test_workflow_variables_in_steps_and_in_the_exit_handler() -> None:
    notify = echo("notify")
    notify["inputs"] = {}
    notify["container"]["command"] = ["echo", "{{workflow.status}} {{workflow.name}} {{workflow.parameters.n}}"]
    notify["outputs"] = {}
    pipeline = import_workflow(workflow(dag(call("early", "notify")), notify, onExit="notify")).pipeline
    spec = pipeline["spec"]
    assert spec["components"][0]["container"]["command"] == [
        "echo",
        "{{inputs.workflow-status}} {{inputs.workflow-name}} {{inputs.workflow-parameters-n}}",
    ]
    # before the exit handler the workflow is still running, as Argo would say
    assert spec["tasks"][0]["arguments"] == {
        "workflow-status": "Running",
        "workflow-name": "{{run.name}}",
        "workflow-parameters-n": "{{params.n}}",
    }
    assert spec["onExit"]["arguments"] == {
        "workflow-status": "{{run.status}}",
        "workflow-name": "{{run.name}}",
        "workflow-parameters-n": "{{params.n}}",
    }


def test_raw_artifacts_depends_and_item_fields() -> None:
    reader = {
        "name": "reader",
        "inputs": {
            "parameters": [{"name": "who"}],
            "artifacts": [{"name": "config", "path": "/tmp/inputs/config/data"}],
        },
        "container": {
            "image": "alpine",
            "command": ["cat", "/tmp/inputs/config/data", "/tmp/inputs/config/data2"],
            "args": ["{{inputs.parameters.who}}"],
        },
    }
    raw = {"name": "config", "raw": {"data": "debug: true"}}
    main = dag(
        call(),
        {
            "name": "read",
            "template": "reader",
            "depends": "echo.Succeeded",
            "withParam": '[{"who": "a"}]',
            "arguments": {"parameters": [{"name": "who", "value": "{{item.who}}"}], "artifacts": [raw]},
        },
    )
    result = import_workflow(workflow(main, echo(), reader))
    read = result.pipeline["spec"]["tasks"][1]
    assert read == {
        "name": "read",
        "component": "reader",
        "arguments": {"who": "{{item.who}}", "config": "debug: true"},
        "after": ["echo"],
        "forEach": [{"who": "a"}],
    }
    command = result.pipeline["spec"]["components"][1]["container"]["command"]
    assert command == ["cat", "{{inputs.config.path}}", "/tmp/inputs/config/data2"]  # only the whole path is replaced


def test_conditions_on_group_inputs_and_task_outputs() -> None:
    branch = {
        "name": "branch",
        "inputs": {"parameters": [{"name": "echo-out"}]},
        "dag": {"tasks": [call("again", "echo", "{{inputs.parameters.echo-out}}")]},
    }
    main = dag(
        call(),
        {
            "name": "branch",
            "template": "branch",
            "dependencies": ["echo"],
            "when": '"{{tasks.echo.outputs.parameters.echo-out}}" == "2" && {{inputs.parameters.n}} > 1',
            "arguments": {"parameters": [{"name": "echo-out", "value": "{{tasks.echo.outputs.parameters.echo-out}}"}]},
        },
    )
    task = import_workflow(workflow(main, echo(), branch)).pipeline["spec"]["tasks"][1]
    assert task["when"] == '"{{tasks.echo.outputs.out}}" == "2" && {{params.n}} > 1'
    assert "after" not in task  # the condition already waits for echo
    assert task["dag"]["tasks"][0]["arguments"] == {"n": "{{tasks.echo.outputs.out}}"}


def test_types_of_params_come_from_the_pipeline_spec_annotation() -> None:
    document = workflow(dag(call()), echo())
    document["metadata"]["annotations"] = {
        "pipelines.kubeflow.org/pipeline_spec": json.dumps(
            {
                "name": "typed",
                "description": "Typed.",
                "inputs": [{"name": "n", "type": "Integer", "description": "How many."}],
            }
        )
    }
    pipeline = import_workflow(document).pipeline
    # the workflow's name names the Pipeline; KFP's display name and description stay as annotations
    assert pipeline["metadata"] == {
        "name": "snippet",
        "annotations": {"kubeline.dev/display-name": "typed", "kubeline.dev/description": "Typed."},
    }
    assert pipeline["spec"]["description"] == "Typed."
    assert pipeline["spec"]["params"] == [{"name": "n", "type": "integer", "default": 2, "description": "How many."}]
    assert import_workflow(copy.deepcopy(document), name="chosen").pipeline["metadata"]["name"] == "chosen"


def test_not_a_workflow() -> None:
    with pytest.raises(PipelineInvalid, match="expected an Argo Workflow compiled by the KFP v1 SDK, found 'Pipeline'"):
        import_workflow({"kind": "Pipeline"})


def test_the_command_reports_problems_with_exit_status_2(tmp_path: Path) -> None:
    path = tmp_path / "workflow.yaml"
    path.write_text(dump(workflow(dag(call()), echo(sidecars=[{"name": "proxy"}]))))
    lenient = subprocess.run([sys.executable, "-m", "kubeline", "import", str(path)], capture_output=True, text=True)
    assert lenient.returncode == 0
    assert "warning: templates[echo].sidecars: not supported, dropped" in lenient.stderr
    assert yaml.safe_load(lenient.stdout)["kind"] == "Pipeline"
    strict = subprocess.run(
        [sys.executable, "-m", "kubeline", "import", str(path), "--strict"], capture_output=True, text=True
    )
    assert strict.returncode == 2
    assert "templates[echo].sidecars: not supported, dropped" in strict.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tee /tmp/out", "tee X"),
        ("tee /tmp/out/file", "tee X/file"),
        ("tee /tmp/output.txt /a/tmp/out /tmp/out.bak", "tee /tmp/output.txt /a/tmp/out /tmp/out.bak"),
        ("--path=/tmp/out;", "--path=X;"),
    ],
)
def test_literal_paths_are_replaced_only_whole(text: str, expected: str) -> None:
    assert replace_path(text, "/tmp/out", "X") == expected


# --- hostile documents: a problem naming its path, never a traceback ---------------------------------


def group(name: str, *tasks: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "inputs": {"parameters": [{"name": "n"}]}, "dag": {"tasks": list(tasks)}}


@pytest.mark.parametrize(
    "templates, circle",
    [
        ([dag(call("again", "main"))], "main -> main"),
        (
            [dag(call("a", "outer")), group("outer", call("b", "inner")), group("inner", call("c", "outer"))],
            "outer -> inner -> outer",
        ),
    ],
)
def test_recursive_dag_templates_are_an_error_naming_them(templates: list[dict[str, Any]], circle: str) -> None:
    with pytest.raises(PipelineInvalid) as error:
        import_workflow(workflow(*templates, echo()))
    assert any(f"recursive DAG templates ({circle})" in m for m in messages(error)), messages(error)


def test_templates_nested_deeper_than_the_limit_are_an_error() -> None:
    from kubeline.api.limits import MAX_GROUP_DEPTH as MAX_NESTING

    levels = [group(f"level-{i}", call(f"t{i}", f"level-{i + 1}")) for i in range(MAX_NESTING + 5)]
    levels.append(group(f"level-{MAX_NESTING + 5}", call()))
    with pytest.raises(PipelineInvalid, match=f"DAG templates nested more than {MAX_NESTING} deep"):
        import_workflow(workflow(dag(call("top", "level-0")), *levels, echo()))


@pytest.mark.parametrize(
    "change, path, message",
    [
        (lambda w: w.update(spec=None), "spec", "required field is missing"),
        (lambda w: w["spec"].update(templates={"main": {}}), "spec.templates", "must be a list, not a mapping"),
        (
            lambda w: w["spec"]["templates"][0].update(name=["main"]),
            "spec.templates[0].name",
            "must be text, not a list",
        ),
        (
            lambda w: w["spec"]["templates"][1]["container"].update(command="echo"),
            "spec.templates[echo].container.command",
            "must be a list, not text",
        ),
        (
            lambda w: w["spec"]["templates"][0]["dag"]["tasks"][0].update(template=3),
            "spec.templates[main].dag.tasks[echo].template",
            "must be text, not a number",
        ),
        (
            lambda w: w["spec"]["templates"][1].update(inputs=[]),
            "spec.templates[echo].inputs",
            "must be a mapping (key: value), not a list",
        ),
        (
            lambda w: w["spec"]["templates"][1]["inputs"]["parameters"][0].pop("name"),
            "spec.templates[echo].inputs.parameters[0].name",
            "required field is missing",
        ),
        (lambda w: w["metadata"].update(name={"a": 1}), "metadata.name", "must be text, not a mapping"),
        (
            lambda w: w["spec"]["templates"][1].update({1: "x"}),
            "spec.templates[echo].1",
            "a key must be text, not a number",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_an_error_naming_its_path(change: Any, path: str, message: str) -> None:
    document = workflow(dag(call()), echo())
    change(document)
    with pytest.raises(PipelineInvalid) as error:
        import_workflow(document)
    assert f"{path}: {message}" in messages(error), messages(error)


@pytest.mark.parametrize("document", [None, [], "Workflow", 3, {"kind": ["Workflow"]}, {}])
def test_what_is_not_a_workflow_is_said_so(document: Any) -> None:
    with pytest.raises(PipelineInvalid, match="expected an Argo Workflow compiled by the KFP v1 SDK"):
        import_workflow(document)


def test_a_malformed_kfp_spec_annotation_is_ignored_with_a_warning() -> None:
    document = workflow(dag(call()), echo())
    document["metadata"]["annotations"] = {
        "pipelines.kubeflow.org/pipeline_spec": json.dumps({"inputs": [{"name": ["n"]}]})
    }
    result = import_workflow(document)
    assert any(
        "pipeline_spec.inputs[0].name: must be text, not a list: the annotation is ignored" in w
        for w in result.warnings
    ), result.warnings


# Values of every type, put where the fixtures hold something else.
_REPLACEMENTS = [
    None,
    0,
    -1,
    2.5,
    True,
    "",
    "x",
    "{{",
    "{{tasks.x.outputs.parameters.y}}",
    [],
    ["x"],
    [{}],
    [[1]],
    {},
    {"name": "x"},
    {"name": ["x"]},
    {"tasks": "x"},
    {1: 2},
    [None],
    "/tmp/outputs/Output/data",
]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every node of a document (mappings by key, lists by index)."""
    found = [path]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in children:
        found += _nodes(child, (*path, key))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return document


@functools.lru_cache(maxsize=1)
def _fixtures(paths: tuple[Path, ...]) -> dict[str, Any]:
    """The workflows the importer's tests use, by name: those kfp compiled and a hand-written one."""
    hand_written = workflow(
        dag(call(), call("twice", when="{{tasks.echo.outputs.parameters.echo-out}} == 2")), echo(), onExit="echo"
    )
    return {**{path.stem: yaml.safe_load(path.read_text()) for path in paths}, "snippet": hand_written}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)  # the draws are printed; shrinking takes minutes
@given(data=st.data())
def test_a_mutated_workflow_imports_or_is_invalid(kfp_workflows: Workflows, data: st.DataObject) -> None:
    """Any node of a compiled workflow replaced by a value of another type: a Pipeline or PipelineInvalid,
    nothing else (no TypeError, KeyError, RecursionError…), and the Pipeline can be written."""
    sources = _fixtures(tuple(path for path, _ in kfp_workflows.values()))
    name = data.draw(st.sampled_from(sorted(sources)), label="workflow")
    document = copy.deepcopy(sources[name])
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(_nodes(document)), label="path")
        document = _replaced(document, path, copy.deepcopy(data.draw(st.sampled_from(_REPLACEMENTS), label="value")))
    try:
        result = import_workflow(document)
    except PipelineInvalid as invalid:
        assert invalid.issues and all(str(issue) for issue in invalid.issues)
        return
    dump(result.pipeline)
