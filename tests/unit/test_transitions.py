"""A Run's step changes between two statuses, and the batched Events they read as."""

from __future__ import annotations

from typing import Any

import pytest

from kubeline.api.models import TaskStatus
from kubeline.controller.transitions import EventBatch, StepChange, listing, step_changes, summaries

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"


def task(phase: str, attempts: int | None = 1, **fields: Any) -> TaskStatus:
    return TaskStatus.model_validate({"phase": phase, "attempts": attempts, **fields})


RUNNING = task("Running", pod="p-1", startedAt=T0)
FAILED_WAITING = task("Pending", pod="p-1", startedAt=T0, finishedAt=T1, message="exit code 1")


@pytest.mark.parametrize(
    "before, after, changes",
    [
        (None, RUNNING, [StepChange("a", "started", 1)]),
        (RUNNING, RUNNING, []),
        (RUNNING, task("Succeeded", pod="p-1", startedAt=T0, finishedAt=T1), [StepChange("a", "succeeded", 1, 30.0)]),
        (None, task("Succeeded", pod="p-1", startedAt=T0, finishedAt=T2), [
            StepChange("a", "started", 1), StepChange("a", "succeeded", 1, 60.0)
        ]),
        (RUNNING, task("Failed", pod="p-1", startedAt=T0, finishedAt=T1, message="exit code 2"), [
            StepChange("a", "failed", 1, 30.0, "exit code 2")
        ]),
        (RUNNING, FAILED_WAITING, []),  # reported when the retry starts, once
        (FAILED_WAITING, task("Running", 2, pod="p-2", startedAt=T2), [
            StepChange("a", "retried", 2, 30.0, "exit code 1")
        ]),
        (RUNNING, task("Running", 2, pod="p-2", startedAt=T2), [StepChange("a", "retried", 2, 60.0)]),
        (None, task("Succeeded", cached=True, finishedAt=T0), [StepChange("a", "cached", 1)]),
        (task("Succeeded", cached=True), task("Succeeded", cached=True), []),
        (None, task("Skipped", None), [StepChange("a", "skipped")]),
        (None, task("Failed", finishedAt=T0, message="refused"), [StepChange("a", "failed", 1, None, "refused")]),
        (task("Failed", pod="p-1"), task("Failed", pod="p-1"), []),
    ],
    ids=[
        "started", "still running", "succeeded", "started and ended between passes", "failed", "waits for a retry",
        "retried after a backoff", "retried at once", "cached", "cached already", "skipped", "pod refused",
        "failed already",
    ],
)  # fmt: skip
def test_each_change_is_reported_once(before: TaskStatus | None, after: TaskStatus, changes: list) -> None:
    assert step_changes({"a": before} if before else {}, {"a": after}, {"a"}) == changes


def test_groups_are_not_steps() -> None:
    assert step_changes({}, {"group": task("Skipped", None)}, set()) == []


def test_a_fan_out_of_200_starting_is_one_event_naming_three() -> None:
    started = [StepChange(f"train[{i}]", "started", 1) for i in range(200)]
    [summary] = summaries(started)
    assert (summary.type, summary.reason) == ("Normal", "StepsStarted")
    assert summary.message == "started 200 steps: train[0], train[1], train[2] and 197 more"


def test_one_event_per_kind_in_a_pass_and_none_for_successes() -> None:
    changes = [
        StepChange("a", "succeeded", 1, 3.0),
        StepChange("b", "failed", 2, 3.0, "exit code 1"),
        StepChange("c", "retried", 2, 3.0, "exit code 1"),
        StepChange("d", "cached", 1),
        StepChange("e", "skipped"),
        StepChange("f", "started", 1),
    ]
    assert [(s.type, s.reason, s.message) for s in summaries(changes)] == [
        ("Normal", "StepsStarted", "started 1 step: f"),
        ("Normal", "StepsCached", "served 1 step from the cache: d"),
        ("Warning", "StepsRetried", "retrying 1 step: c (attempt 2; exit code 1)"),
        ("Warning", "StepsFailed", "1 step failed: b (exit code 1)"),
    ]


@pytest.mark.parametrize(
    "names, text", [([], ""), (["a"], "a"), (["a", "b", "c"], "a, b, c"), (["a", "b", "c", "d"], "a, b, c and 1 more")]
)
def test_listing(names: list[str], text: str) -> None:
    assert listing(names) == text


def test_a_storm_of_passes_posts_each_reason_at_most_once_per_interval_with_counts_summed() -> None:
    """1,000 steps starting over 250 passes in 25 s (a pass a pod event), a retry in most passes: a handful."""
    batch = EventBatch(seconds=10.0)
    posted = []
    for second in range(250):
        now = second / 10
        changes = [StepChange(f"shard[{second * 4 + i}]", "started", 1) for i in range(4)]
        changes.append(StepChange(f"flaky[{second}]", "retried", 2, 1.0, "exit code 1"))
        posted += [(now, summary) for summary in batch.add(changes, now)]
    posted += [(25.0, summary) for summary in batch.flush()]
    started = [(now, s.message) for now, s in posted if s.reason == "StepsStarted"]
    assert [now for now, _ in started] == [0.0, 10.0, 20.0, 25.0]
    assert started[0][1] == "started 4 steps: shard[0], shard[1], shard[2] and 1 more"
    assert sum(int(message.split()[1]) for _, message in started) == 1000
    assert len([s for _, s in posted if s.reason == "StepsRetried"]) == 4
    assert batch.flush() == [] and batch.next_due() is None


def test_a_pending_event_is_due_one_interval_after_the_last_of_its_reason() -> None:
    batch = EventBatch(seconds=10.0)
    assert [s.reason for s in batch.add([StepChange("a", "failed", 1, 1.0, "exit 1")], 100.0)] == ["StepsFailed"]
    assert batch.add([StepChange("b", "failed", 1, 1.0, "exit 1")], 103.0) == []
    assert batch.next_due() == 110.0
    assert batch.due(109.9) == []
    assert [s.message for s in batch.due(110.0)] == ["1 step failed: b (exit 1)"]
    assert batch.add([StepChange("c", "succeeded", 1, 1.0)], 111.0) == []  # successes are no Event
    assert batch.next_due() is None
