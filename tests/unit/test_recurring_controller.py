"""controller.recurring: one pass acts on the engine's decision through Kube (an in-memory API server)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from kubeline.api.constants import PIPELINE_LABEL, RECURRING_RUN_LABEL, SCHEDULED_TIME_ANNOTATION
from kubeline.controller.recurring import RESYNC_SECONDS, RETRY_SECONDS, RecurringRunReconciler
from tests.unit.fake_kube import NS, FakeKube

UID = "rr-uid"


def recurring(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly", "namespace": NS, "uid": UID, "creationTimestamp": "2026-12-01T00:00:00Z"},
        "spec": {
            "schedule": {"cron": "*/10 * * * * *"},
            "template": {"spec": {"pipelineRef": {"name": "train"}, "arguments": {"lr": 0.1}}},
            **spec,
        },
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_pass_creates_the_due_runs_and_writes_the_status() -> None:
    kube = FakeKube()
    due = asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(recurring(), at("2026-12-01T00:00:21Z")))
    assert sorted(name for _, name in kube.runs) == ["nightly-1796083210", "nightly-1796083220"]
    run = kube.runs[NS, "nightly-1796083220"]
    assert run["metadata"]["labels"] == {RECURRING_RUN_LABEL: "nightly", PIPELINE_LABEL: "train"}
    assert run["metadata"]["annotations"] == {SCHEDULED_TIME_ANNOTATION: "2026-12-01T00:00:20Z"}
    assert run["metadata"]["ownerReferences"][0]["uid"] == UID
    assert run["spec"] == {"pipelineRef": {"name": "train"}, "arguments": {"lr": 0.1}}
    status = kube.recurring_statuses[NS, "nightly"]
    assert status["lastScheduleTime"] == "2026-12-01T00:00:20Z" and status["lastRun"] == "nightly-1796083220"
    assert 0 < due <= RESYNC_SECONDS


def test_runs_of_an_inline_pipeline_carry_the_pipeline_label_of_their_recurring_run() -> None:
    kube = FakeKube()
    pipeline = {
        "components": [{"name": "train", "container": {"image": "python:3.11", "command": ["true"]}}],
        "tasks": [{"name": "train", "component": "train"}],
    }
    inline = recurring(template={"spec": {"pipelineSpec": pipeline}})
    inline["metadata"]["labels"] = {PIPELINE_LABEL: "train"}  # as the SDK labels a RecurringRun of a package
    asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(inline, at("2026-12-01T00:00:11Z")))
    [run] = kube.runs.values()
    assert run["metadata"]["labels"] == {RECURRING_RUN_LABEL: "nightly", PIPELINE_LABEL: "train"}
    assert run["spec"] == {"pipelineSpec": pipeline}


def test_a_restarted_operator_makes_no_duplicate_of_a_run_made_before_its_status_was_written() -> None:
    kube = FakeKube()
    asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(recurring(), at("2026-12-01T00:00:11Z")))
    kube.recurring_statuses.clear()  # the status write was lost with the operator
    fresh = RecurringRunReconciler(kube, NS, "nightly")
    asyncio.run(fresh.reconcile(recurring(), at("2026-12-01T00:00:11Z")))
    assert list(kube.runs) == [(NS, "nightly-1796083210")]


def test_runs_of_another_owner_are_not_counted() -> None:
    kube = FakeKube()
    kube.runs[NS, "by-hand"] = {
        "metadata": {"name": "by-hand", "labels": {RECURRING_RUN_LABEL: "nightly"}},
        "spec": {},
        "status": {"phase": "Running"},
    }
    body = recurring(concurrencyPolicy="Forbid")
    asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(body, at("2026-12-01T00:00:11Z")))
    assert (NS, "nightly-1796083210") in kube.runs


def test_a_refused_run_is_said_in_the_status_and_tried_again_later() -> None:
    kube = FakeKube()
    kube.refuse_runs = "metadata.labels: Invalid value"
    due = asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(recurring(), at("2026-12-01T00:00:11Z")))
    ready = kube.recurring_statuses[NS, "nightly"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "RunRefused")
    assert "metadata.labels: Invalid value" in ready["message"]
    assert due == RETRY_SECONDS and not kube.runs


def test_a_run_refused_again_keeps_the_time_it_was_first_refused_and_writes_nothing_new() -> None:
    kube = FakeKube()
    kube.refuse_runs = "metadata.labels: Invalid value"
    reconciler = RecurringRunReconciler(kube, NS, "nightly")
    asyncio.run(reconciler.reconcile(recurring(), at("2026-12-01T00:00:11Z")))
    first = kube.recurring_statuses.pop((NS, "nightly"))
    asyncio.run(reconciler.reconcile(recurring(), at("2026-12-01T00:00:41Z")))
    assert (NS, "nightly") not in kube.recurring_statuses  # unchanged: not written again
    assert first["conditions"][0]["lastTransitionTime"] == "2026-12-01T00:00:11Z"


def test_an_unreadable_spec_is_said_in_the_status() -> None:
    kube = FakeKube()
    body = recurring(maxConcurrency=0)
    due = asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(body, at("2026-12-01T00:00:11Z")))
    ready = kube.recurring_statuses[NS, "nightly"]["conditions"][0]
    assert ready["reason"] == "InvalidSpec" and "spec.maxConcurrency" in ready["message"]
    assert due == RETRY_SECONDS and not kube.runs


class DeletedWhileCancelled(FakeKube):
    """The Run's DELETED event arrives while the cancel request is out (the handler pops it from the Runs)."""

    reconciler: RecurringRunReconciler

    async def cancel_run(self, namespace: str, name: str) -> None:
        await super().cancel_run(namespace, name)
        self.runs.pop((namespace, name), None)
        self.reconciler.runs.pop(name, None)


def test_replace_goes_on_when_the_cancelled_run_is_deleted_meanwhile() -> None:
    kube = DeletedWhileCancelled()
    kube.reconciler = RecurringRunReconciler(kube, NS, "nightly")
    body = recurring(concurrencyPolicy="Replace")
    asyncio.run(kube.reconciler.reconcile(body, at("2026-12-01T00:00:11Z")))
    asyncio.run(kube.reconciler.reconcile(body, at("2026-12-01T00:00:21Z")))
    assert [name for _, name in kube.runs] == ["nightly-1796083220"]
    assert kube.recurring_statuses[NS, "nightly"]["lastRun"] == "nightly-1796083220"


def test_replace_with_a_refused_template_leaves_the_active_run_running() -> None:
    kube = FakeKube()
    reconciler = RecurringRunReconciler(kube, NS, "nightly")
    body = recurring(concurrencyPolicy="Replace")
    asyncio.run(reconciler.reconcile(body, at("2026-12-01T00:00:11Z")))
    kube.refuse_runs = "spec.queue: Invalid value"
    asyncio.run(reconciler.reconcile(body, at("2026-12-01T00:00:21Z")))
    assert not kube.runs[NS, "nightly-1796083210"]["spec"].get("cancel")
    assert kube.recurring_statuses[NS, "nightly"]["conditions"][0]["reason"] == "RunRefused"


def test_a_run_of_the_same_name_made_by_hand_is_not_counted_as_made_and_is_named() -> None:
    kube = FakeKube()
    kube.add_run(NS, "nightly-1796083210", "someone-else", {"pipelineRef": {"name": "train"}})
    due = asyncio.run(RecurringRunReconciler(kube, NS, "nightly").reconcile(recurring(), at("2026-12-01T00:00:11Z")))
    ready = kube.recurring_statuses[NS, "nightly"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "RunRefused")
    assert "Run nightly-1796083210 exists and was not made by this RecurringRun" in ready["message"]
    assert "lastScheduleTime" not in kube.recurring_statuses[NS, "nightly"]  # the trigger is tried again
    assert due == RETRY_SECONDS
