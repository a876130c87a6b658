"""Pipelines compiled by the real KFP v1 SDK, imported and run on the local runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeline.backends.local import LocalRunner, RunResult
from kubeline.engine.errors import PipelineInvalid
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import bind_arguments
from kubeline.importers.kfp_v1 import import_workflow
from tests.importers.kfp_sdk import PROGRAMS, compile_with_kfp
from tests.kfp_expectations import assert_container_op_scheduling


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("kfp")
    return {p.stem: compile_with_kfp(p, directory / f"{p.stem}.yaml") for p in sorted(PROGRAMS.glob("*.py"))}


def imported(compiled: dict[str, Path], name: str) -> dict:
    result = import_workflow(yaml.safe_load(compiled[name].read_text()), strict=True)
    return result.pipeline


def run(pipeline: dict, tmp_path: Path, **arguments: object) -> RunResult:
    plan = build(load_spec(pipeline["spec"]))
    return LocalRunner(plan, bind_arguments(plan, arguments), "imported", run_dir=tmp_path, cache=None).run()


def test_add_subtract_multiply(compiled: dict[str, Path], tmp_path: Path) -> None:
    result = run(imported(compiled, "add_subtract_multiply"), tmp_path, value_1="7", value_2="3")
    assert result.decision.phase == "Succeeded"
    assert float(result.state.steps["multiply"].outputs["multiply-Output"]) == 40.0


def test_file_passing(compiled: dict[str, Path], tmp_path: Path) -> None:
    pipeline = imported(compiled, "file_passing")
    result = run(pipeline, tmp_path, rows="4")
    assert result.decision.phase == "Succeeded"
    assert result.state.steps["total-score"].outputs["total-score-Output"] == "60"
    producer = next(c for c in pipeline["spec"]["components"] if c["name"] == "make-report")
    assert producer["outputs"] == [{"name": "make-report-report", "type": "artifact"}]
    assert "/tmp/outputs/report/data" not in json.dumps(pipeline)  # literal paths became placeholders
    assert "/tmp/inputs/report/data" not in json.dumps(pipeline)


def test_conditions(compiled: dict[str, Path], tmp_path: Path) -> None:
    result = run(imported(compiled, "random_condition"), tmp_path)
    assert result.decision.phase == "Succeeded"
    number = int(result.state.steps["random-number"].outputs["random-number-Output"])
    ran, skipped = ("condition-1", "condition-2") if number > 5 else ("condition-2", "condition-1")
    assert result.decision.views[ran].phase == "Succeeded"
    assert result.decision.views[skipped].phase == "Skipped"


def test_parallel_for_over_a_produced_list(compiled: dict[str, Path], tmp_path: Path) -> None:
    result = run(imported(compiled, "parallel_for"), tmp_path, count="3")
    assert result.decision.phase == "Succeeded"
    assert [result.state.steps[f"for-loop-1[{i}].show"].outputs["show-Output"] for i in range(3)] == [
        "1 squared is 1", "2 squared is 4", "3 squared is 9"]


def test_exit_handler_after_a_failure(compiled: dict[str, Path], tmp_path: Path) -> None:
    pipeline = imported(compiled, "coin_flip_exit_handler")
    result = run(pipeline, tmp_path, force="tails")
    assert result.decision.phase == "Failed"
    assert result.decision.views["exit-handler-1.condition-5.fail"].phase == "Failed"
    assert result.state.steps["exit-notice"].outputs["exit-notice-Output"] == "Failed"
    assert pipeline["spec"]["onExit"]["arguments"] == {"workflow_status": "{{run.status}}"}


def test_scheduling_and_pipeline_conf_land_where_kubeline_expects_them(compiled: dict[str, Path], tmp_path: Path) -> None:
    pipeline = imported(compiled, "container_op_scheduling")
    assert_container_op_scheduling(pipeline["spec"])
    result = run(pipeline, tmp_path)
    assert result.decision.phase == "Succeeded"
    assert result.state.steps["first"].outputs == {"first-said": "hello"}


WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "snippet-"},
    "spec": {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "n", "value": "2"}]},
        "templates": [
            {"name": "main", "inputs": {"parameters": [{"name": "n"}]}, "dag": {"tasks": [
                {"name": "echo", "template": "echo", "arguments": {"parameters": [{"name": "n", "value": "{{inputs.parameters.n}}"}]}},
            ]}},
            {"name": "echo", "inputs": {"parameters": [{"name": "n"}]}, "sidecars": [{"name": "proxy"}],
             "retryStrategy": {"limit": "2", "backoff": {"duration": "5", "factor": 2}},
             "metadata": {"annotations": {"pipelines.kubeflow.org/max_cache_staleness": "P0D"}},
             "container": {"image": "alpine", "command": ["sh", "-c", "echo {{inputs.parameters.n}} > /tmp/out"],
                           "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
             "outputs": {"parameters": [{"name": "echo-out", "valueFrom": {"path": "/tmp/out"}}]}},
        ],
    },
}


def test_unsupported_fields_are_named_in_warnings() -> None:
    result = import_workflow(WORKFLOW)
    assert "template echo: field sidecars is not supported, ignored" in result.warnings
    assert "template echo: container field volumeMounts is not supported, ignored" in result.warnings
    task = result.pipeline["spec"]["tasks"][0]
    assert task["arguments"] == {"n": "{{params.n}}"}
    assert task["retries"] == {"limit": 2, "backoff": {"duration": "5s", "factor": 2.0}}
    assert task["caching"] == {"maxStaleness": "P0D"}
    component = result.pipeline["spec"]["components"][0]
    assert component["container"]["command"] == ["sh", "-c", "echo {{inputs.n}} > {{outputs.echo-out.path}}"]


def test_strict_mode_makes_them_errors() -> None:
    with pytest.raises(PipelineInvalid) as caught:
        import_workflow(WORKFLOW, strict=True)
    assert any("template echo: field sidecars is not supported" in str(i) for i in caught.value.issues)


def test_not_a_workflow() -> None:
    with pytest.raises(PipelineInvalid, match="expected an Argo Workflow compiled by the KFP v1 SDK, found 'Pipeline'"):
        import_workflow({"kind": "Pipeline"})


def test_import_command_writes_a_valid_pipeline(compiled: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "imported.yaml"
    result = subprocess.run([sys.executable, "-m", "kubeline.cli", "import", str(compiled["add_subtract_multiply"]), "-o", str(out)],
                            capture_output=True, text=True, env={**os.environ, "KUBELINE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    ran = subprocess.run([sys.executable, "-m", "kubeline.cli", "run", str(out), "--json"], capture_output=True, text=True,
                         env={**os.environ, "KUBELINE_HOME": str(tmp_path)})
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["tasks"]["multiply"]["outputs"] == {"multiply-Output": "40.0"}
