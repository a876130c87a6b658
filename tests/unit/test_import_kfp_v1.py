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
from kubeline.importers.kfp_v1.workflow import translate
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


def test_an_output_artifact_folder_stays_an_artifact(kfp_workflows: Workflows, tmp_path: Path) -> None:
    pipeline = imported(kfp_workflows, "output_artifact_folder")
    (component,) = pipeline["spec"]["components"]
    assert {o["name"]: o.get("type") for o in component["outputs"]} == {"folder": "artifact", "msg": None}
    result = run(pipeline, tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "write-files")["msg"] == "hello"
    assert outputs(result, "write-files")["folder"].endswith("/")  # stored as a folder


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


def translated(workflows: Workflows, program: str) -> dict[str, Any]:
    """The program's pipeline, imported strictly (no warning) and checked by the engine."""
    result = import_workflow(yaml.safe_load(workflows[program][0].read_text()), strict=True)
    return result.pipeline


def test_pod_settings_land_on_the_step_component(kfp_workflows: Workflows) -> None:
    spec = translated(kfp_workflows, "pod_settings")["spec"]
    assert spec["params"] == [{"name": "output_dir", "default": "gs://bucket/{{run.uid}}"}]  # RUN_ID_PLACEHOLDER
    (train,) = spec["components"]
    container = train["container"]
    assert container["args"] == [
        "echo {{pod.name}} {{inputs.workflow-uid}} {{inputs.output_dir}} > {{outputs.out.path}}"
    ]
    assert container["env"] == [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "KFP_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "KFP_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    assert container["envFrom"] == [{"prefix": "CFG_", "configMapRef": {"name": "settings"}}]
    assert container["volumeMounts"] == [
        {"name": "creds", "mountPath": "/secrets", "readOnly": True},
        {"name": "scratch", "mountPath": "/scratch"},
    ]
    assert (container["imagePullPolicy"], container["securityContext"]) == (
        "Always",
        {"runAsUser": 1000, "allowPrivilegeEscalation": False},
    )
    assert train["volumes"] == [
        {"name": "creds", "secret": {"secretName": "creds"}},
        {"name": "scratch", "emptyDir": {"medium": "Memory"}},
    ]
    assert train["sidecars"] == [{"name": "proxy", "image": "envoyproxy/envoy:v1.28", "args": ["--log-level", "warn"]}]
    assert train["initContainers"] == [
        {
            "name": "fetch",
            "image": "alpine",
            "command": ["sh", "-c", "echo init"],
            "volumeMounts": container["volumeMounts"],  # mirror_volume_mounts=True
        }
    ]
    # KFP's own pipelines.kubeflow.org/ labels (caching, SDK version) are its bookkeeping, not the pods'
    assert train["podMetadata"] == {"labels": {"team": "ml"}, "annotations": {"example.com/owner": "alice"}}
    assert spec["tasks"][0]["arguments"] == {"output_dir": "{{params.output_dir}}", "workflow-uid": "{{run.uid}}"}


def test_volume_ops_become_pipeline_volumes(kfp_workflows: Workflows) -> None:
    path = kfp_workflows["pipeline_volumes"][0]
    pipeline, context = translate(yaml.safe_load(path.read_text()), None)
    assert [str(w) for w in context.warnings] == []
    spec = pipeline["spec"]
    assert spec["volumes"] == [
        {"name": "cache", "size": "5Gi", "accessModes": ["ReadWriteMany"], "claimName": "shared-cache"},
        {
            "name": "create-volume",
            "size": "{{params.size}}",  # a run's argument sizes the claim, as in KFP
            "storageClassName": "standard",
            "accessModes": ["ReadWriteMany"],
            "annotations": {"example.com/purpose": "scratch"},
        },
    ]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert sorted(tasks) == ["read", "use-cache", "write"]  # the VolumeOps are no tasks
    assert tasks["read"]["arguments"] == {
        "create-volume-name": "{{volumes.create-volume.name}}",
        "create-volume-size": "{{volumes.create-volume.size}}",
    }
    assert tasks["read"]["after"] == ["write"]  # KFP orders a pvolume's readers after its writer
    assert "after" not in tasks["write"]  # the volume exists before any step
    read = next(c for c in spec["components"] if c["name"] == "read")
    assert read["volumes"] == [
        {"name": "create-volume", "persistentVolumeClaim": {"claimName": "{{inputs.create-volume-name}}"}}
    ]
    assert read["container"]["volumeMounts"] == [{"name": "create-volume", "mountPath": "/data"}]


def test_exported_metrics_and_visualizations_are_typed(kfp_workflows: Workflows) -> None:
    components = {c["name"]: c for c in imported(kfp_workflows, "exported_metrics")["spec"]["components"]}
    assert components["evaluate"]["outputs"] == [
        {"name": "mlpipeline-metrics", "type": "metrics"},
        {"name": "mlpipeline-ui-metadata", "type": "ui-metadata"},
    ]
    assert components["raw"]["outputs"] == [{"name": "mlpipeline-metrics", "type": "metrics"}]
    assert "{{outputs.mlpipeline-metrics.path}}" in components["raw"]["container"]["command"][2]


def test_a_nested_parallel_for_reads_the_outer_item_by_name(kfp_workflows: Workflows) -> None:
    (outer,) = translated(kfp_workflows, "loops_in_loops")["spec"]["tasks"]
    assert (outer["forEach"], outer["itemName"]) == ([1, 2], "for-loop-2")
    (inner,) = outer["dag"]["tasks"]
    assert inner["forEach"] == [3, 4]
    assert inner["dag"]["tasks"][0]["arguments"] == {
        "loop-item-param-1": "{{items.for-loop-2}}",
        "loop-item-param-3": "{{item}}",
    }


def test_op_transformers_of_gcp_aws_and_onprem(kfp_workflows: Workflows) -> None:
    (step,) = imported(kfp_workflows, "op_transformers")["spec"]["components"]
    env = {e["name"]: e for e in step["container"]["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/secret/gcp-credentials/user-gcp-sa.json"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"] == {"secretKeyRef": {"name": "aws-secret", "key": "AWS_ACCESS_KEY_ID"}}
    assert env["PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "password"}}
    assert step["volumes"] == [
        {"name": "gcp-credentials-user-gcp-sa", "secret": {"secretName": "user-gcp-sa"}},
        {"name": "local-storage", "persistentVolumeClaim": {"claimName": "my-claim"}},
    ]


def test_list_and_dict_inputs_defaulting_to_empty_text(kfp_workflows: Workflows, tmp_path: Path) -> None:
    result = run(imported(kfp_workflows, "list_dict_defaults"), tmp_path)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "submit-job") == {"job_id": "[][] us"}


def test_graph_component_recursion_is_refused_naming_the_cycle(kfp_workflows: Workflows) -> None:
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(yaml.safe_load(kfp_workflows["graph_component_recursion"][0].read_text()))
    assert messages(caught) == [
        "templates[condition-2].dag.tasks[graph-flip-until-tails-1].template: recursive DAG templates "
        "(graph-flip-until-tails-1 -> condition-2 -> graph-flip-until-tails-1): a template calls itself, which a "
        "kubeline pipeline cannot express; unroll the recursion into a fixed number of steps or loops"
    ]


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
    template = echo(podSpecPatch="{}")
    template["container"]["ports"] = [{"containerPort": 80}]
    template["container"]["volumeMounts"] = [{"name": "data", "mountPath": "/data", "mountPropagation": "None"}]
    template["container"]["env"] = [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]
    result = import_workflow(
        workflow(dag(call()), template, hostNetwork=True, volumes=[{"name": "data", "emptyDir": {}}])
    )
    assert result.warnings == [
        "spec.hostNetwork: not supported, dropped",
        "templates[echo].podSpecPatch: not supported, dropped",
        "templates[echo].container.ports: not supported, dropped",
        "templates[echo].container.env[CPU].valueFrom.resourceFieldRef: only secretKeyRef, configMapKeyRef and "
        "fieldRef are supported: dropped",
        "templates[echo].container.volumeMounts[data].mountPropagation: not supported, dropped",
    ]
    component = result.pipeline["spec"]["components"][0]
    assert "env" not in component["container"]
    assert component["volumes"] == [{"name": "data", "emptyDir": {}}]  # the workflow's volume the step mounts


def test_strict_mode_makes_warnings_errors() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(dag(call()), echo(podSpecPatch="{}")), strict=True)
    assert messages(caught) == ["templates[echo].podSpecPatch: not supported, dropped"]


def test_what_cannot_be_translated_is_an_error_even_without_strict() -> None:
    job = {"name": "make-job", "resource": {"action": "create", "manifest": "kind: Job"}}
    bad = echo()
    bad["container"]["args"] = ["{{workflow.creationTimestamp}}"]
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(dag(call(), call("job", "make-job")), bad, job))
    assert sorted(messages(caught)) == [
        "templates[echo].container.args[0]: {{workflow.creationTimestamp}} cannot be translated",
        "templates[make-job].resource: only KFP's VolumeOp (action: create of a PersistentVolumeClaim) is supported "
        "among resource templates: create other objects before the run, or in a step",
    ]


def test_a_loop_inside_a_loop_reads_the_outer_item_by_its_name() -> None:
    inner = {"name": "inner", "inputs": {"parameters": [{"name": "n"}]}, "dag": {"tasks": [call(withItems=[1, 2])]}}
    pipeline, context = translate(
        workflow(dag(call("outer", "inner", "{{item.x}}", withItems=[{"x": "a"}])), inner, echo()), None
    )
    assert context.errors == []
    outer = pipeline["spec"]["tasks"][0]
    assert (outer["forEach"], outer["itemName"]) == ([{"x": "a"}], "outer")
    assert outer["dag"]["tasks"][0]["forEach"] == [1, 2]
    assert "itemName" not in outer["dag"]["tasks"][0]  # nothing inside it loops: {{item}} is enough
    assert outer["dag"]["tasks"][0]["arguments"] == {"n": "{{items.outer.x}}"}


def test_loop_items_that_are_not_a_list_are_an_error() -> None:
    document = workflow(
        dag(call(withItems="notalist"), call("twice", withParam='{"a": 1}'), call("thrice", withParam="a,b")), echo()
    )
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(document)
    assert messages(caught) == [
        'templates[main].dag.tasks[echo].withItems: must be a list of items, not "notalist"',
        "templates[main].dag.tasks[twice].withParam: must be one reference to a list, found '{\"a\": 1}'",
        "templates[main].dag.tasks[thrice].withParam: must be one reference to a list, found 'a,b'",
    ]


def test_an_argument_without_a_value_is_not_passed() -> None:
    template = echo()
    template["inputs"]["parameters"][0]["value"] = "5"
    task = {"name": "echo", "template": "echo", "arguments": {"parameters": [{"name": "n"}]}}
    result = import_workflow(workflow(dag(task), template))
    assert result.warnings == [
        "templates[main].dag.tasks[echo].arguments.parameters[n]: has no value: not passed "
        "(the input's default applies, if it has one)"
    ]
    assert "arguments" not in result.pipeline["spec"]["tasks"][0]
    assert result.pipeline["spec"]["components"][0]["inputs"] == [{"name": "n", "default": "5"}]
    with pytest.raises(PipelineInvalid, match="has no value"):
        import_workflow(workflow(dag(task), template), strict=True)


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
    path.write_text(dump(workflow(dag(call()), echo(podSpecPatch="{}"))))
    lenient = subprocess.run([sys.executable, "-m", "kubeline", "import", str(path)], capture_output=True, text=True)
    assert lenient.returncode == 0
    assert "warning: templates[echo].podSpecPatch: not supported, dropped" in lenient.stderr
    assert yaml.safe_load(lenient.stdout)["kind"] == "Pipeline"
    strict = subprocess.run(
        [sys.executable, "-m", "kubeline", "import", str(path), "--strict"], capture_output=True, text=True
    )
    assert strict.returncode == 2
    assert "templates[echo].podSpecPatch: not supported, dropped" in strict.stderr


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


#: A value of each kind, put in place of every node of the programs using the most fields.
_WRONG_TYPES = [None, 0, True, "x", [], ["x"], {}, {"name": ["x"]}]


@pytest.mark.parametrize("program", ["pod_settings", "pipeline_volumes", "loops_in_loops", "op_transformers"])
def test_every_field_of_a_wrong_type_is_an_import_problem(kfp_workflows: Workflows, program: str) -> None:
    """Each node of a compiled workflow replaced in turn by a value of each kind: a Pipeline or PipelineInvalid
    naming a path, never another exception (TypeError, AttributeError, KeyError…)."""
    source = yaml.safe_load(kfp_workflows[program][0].read_text())
    crashes = []
    for path in _nodes(source):
        for value in _WRONG_TYPES:
            document = _replaced(copy.deepcopy(source), path, copy.deepcopy(value))
            try:
                dump(import_workflow(document).pipeline)
            except PipelineInvalid as invalid:
                assert invalid.issues and all(str(issue) for issue in invalid.issues)
            except Exception as error:  # noqa: BLE001 - every other exception is the failure this test reports
                crashes.append(f"{'.'.join(map(str, path))} = {value!r}: {type(error).__name__}: {error}")
    assert crashes == []


def volume_op(manifest: str) -> dict[str, Any]:
    """A resource template as KFP compiles a VolumeOp named vop."""
    outputs = [
        {"name": "vop-name", "valueFrom": {"jsonPath": "{.metadata.name}"}},
        {"name": "vop-manifest", "valueFrom": {"jsonPath": "{}"}},
    ]
    return {"name": "vop", "resource": {"action": "create", "manifest": manifest}, "outputs": {"parameters": outputs}}


@pytest.mark.parametrize(
    ("manifest", "reads", "problem"),
    [
        (
            "kind: PersistentVolumeClaim\nspec: {resources: [1Gi]}",
            "vop-name",
            "templates[vop].resource.manifest.spec.resources: must be a mapping (key: value), not a list",
        ),
        (
            "kind: PersistentVolumeClaim\nspec: {resources: {requests: {storage: '{{inputs.parameters.n}}'}}}",
            "vop-name",
            "templates[vop].resource.manifest.spec.size: {{inputs.parameters.n}} cannot be translated",
        ),
        (
            "kind: PersistentVolumeClaim\nspec: {resources: {requests: {storage: 1Gi}}}",
            "vop-manifest",
            "templates[main].dag.tasks[echo].arguments.parameters[n]: the VolumeOp's output 'vop-manifest' "
            "cannot be read: use its name or size",
        ),
    ],
)
def test_a_volume_op_kubeline_cannot_make_is_an_error(manifest: str, reads: str, problem: str) -> None:
    main = dag({"name": "vop", "template": "vop"}, call(value=f"{{{{tasks.vop.outputs.parameters.{reads}}}}}"))
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(main, echo(), volume_op(manifest)))
    assert problem in messages(caught), messages(caught)


def test_a_volume_op_named_after_the_workflow_gets_a_claim_per_run() -> None:
    manifest = "kind: PersistentVolumeClaim\nmetadata: {name: '{{workflow.name}}-data'}\nspec: {resources: {requests: {storage: 2Gi}}}"
    main = dag({"name": "vop", "template": "vop"}, call(value="{{tasks.vop.outputs.parameters.vop-name}}"))
    pipeline, context = translate(workflow(main, echo(), volume_op(manifest)), None)
    assert context.errors == []
    assert pipeline["spec"]["volumes"] == [{"name": "vop", "size": "2Gi"}]  # no claimName: the run names it
    assert pipeline["spec"]["tasks"] == [
        {"name": "echo", "component": "echo", "arguments": {"n": "{{volumes.vop.name}}"}}
    ]


def test_pod_settings_the_restricted_profile_refuses_are_errors_naming_the_field() -> None:
    template = echo(
        volumes=[{"name": "host", "hostPath": {"path": "/var/run"}}],
        sidecars=[{"name": "root", "image": "alpine", "securityContext": {"runAsUser": 0}}],
    )
    template["container"]["securityContext"] = {"privileged": True, "runAsNonRoot": True}
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(workflow(dag(call()), template))
    found = sorted(messages(caught))
    assert found[0] == (
        "templates[echo].container.securityContext.privileged: must be False (kubeline runs steps in Kubernetes' "
        "restricted profile: no root user, privileges or privilege escalation; remove the setting or run the "
        "step's image as another user)"
    )
    assert found[1].startswith("templates[echo].sidecars[root].securityContext.runAsUser: ")
    assert found[2] == (
        "templates[echo].volumes[host]: hostPath cannot be mounted: kubeline steps mount persistentVolumeClaim, "
        "secret, configMap and emptyDir volumes (the restricted profile)"
    )
    assert all("restricted profile" in message for message in found)


def test_kubeline_labels_on_a_template_are_dropped_with_a_warning() -> None:
    labels = {"kubeline.dev/run": "mine", "team": "ml", "pipelines.kubeflow.org/enable_caching": "true"}
    result = import_workflow(workflow(dag(call()), echo(metadata={"labels": labels})))
    assert result.warnings == [
        "templates[echo].metadata.labels.kubeline.dev/run: kubeline.dev/ keys are kubeline's own: dropped"
    ]
    assert result.pipeline["spec"]["components"][0]["podMetadata"] == {"labels": {"team": "ml"}}
