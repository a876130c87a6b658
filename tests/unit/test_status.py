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
