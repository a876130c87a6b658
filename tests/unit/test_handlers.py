"""The kopf handlers around a Run's daemon: events wake it, a burst of them makes one reconcile."""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from typing import Any

import kopf
import pytest

from kubeline.api.constants import RUN_LABEL
from kubeline.controller import handlers
from kubeline.controller import reconciler as reconciler_module
from kubeline.controller.config import OperatorConfig
from kubeline.controller.pods import encode_outputs
from kubeline.controller.reconciler import RunReconciler
from kubeline.controller.status import timestamp
from tests.unit.fake_kube import CHAIN, NS, RUN, UID, FakeKube


def test_a_burst_of_pod_events_makes_one_reconcile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)
    passes: list[float | None] = []
    reconcile = RunReconciler.reconcile

    async def counted(self: RunReconciler, run: Any) -> float | None:
        passes.append(due := await reconcile(self, run))
        return due

    monkeypatch.setattr(RunReconciler, "reconcile", counted)
    kube = FakeKube()
    run = kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    memo = kopf.Memo(config=OperatorConfig(batch_seconds=0.2), kube=kube, runs={}, admission=None)

    async def scenario() -> None:
        await handlers.run_changed(event={"type": None, "object": run}, name=RUN, namespace=NS, memo=memo)
        daemon = memo.runs[NS, RUN].task
        await asyncio.sleep(0.2)
        assert len(passes) == 1 and (NS, RUN) in memo.runs
        pod = kube.pods[NS, kube.created_pods[0]]
        for _ in range(5):  # spread over less than batch_seconds
            event = {"type": "MODIFIED", "object": pod}
            await handlers.pod_changed(event=event, labels=pod["metadata"]["labels"], namespace=NS, name="p", memo=memo)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        assert len(passes) == 2
        await handlers.run_changed(event={"type": "DELETED", "object": run}, name=RUN, namespace=NS, memo=memo)
        with pytest.raises(asyncio.CancelledError):
            await daemon
        assert (NS, RUN) not in memo.runs  # nothing left behind for the next Run of that name

    asyncio.run(scenario())


def test_events_for_runs_without_a_daemon_are_ignored() -> None:
    memo = kopf.Memo(runs={})
    labels = {RUN_LABEL: "gone"}
    asyncio.run(
        handlers.pod_changed(event={"type": "DELETED", "object": {}}, labels=labels, namespace=NS, name="p", memo=memo)
    )
    asyncio.run(handlers.cancel_requested(name="gone", namespace=NS, memo=memo))
    asyncio.run(handlers.pipeline_changed(namespace=NS, memo=memo))
    asyncio.run(handlers.status_changed(name="gone", namespace=NS, body={}, memo=memo))
    assert memo.runs == {}


def test_only_another_clients_status_write_wakes_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Run's events from kubeline's own status writes and from label changes leave the daemon asleep; a
    status written by someone else wakes it to restore the truth."""
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)
    kube = FakeKube()
    run = kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    asyncio.run(reconciler.reconcile(run))
    flight = handlers.RunInFlight(run=run, reconciler=reconciler)
    memo = kopf.Memo(runs={(NS, RUN): flight})

    asyncio.run(handlers.status_changed(name=RUN, namespace=NS, body=run, memo=memo))
    run["metadata"]["labels"] = {"team": "ml"}
    run["metadata"]["resourceVersion"] = str(int(run["metadata"]["resourceVersion"]) + 1)
    asyncio.run(handlers.status_changed(name=RUN, namespace=NS, body=run, memo=memo))
    assert not flight.wake.is_set()

    kube.write_status_as_someone_else(NS, RUN, {"phase": "Succeeded"})
    asyncio.run(handlers.status_changed(name=RUN, namespace=NS, body=run, memo=memo))
    assert flight.wake.is_set()


def test_a_pod_kubernetes_took_away_and_deleted_at_once_still_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod garbage collector marks a pod of a deleted node Failed and deletes it at once: both events may
    reach the daemon together, and the step's message must still be Kubernetes' reason, not a bare deletion."""
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)
    kube = FakeKube()
    run = kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    flight = handlers.RunInFlight(run=run, pods=kube.watch(NS, RUN))
    memo = kopf.Memo(runs={(NS, RUN): flight})
    reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, flight.pods)
    asyncio.run(reconciler.reconcile(run))
    pod = kube.pods.pop((NS, kube.created_pods[0]))
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    pod["status"] = {
        "phase": "Failed",
        "conditions": [
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists",
            }
        ],
    }
    event = {"type": "DELETED", "object": pod}
    name = pod["metadata"]["name"]
    asyncio.run(handlers.pod_changed(event=event, labels=pod["metadata"]["labels"], namespace=NS, name=name, memo=memo))
    asyncio.run(reconciler.reconcile(run))
    step = kube.runs[NS, RUN]["status"]["tasks"]["a"]
    assert step["phase"] == "Failed"
    assert step["message"] == "Kubernetes took the step's pod away (DeletionByPodGC): PodGC: node no longer exists"


def test_the_event_of_its_own_write_arriving_before_the_answer_leaves_the_daemon_asleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watch may deliver kubeline's status write before the API server's answer to it reaches the reconciler."""
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)
    memo = kopf.Memo(runs={})

    class EventFirst(FakeKube):
        async def write_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> str:
            version = await super().write_run_status(namespace, name, status)
            await handlers.status_changed(name=name, namespace=namespace, body=self.runs[namespace, name], memo=memo)
            return version

    kube = EventFirst()
    run = kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    flight = memo.runs[NS, RUN] = handlers.RunInFlight(run=run, reconciler=reconciler)
    asyncio.run(reconciler.reconcile(run))  # two writes: the run started, then its first step
    assert kube.runs[NS, RUN]["status"]["tasks"]["a"]["phase"] == "Running"
    assert not flight.wake.is_set()


def test_a_finished_run_gets_no_daemon_and_a_deleted_ones_name_is_free_at_once() -> None:
    """10,000 finished Runs in a namespace hold nothing; one with a ttlAfterFinished holds a daemon to wait it out."""
    kube = FakeKube()
    memo = kopf.Memo(runs={}, config=OperatorConfig(), kube=kube, admission=None)
    finished = {"metadata": {"name": "done", "uid": "u1"}, "spec": {}, "status": {"phase": "Succeeded"}}
    ended = timestamp(time.time())
    expiring = {
        **finished,
        "status": {"phase": "Failed", "finishedAt": ended, "pipelineSpec": {"ttlAfterFinished": "1h"}},
    }

    kube.runs[NS, "ttl"] = expiring

    async def scenario() -> None:
        await handlers.run_changed(event={"type": None, "object": finished}, name="done", namespace=NS, memo=memo)
        assert memo.runs == {}
        await handlers.run_changed(event={"type": None, "object": expiring}, name="ttl", namespace=NS, memo=memo)
        old = memo.runs[NS, "ttl"]
        await handlers.run_changed(event={"type": "DELETED", "object": expiring}, name="ttl", namespace=NS, memo=memo)
        await handlers.run_changed(event={"type": "ADDED", "object": expiring}, name="ttl", namespace=NS, memo=memo)
        new = memo.runs[NS, "ttl"]
        assert new is not old and old.task is not None and new.task is not None
        await asyncio.gather(old.task, return_exceptions=True)
        assert memo.runs[NS, "ttl"] is new  # the old daemon's end leaves the new Run's alone
        await handlers.stop_run_daemons(memo=memo)
        assert new.task.cancelled() and memo.runs == {}

    asyncio.run(scenario())


#: A step pod's status once it ended well, its output reported.
SUCCEEDED = {
    "phase": "Succeeded",
    "containerStatuses": [
        {"name": "main", "state": {"terminated": {"exitCode": 0, "message": encode_outputs({"out": "x"})}}}
    ],
}


def run_to_its_end_by_events(kube: FakeKube, memo: kopf.Memo, run: dict[str, Any]) -> None:
    """Events as kopf would deliver them, each pod finished as it appears, until the Run's daemon ends."""

    async def scenario() -> None:
        await handlers.run_changed(event={"type": None, "object": run}, name=RUN, namespace=NS, memo=memo)
        for _ in range(100):
            flight = memo.runs.get((NS, RUN))
            if flight is None:
                return
            for (_, name), pod in list(kube.pods.items()):
                if pod["status"]["phase"] == "Pending":
                    kube.set_pod_status(NS, name, SUCCEEDED)
                    flight.wake.set()
            await asyncio.sleep(0.05)
        raise AssertionError("the daemon never ended")

    asyncio.run(scenario())


def test_a_late_event_of_a_finished_run_does_not_run_it_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The event of a write from before the Run finished may be handled after its daemon ended: the new daemon
    reads the Run as it is, finds it finished, and does nothing."""
    posted: list[str] = []
    monkeypatch.setattr(reconciler_module, "event", lambda run, kind, reason, message: posted.append(reason))
    kube = FakeKube()
    run = kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    stale = copy.deepcopy(run)  # as created: no status yet
    memo = kopf.Memo(runs={}, config=OperatorConfig(batch_seconds=0.01), kube=kube, admission=None)
    run_to_its_end_by_events(kube, memo, run)
    assert kube.runs[NS, RUN]["status"]["phase"] == "Succeeded"
    created, before = list(kube.created_pods), list(posted)

    async def late() -> None:
        await handlers.run_changed(event={"type": "MODIFIED", "object": stale}, name=RUN, namespace=NS, memo=memo)
        flight = memo.runs.get((NS, RUN))
        if flight is not None and flight.task is not None:
            await asyncio.wait_for(flight.task, 5)

    asyncio.run(late())
    assert kube.runs[NS, RUN]["status"]["phase"] == "Succeeded"
    assert (kube.created_pods, posted) == (created, before)


def test_events_of_a_deleted_run_and_a_new_one_of_its_name_in_either_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)
    """kopf serves each uid apart: the new Run's first event may come before the old one's deletion."""
    kube = FakeKube()
    memo = kopf.Memo(runs={}, config=OperatorConfig(), kube=kube, admission=None)
    old = {"metadata": {"name": RUN, "uid": "old"}, "spec": {"pipelineSpec": CHAIN}}
    new = kube.add_run(NS, RUN, "new", {"pipelineSpec": CHAIN})

    async def scenario() -> None:
        await handlers.run_changed(event={"type": "ADDED", "object": old}, name=RUN, namespace=NS, memo=memo)
        first = memo.runs[NS, RUN]
        await handlers.run_changed(event={"type": "ADDED", "object": new}, name=RUN, namespace=NS, memo=memo)
        second = memo.runs[NS, RUN]
        await handlers.run_changed(event={"type": "DELETED", "object": old}, name=RUN, namespace=NS, memo=memo)
        assert memo.runs[NS, RUN] is second and second.uid == "new" and second.run is new
        assert first.task is not None and second.task is not None
        await asyncio.gather(first.task, return_exceptions=True)
        assert first.task.cancelled() and memo.runs[NS, RUN] is second
        await handlers.stop_run_daemons(memo=memo)

    asyncio.run(scenario())


def test_a_daemon_whose_run_was_deleted_unseen_ends_at_its_next_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciler_module, "event", lambda *args: None)
    kube = FakeKube()
    run = kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    memo = kopf.Memo(runs={}, config=OperatorConfig(batch_seconds=0.01), kube=kube, admission=None)

    async def scenario() -> None:
        await handlers.run_changed(event={"type": None, "object": run}, name=RUN, namespace=NS, memo=memo)
        flight = memo.runs[NS, RUN]
        await asyncio.sleep(0.2)
        del kube.runs[NS, RUN]  # a watch restarted after a "410 Gone" never says so
        pod = next(iter(kube.pods))
        kube.set_pod_status(NS, pod[1], SUCCEEDED)
        flight.wake.set()
        assert flight.task is not None
        await asyncio.wait_for(flight.task, 5)
        assert (NS, RUN) not in memo.runs

    asyncio.run(scenario())


def test_every_handler_runs_on_the_event_loop() -> None:
    """kopf runs a plain `def` handler in a thread pool, where it would race the daemons and the admission
    coordinator over state that only the event loop may touch (dicts iterated while changed, asyncio Events set
    from a foreign thread, two Runs admitted to the last slot)."""
    registry = kopf.get_default_registry()
    ours = [
        handler.fn
        for handlers_of_a_kind in (registry._activities, registry._watching, registry._spawning, registry._changing)
        for handler in handlers_of_a_kind.get_all_handlers()
        if handler.fn.__module__ == handlers.__name__
    ]
    assert len(ours) >= 12
    assert [fn.__name__ for fn in ours if not inspect.iscoroutinefunction(fn)] == []
