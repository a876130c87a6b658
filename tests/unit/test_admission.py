"""The admission coordinator and the reconciler's gate, against an in-memory API server: no two Runs take the last
slot, counts come back after a restart, waiting Runs say where they are, step pods stay within the limit."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeline.controller import reconciler as reconciler_module
from kubeline.controller.admission import Admission
from kubeline.controller.config import NamespaceLimits, OperatorConfig
from kubeline.controller.kube import Keep
from kubeline.controller.reconciler import RunReconciler
from kubeline.engine.stepid import pod_name
from tests.helpers import pipeline, task
from tests.unit.fake_kube import NS, FakeKube
from tests.unit.test_reconciler import succeed

ONE_STEP = pipeline([task("a", arguments={"a": "x"})])["spec"]
TWO_STEPS = pipeline([task("a", arguments={"a": "x"}), task("b", arguments={"a": "y"})])["spec"]


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)


def add_run(kube: FakeKube, name: str, queue: str | None = None, started: bool = False, created: int = 0) -> dict:
    spec: dict[str, Any] = {"pipelineSpec": ONE_STEP}
    if queue:
        spec["queue"] = queue
    run = kube.add_run(NS, name, f"uid-{name}", spec)
    run["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:{created:02d}Z"
    if started:
        run["status"] = {"phase": "Running", "startedAt": "2026-01-01T00:01:00Z", "queue": queue}
    return run


def add_queue(kube: FakeKube, name: str, max_running: int) -> dict[str, Any]:
    queue = {"metadata": {"name": name, "namespace": NS}, "spec": {"maxRunning": max_running}}
    kube.queues[NS, name] = queue
    return queue


def coordinator(kube: FakeKube, woken: list[str], **limits: Any) -> Admission:
    return Admission(kube, NamespaceLimits(**limits), lambda namespace, name: woken.append(name))  # type: ignore[arg-type]


def test_two_runs_asking_at_once_never_both_take_the_last_slot() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    runs = [add_run(kube, name, "q", created=i) for i, name in enumerate(["a", "b", "c"])]

    async def scenario() -> list[str | None]:
        admission = coordinator(kube, woken)
        return list(await asyncio.gather(*(admission.ask(NS, run) for run in runs)))

    answers = asyncio.run(scenario())
    assert answers.count(None) == 1
    assert answers[0] is None  # the oldest
    assert answers[1:] == [
        "queued: 1st in q (it runs 1 at most, 1 running)",
        "queued: 2nd in q (it runs 1 at most, 1 running)",
    ]


def test_a_run_nothing_limits_starts_without_a_listing() -> None:
    kube, woken = FakeKube(), []
    run = add_run(kube, "free")
    admission = coordinator(kube, woken, step_pods=5)
    assert asyncio.run(admission.ask(NS, run)) is None
    assert NS not in admission.namespaces or not admission.namespaces[NS].loaded


def test_a_restarted_operator_counts_the_runs_that_run_from_their_statuses() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 2)
    add_run(kube, "old1", "q", started=True)
    add_run(kube, "old2", "q", started=True)
    waiting = add_run(kube, "new", "q", created=5)
    assert asyncio.run(coordinator(kube, woken).ask(NS, waiting)) == "queued: 1st in q (it runs 2 at most, 2 running)"


def test_an_admitted_run_counts_until_it_finishes_whatever_late_events_say() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    first, second = add_run(kube, "first", "q", created=1), add_run(kube, "second", "q", created=2)

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        assert await admission.ask(NS, first) is None
        admission.run_seen(NS, first)  # a late event: its status does not say it started yet
        assert await admission.ask(NS, second) is not None
        woken.clear()
        admission.run_seen(NS, {**first, "status": {"phase": "Succeeded", "startedAt": "2026-01-01T00:01:00Z"}})
        assert woken == ["second"]  # room freed: the waiting Run asks again
        assert await admission.ask(NS, second) is None

    asyncio.run(scenario())


def test_a_change_wakes_only_the_runs_whose_answer_changes() -> None:
    """A Run joining the end of the line moves nobody's place: the waiting Runs are left alone (with many
    waiting, waking them all at every change would make every change cost a reconcile of each)."""
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    add_run(kube, "busy", "q", started=True)
    runs = [add_run(kube, name, "q", created=i) for i, name in enumerate(["a", "b"], 1)]

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        for run in runs:
            await admission.ask(NS, run)
        woken.clear()
        admission.run_seen(NS, add_run(kube, "late", "q", created=9))
        assert woken == ["late"]
        woken.clear()
        admission.run_seen(NS, {**kube.runs[NS, "late"], "spec": {"queue": "q", "priority": 5}})
        assert sorted(woken) == ["a", "b", "late"]  # it jumps the line: every place moves

    asyncio.run(scenario())


def test_a_run_admitted_but_unable_to_start_gives_its_room_back() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    first, second = add_run(kube, "first", "q", created=1), add_run(kube, "second", "q", created=2)

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        assert await admission.ask(NS, first) is None
        woken.clear()
        admission.release(NS, "first")
        assert woken == ["second"]  # not "first": it asks again on its own next pass, no busy loop
        assert await admission.ask(NS, second) is None

    asyncio.run(scenario())


def test_a_missing_queue_holds_its_runs_and_its_creation_wakes_them() -> None:
    kube, woken = FakeKube(), []
    run = add_run(kube, "r", "gpu")

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        assert (
            await admission.ask(NS, run)
            == "waiting for Queue gpu, which does not exist: create it or remove spec.queue"
        )
        admission.queue_seen(NS, add_queue(kube, "gpu", 1))
        assert woken == ["r"]
        assert await admission.ask(NS, run) is None

    asyncio.run(scenario())


def test_queue_statuses_are_written_once_per_change() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    runs = [add_run(kube, name, "q", created=i) for i, name in enumerate(["a", "b", "c"])]

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        for run in runs:
            await admission.ask(NS, run)
        await admission._publish(NS)
        await admission._publish(NS)

    asyncio.run(scenario())
    assert kube.queue_status_writes == [
        ("q", {"running": ["a"], "waiting": ["b", "c"], "runningCount": 1, "waitingCount": 2})
    ]


def test_step_pods_stay_within_the_namespace_limit_and_throttled_runs_wake_when_one_ends() -> None:
    kube, woken = FakeKube(), []

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=2)
        assert await admission.take_pod(NS, "r1", "p1") and await admission.take_pod(NS, "r1", "p2")
        assert await admission.take_pod(NS, "r1", "p1")  # the same pod again: counted once
        assert not await admission.take_pod(NS, "r2", "p3")
        admission.pod_seen(NS, {"metadata": {"name": "p1"}, "status": {"phase": "Succeeded"}})
        assert woken == ["r2"]
        assert await admission.take_pod(NS, "r2", "p3")
        assert not await admission.take_pod(NS, "r2", "p4")

    asyncio.run(scenario())


def test_a_queued_run_says_why_and_makes_no_pod_until_admitted() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    add_run(kube, "busy", "q", started=True)
    add_run(kube, "r", "q", created=5)

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        reconciler = RunReconciler(kube, OperatorConfig(), NS, "r", kube.watch(NS, "r"), admission)
        await reconciler.reconcile(kube.runs[NS, "r"])
        status = kube.runs[NS, "r"]["status"]
        assert status["phase"] == "Pending" and status["message"] == "queued: 1st in q (it runs 1 at most, 1 running)"
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "Succeeded": "Unknown",
            "Ready": "Unknown",
            "Queued": "True",
        }
        written = kube.runs[NS, "r"]["metadata"]["resourceVersion"]
        await reconciler.reconcile(kube.runs[NS, "r"])
        assert kube.runs[NS, "r"]["metadata"]["resourceVersion"] == written  # nothing changed: nothing written
        assert kube.created_pods == []
        admission.run_seen(NS, {**kube.runs[NS, "busy"], "status": {"phase": "Succeeded"}})
        await reconciler.reconcile(kube.runs[NS, "r"])
        assert kube.runs[NS, "r"]["status"]["phase"] == "Running"
        assert kube.created_pods == [pod_name("r", "a", 1)]

    asyncio.run(scenario())


def test_steps_over_the_step_pod_limit_wait_and_start_when_a_pod_ends() -> None:
    kube, woken = FakeKube(), []
    kube.add_run(NS, "r", "uid-r", {"pipelineSpec": TWO_STEPS})

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=1)
        reconciler = RunReconciler(kube, OperatorConfig(), NS, "r", kube.watch(NS, "r"), admission)
        await reconciler.reconcile(kube.runs[NS, "r"])
        assert kube.created_pods == [pod_name("r", "a", 1)]
        assert kube.runs[NS, "r"]["status"]["tasks"]["b"]["phase"] == "Pending"
        first = kube.created_pods[0]
        succeed(kube, first, {"out": "done"})
        admission.pod_seen(NS, kube.pods[NS, first])
        assert woken == ["r"]
        await reconciler.reconcile(kube.runs[NS, "r"])
        assert kube.created_pods == [pod_name("r", "a", 1), pod_name("r", "b", 1)]

    asyncio.run(scenario())


def test_a_new_queue_shows_none_running_and_none_waiting() -> None:
    kube = FakeKube()
    queue = add_queue(kube, "q", 3)

    async def scenario() -> None:
        admission = coordinator(kube, [])
        admission.queue_seen(NS, queue)
        await admission._publish(NS)

    asyncio.run(scenario())
    assert kube.queue_status_writes == [("q", {"running": [], "waiting": [], "runningCount": 0, "waitingCount": 0})]


def test_a_queued_run_cancelled_ends_at_once_without_a_pod_or_its_exit_handler() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    with_exit_handler = {**ONE_STEP, "onExit": task("notify", arguments={"a": "done"})}
    busy = add_run(kube, "busy", "q", started=True)
    busy["spec"]["pipelineSpec"] = with_exit_handler
    waiting = add_run(kube, "r", "q", created=5)
    waiting["spec"]["pipelineSpec"] = with_exit_handler

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        reconciler = RunReconciler(kube, OperatorConfig(), NS, "r", kube.watch(NS, "r"), admission)
        await reconciler.reconcile(kube.runs[NS, "r"])
        kube.runs[NS, "r"]["spec"]["cancel"] = True
        admission.run_seen(NS, kube.runs[NS, "r"])
        assert await reconciler.reconcile(kube.runs[NS, "r"]) is None  # nothing left to do
        admission.run_seen(NS, kube.runs[NS, "r"])
        assert "r" not in admission.namespaces[NS].runs
        await admission._publish(NS)

    asyncio.run(scenario())
    status = kube.runs[NS, "r"]["status"]
    assert (status["phase"], status["message"]) == ("Cancelled", "cancelled before it started")
    assert "pipelineSpec" not in status and "startedAt" not in status and status["finishedAt"]
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {
        "Succeeded": ("False", "Cancelled"),
        "Ready": ("False", "Cancelled"),
    }
    assert kube.created_pods == []
    assert kube.queues[NS, "q"]["status"]["runningCount"] == 1  # the busy Run alone


def test_a_pod_whose_creation_fails_gives_its_room_back() -> None:
    class Failing(FakeKube):
        async def create_pod(self, body: dict[str, Any]) -> bool:
            raise RuntimeError("500 Internal Server Error")

    kube, woken = Failing(), []
    kube.add_run(NS, "r", "uid-r", {"pipelineSpec": ONE_STEP})

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=1)
        reconciler = RunReconciler(kube, OperatorConfig(), NS, "r", kube.watch(NS, "r"), admission)
        with pytest.raises(RuntimeError):
            await reconciler.reconcile(kube.runs[NS, "r"])
        assert await admission.take_pod(NS, "other", "p-other")  # the room the failed creation took is back

    asyncio.run(scenario())


def test_a_deleted_runs_reserved_pod_room_goes_back() -> None:
    kube, woken = FakeKube(), []
    run = add_run(kube, "r1")

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=1)
        assert await admission.take_pod(NS, "r1", "p1")  # its creation still in flight
        assert not await admission.take_pod(NS, "r2", "p2")
        admission.run_seen(NS, run, deleted=True)
        assert woken == ["r2"]
        assert await admission.take_pod(NS, "r2", "p2")

    asyncio.run(scenario())


def test_freed_step_pod_room_goes_to_the_run_waiting_longest_not_to_the_run_whose_pod_ended() -> None:
    """A big Run whose own pod ended (its reconciler woken by that pod's event, first) cannot take every freed
    slot from a small Run that has waited longer."""
    kube, woken = FakeKube(), []

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=2)
        assert await admission.take_pod(NS, "big", "b1") and await admission.take_pod(NS, "big", "b2")
        admission.pod_created(NS, "b1")
        admission.pod_created(NS, "b2")
        assert not await admission.take_pod(NS, "small", "s1")
        admission.pod_seen(NS, {"metadata": {"name": "b1"}, "status": {"phase": "Succeeded"}})
        assert woken == ["small"]
        assert not await admission.take_pod(NS, "big", "b3")  # the small Run's turn
        assert await admission.take_pod(NS, "small", "s1")
        woken.clear()
        admission.pod_seen(NS, {"metadata": {"name": "b2"}, "status": {"phase": "Succeeded"}})
        assert woken == ["big"]
        assert await admission.take_pod(NS, "big", "b3")

    asyncio.run(scenario())


def test_a_run_that_no_longer_waits_for_pod_room_leaves_the_line() -> None:
    kube, woken = FakeKube(), []

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=1)
        assert await admission.take_pod(NS, "r0", "p0")
        assert not await admission.take_pod(NS, "first", "f1")
        assert not await admission.take_pod(NS, "second", "s1")
        admission.pod_seen(NS, {"metadata": {"name": "p0"}, "status": {"phase": "Succeeded"}})
        assert woken == ["first"]
        admission.pods_not_wanted(NS, "first")  # its step was served from the cache meanwhile
        assert woken == ["first", "second"]
        assert await admission.take_pod(NS, "second", "s1")

    asyncio.run(scenario())


def test_runs_and_step_pods_deleted_while_the_watch_was_down_give_their_room_back_at_the_next_listing() -> None:
    """A watch restarted after "410 Gone" re-lists without DELETED events: the periodic listing finds them gone."""
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    add_run(kube, "busy", "q", started=True)
    waiting = add_run(kube, "r", "q", created=5)

    async def scenario() -> None:
        admission = coordinator(kube, woken, step_pods=1)
        assert await admission.ask(NS, waiting) is not None
        assert await admission.take_pod(NS, "busy", "busy-a")
        kube.put_pod({"metadata": {"name": "busy-a", "namespace": NS, "labels": {"kubeline.dev/run": "busy"}}})
        admission.pod_created(NS, "busy-a")
        assert not await admission.take_pod(NS, "other", "other-a")
        del kube.runs[NS, "busy"]  # no event for either
        del kube.pods[NS, "busy-a"]
        await admission._relist(NS)
        assert sorted(woken) == ["other", "r"]
        assert await admission.ask(NS, waiting) is None
        assert await admission.take_pod(NS, "other", "other-a")

    asyncio.run(scenario())


def test_a_run_an_event_reports_while_the_listing_is_in_flight_is_not_taken_for_gone() -> None:
    class Slow(FakeKube):
        async def list_custom(self, namespace: str, plural: str, keep: Keep | None = None) -> list[dict[str, Any]]:
            listed = await super().list_custom(namespace, plural, keep)
            if plural == "runs" and self.during_listing is not None:
                self.during_listing()
            return listed

    kube, woken = Slow(), []
    kube.during_listing = None
    add_queue(kube, "q", 1)

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        await admission._loaded(NS)

        def created_and_admitted() -> None:  # its event, and its ask, come after the listing was taken
            late = add_run(kube, "late", "q", created=9)
            admission.run_seen(NS, late)
            admission.namespaces[NS].granted.add("late")

        kube.during_listing = created_and_admitted
        kube.runs.clear()  # the listing's copy does not have it
        await admission._relist(NS)
        assert "late" in admission.namespaces[NS].runs

    asyncio.run(scenario())


def test_a_running_run_keeps_the_queue_it_was_admitted_from_whatever_spec_queue_says_later() -> None:
    kube, woken = FakeKube(), []
    add_queue(kube, "q", 1)
    add_queue(kube, "other", 1)
    add_run(kube, "r", "q", created=1)
    waiting = add_run(kube, "w", "q", created=2)

    async def scenario() -> None:
        admission = coordinator(kube, woken)
        reconciler = RunReconciler(kube, OperatorConfig(), NS, "r", kube.watch(NS, "r"), admission)
        await reconciler.reconcile(kube.runs[NS, "r"])
        assert kube.runs[NS, "r"]["status"]["queue"] == "q"
        kube.runs[NS, "r"]["spec"]["queue"] = "other"  # kubectl edit of a running Run
        admission.run_seen(NS, kube.runs[NS, "r"])
        assert await admission.ask(NS, waiting) == "queued: 1st in q (it runs 1 at most, 1 running)"
        restarted = coordinator(kube, woken)  # a restarted operator reads it from the status
        assert await restarted.ask(NS, waiting) == "queued: 1st in q (it runs 1 at most, 1 running)"
        await reconciler.reconcile(kube.runs[NS, "r"])
        assert kube.runs[NS, "r"]["status"]["queue"] == "q"  # later status writes keep it

    asyncio.run(scenario())
