"""From status and pods to the engine's state and back: what lets a restarted operator carry on."""

from __future__ import annotations

import json

import pytest

from kubeline.api.models import Condition, RunStatus
from kubeline.controller.pods import encode_outputs
from kubeline.controller.status import Cacheable, ConditionValue, conditions, rebuild_state, status_document, timestamp
from kubeline.engine.run import decide
from kubeline.engine.state import RunState, StepState
from tests.helpers import pipeline, task
from tests.unit.simulate import plan_of

PLAN = plan_of(pipeline([task("a"), task("b", arguments={"a": "{{tasks.a.outputs.out}}"}, retries={"limit": 2})]))


def pod(step: str, attempt: int, phase: str = "Running", message: str = "", exit_code: int | None = None) -> dict:
    state = {"running": {}} if exit_code is None else {"terminated": {"exitCode": exit_code, "message": message}}
    return {
        "metadata": {
            "name": f"r-{step}-a{attempt}",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {
                "kubeline.dev/step": step,
                "kubeline.dev/attempt": str(attempt),
                "kubeline.dev/cache-key": "k" * 64,
                "kubeline.dev/cache": "true",
            },
        },
        "spec": {"nodeName": "node-1"},
        "status": {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]},
    }


def test_a_pod_created_but_never_recorded_is_adopted() -> None:
    observed = rebuild_state(PLAN, RunStatus(started_at=timestamp(0)), [pod("a", 1)], now=10)
    step = observed.state.steps["a"]
    assert (step.phase, step.attempt, step.pod) == ("Running", 1, "r-a-a1")
    assert decide(PLAN, {}, observed.state, 10).start == []  # no second pod for it


def test_a_finished_pod_is_read_once_and_becomes_cacheable() -> None:
    status = RunStatus.model_validate(
        {"startedAt": timestamp(0), "tasks": {"a": {"phase": "Running", "attempts": 1, "pod": "r-a-a1"}}}
    )
    observed = rebuild_state(PLAN, status, [pod("a", 1, "Succeeded", encode_outputs({"out": "v"}), 0)], now=10)
    assert observed.state.steps["a"].phase == "Succeeded"
    assert observed.state.steps["a"].outputs == {"out": "v"}
    assert observed.finished == ["a"]
    assert observed.cacheable == [Cacheable("a", "op", "k" * 64, {"out": "v"})]


def test_a_vanished_pod_fails_its_step() -> None:
    status = RunStatus.model_validate(
        {"startedAt": timestamp(0), "tasks": {"a": {"phase": "Running", "attempts": 1, "pod": "r-a-a1"}}}
    )
    step = rebuild_state(PLAN, status, [], now=10).state.steps["a"]
    assert (step.phase, step.message) == ("Failed", "the step's pod was deleted")


def test_a_step_waiting_for_its_retry_survives_a_restart() -> None:
    state = RunState(
        started_at=0,
        steps={
            "a": StepState("Succeeded", outputs={"out": "v"}),
            "b": StepState("Failed", attempt=1, started_at=1, finished_at=2, message="exit code 1"),
        },
    )
    decision = decide(PLAN, {}, state, 3)
    written = status_document(PLAN, decision, state, RunStatus(started_at=timestamp(0)), 3).to_dict()
    assert written["tasks"]["b"]["phase"] == "Pending"  # waiting for the retry
    stored = RunStatus.model_validate(json.loads(json.dumps(written)))
    restored = rebuild_state(PLAN, stored, [pod("a", 1, "Succeeded", encode_outputs({"out": "v"}), 0)], 3)
    assert restored.state.steps["b"].phase == "Failed" and restored.state.steps["b"].attempt == 1
    later = decide(PLAN, {}, restored.state, 100)
    assert [(s.id, s.attempt) for s in later.start] == [("b", 2)]


def test_status_of_a_two_thousand_step_run_stays_small() -> None:
    plan = plan_of(
        pipeline([task("gen", "num"), task("each", forEach="{{tasks.gen.outputs.items}}", arguments={"a": "{{item}}"})])
    )
    state = RunState(
        started_at=0, steps={"gen": StepState("Succeeded", outputs={"n": "1", "items": json.dumps(list(range(2000)))})}
    )
    for i in range(2000):
        state.steps[f"each[{i}]"] = StepState(
            "Succeeded",
            attempt=1,
            started_at=1,
            finished_at=2,
            outputs={"out": str(i)},
            pod=f"a-fairly-long-run-name-each-{i}-a1",
            node="kwok-node-0",
        )
    decision = decide(plan, {}, state, 3)
    base = RunStatus(started_at=timestamp(0), pipeline_spec={})
    document = status_document(plan, decision, state, base, 3).to_dict()
    size = len(json.dumps(document))
    assert decision.phase == "Succeeded" and document["progressText"] == "2001/2001"
    assert size < 600_000, size  # etcd's limit is 1.5 MiB per object


@pytest.mark.parametrize(
    "before, now_value, kept",
    [
        (None, "Unknown", False),  # first write
        ("Unknown", "Unknown", True),  # still running: the transition is the old one
        ("Unknown", "True", False),  # finished: a new transition
        ("True", "True", True),
    ],
)
def test_conditions_keep_their_transition_time_while_their_status_stays(
    before: str | None, now_value: ConditionValue, kept: bool
) -> None:
    previous = (
        [Condition(type=kind, status=before, last_transition_time=timestamp(1)) for kind in ("Succeeded", "Ready")]
        if before
        else None
    )
    written = conditions(now_value, "Running", "steps are running", previous, 100)
    assert [(c.type, c.status) for c in written] == [("Succeeded", now_value), ("Ready", now_value)]
    assert {c.last_transition_time for c in written} == {timestamp(1) if kept else timestamp(100)}


METRICS = {
    "name": "scores",
    "inputs": [{"name": "a", "optional": True}],
    "outputs": [{"name": "mlpipeline-metrics", "type": "metrics"}],
    "container": {"image": "x", "command": ["score", "{{outputs.mlpipeline-metrics.path}}"]},
}


def metrics_status(outputs_by_step: dict[str, str], loop: int = 0) -> dict:
    """The status of a finished run whose steps reported these metrics outputs (a loop of ``loop`` more)."""
    tasks = [task(name, "scores") for name in outputs_by_step]
    if loop:
        tasks.append(task("each", "scores", forEach=list(range(loop)), arguments={"a": "{{item}}"}))
    plan = plan_of({"spec": {"components": [METRICS], "tasks": tasks}})
    state = RunState(started_at=0)
    for name, text in outputs_by_step.items():
        state.steps[name] = StepState("Succeeded", outputs={"mlpipeline-metrics": text})
    for i in range(loop):
        metrics = {"metrics": [{"name": "accuracy", "numberValue": i / 1000, "format": "RAW"}]}
        state.steps[f"each[{i}]"] = StepState("Succeeded", outputs={"mlpipeline-metrics": json.dumps(metrics)})
    decision = decide(plan, {}, state, 3)
    return status_document(plan, decision, state, RunStatus(started_at=timestamp(0)), 3).to_dict()


def test_metrics_are_lifted_into_the_status_and_bad_ones_are_ignored_with_a_message() -> None:
    good = {
        "metrics": [
            {"name": "accuracy-score", "numberValue": 0.9, "format": "PERCENTAGE"},
            {"name": "loss", "numberValue": 2},
        ]
    }
    mixed = {
        "metrics": [
            {"name": "Bad Name", "numberValue": 1},
            {"name": "f1", "numberValue": "high"},
            {"name": "auc", "numberValue": 0.7},
        ]
    }
    huge = '{"metrics": [{"name": "big", "numberValue": 1' + "0" * 400 + '}, {"name": "nan", "numberValue": NaN}]}'
    document = metrics_status(
        {"good": json.dumps(good), "mixed": json.dumps(mixed), "broken": "{not json", "huge": huge}
    )
    assert document["phase"] == "Succeeded"  # as KFP does, bad metrics never fail their step
    assert document["metrics"] == {"good": {"accuracy-score": 0.9, "loss": 2.0}, "mixed": {"auc": 0.7}}
    assert "message" not in document["tasks"]["good"]
    assert document["tasks"]["mixed"]["message"] == (
        "metrics ignored, as KFP ignores them: output 'mlpipeline-metrics', metrics[0]: name 'Bad Name' is not a "
        "metric name (lowercase letters, digits and '-', starting with a letter); output 'mlpipeline-metrics', "
        "metrics[1]: f1: numberValue 'high' is not a finite number"
    )
    assert document["tasks"]["huge"]["message"] == (  # a number too large for a float: the run goes on
        "metrics ignored, as KFP ignores them: output 'mlpipeline-metrics', metrics[0]: big: numberValue an integer "
        "of 401 digits is not a finite number; output 'mlpipeline-metrics', metrics[1]: nan: numberValue nan is not "
        "a finite number"
    )
    assert document["tasks"]["broken"]["message"].startswith(
        "metrics ignored, as KFP ignores them: output 'mlpipeline-metrics' is not JSON"
    )


def test_the_metrics_of_a_large_loop_are_capped_and_the_run_says_so() -> None:
    document = metrics_status({}, loop=2000)
    assert len(document["metrics"]) == 100
    assert document["metrics"]["each[99]"] == {"accuracy": 0.099}
    assert document["message"] == (
        "all steps finished; the metrics of 1900 more steps are left out (a run shows its first 100 steps' "
        "metrics): read them from those steps' outputs"
    )
