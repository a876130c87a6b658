"""RecurringRuns against the real control plane: second-level schedules (6-field cron, intervals), so every
trigger, skip, catch-up and restart is seen within seconds. Runs' steps are kwok fakes (fake(...)), which
"run" for KWOK_DURATION: a slow one keeps its Run active."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest

from kubeline.api.constants import (
    API_VERSION,
    EXPERIMENT_LABEL,
    PIPELINE_LABEL,
    RECURRING_RUN_LABEL,
    SCHEDULED_TIME_ANNOTATION,
)
from kubeline.api.yamlio import dump_all
from tests.helpers import fake

pytestmark = pytest.mark.integration

T = TypeVar("T")
FINISHED = {"Succeeded", "Failed", "Cancelled"}
NO_CACHE = {"caching": {"enabled": False}}  # each Run's step runs (a cached one would end at once)
PIPELINES = {
    name: {"components": [component], "tasks": [{"name": name, "component": name}], "defaults": NO_CACHE}
    for name, component in {
        "quick": fake("quick"),
        "slow": fake("slow", duration="30s"),
        "six": fake("six", duration="5s"),
        "failing": fake("failing", exit_code=1),
    }.items()
}


@pytest.fixture(scope="module")
def ns(operator_namespace):
    cluster, namespace, _ = operator_namespace
    documents = [
        {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": name}, "spec": spec}
        for name, spec in PIPELINES.items()
    ]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all(documents))
    return operator_namespace


def recurring(ns, schedule: dict[str, Any], pipeline: str = "quick", **spec: Any) -> str:
    cluster, namespace, _ = ns
    name = f"rr-{uuid.uuid4().hex[:6]}"
    template = spec.pop("template", {"spec": {"pipelineRef": {"name": pipeline}}})
    document = {
        "apiVersion": API_VERSION,
        "kind": "RecurringRun",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "template": template, **spec},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))
    return name


def runs_of(ns, name: str) -> list[dict[str, Any]]:
    cluster, namespace, _ = ns
    items = cluster.kubectl_json("get", "runs", "-n", namespace, "-l", f"{RECURRING_RUN_LABEL}={name}")["items"]
    return sorted(items, key=scheduled)


def scheduled(run: dict[str, Any]) -> datetime:
    return at(run["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def active(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [run for run in runs if (run.get("status") or {}).get("phase") not in FINISHED]


def status_of(ns, name: str) -> dict[str, Any]:
    cluster, namespace, _ = ns
    return cluster.kubectl_json("get", "recurringrun", name, "-n", namespace).get("status") or {}


def until(what: str, check: Callable[[], T | None], timeout: float = 30, every: float = 0.3) -> T:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


def stop(ns, name: str) -> None:
    """Suspend the RecurringRun so that it loads the control plane no more during later tests."""
    cluster, namespace, _ = ns
    cluster.kubectl("patch", "recurringrun", name, "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}')


def patch(ns, name: str, spec: dict[str, Any]) -> None:
    cluster, namespace, _ = ns
    cluster.kubectl("patch", "recurringrun", name, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": spec}))


def every_trigger_once(runs: list[dict[str, Any]], period: timedelta) -> None:
    """The Runs' scheduled times are the schedule's firings from the first to the last: none twice, none missed."""
    times = [scheduled(run) for run in runs]
    expected = [times[0] + i * period for i in range(int((times[-1] - times[0]) / period) + 1)]
    assert times == expected, [t.strftime("%H:%M:%S") for t in times]


def test_triggers_fire_on_time_with_deterministic_names_labels_and_owner(ns) -> None:
    cluster, namespace, _ = ns
    template = {
        "metadata": {"labels": {"team": "ml"}, "annotations": {"note": "nightly"}},
        "spec": {"pipelineRef": {"name": "quick"}, "arguments": {}},
    }
    name = recurring(ns, {"cron": "*/2 * * * * *"}, template=template, experiment="Nightly Models")
    runs = until("three Runs", lambda: (found := runs_of(ns, name)) and len(found) >= 3 and found)
    every_trigger_once(runs, timedelta(seconds=2))
    for run in runs:
        metadata = run["metadata"]
        fire = scheduled(run)
        assert fire.second % 2 == 0 and fire.microsecond == 0
        assert metadata["name"] == f"{name}-{int(fire.timestamp())}"
        # creationTimestamp has whole seconds: made within two seconds of its trigger
        assert timedelta(0) <= at(metadata["creationTimestamp"]) - fire <= timedelta(seconds=2), metadata
        assert metadata["labels"] == {
            RECURRING_RUN_LABEL: name,
            PIPELINE_LABEL: "quick",
            EXPERIMENT_LABEL: "nightly-models",
            "team": "ml",
        }
        assert metadata["annotations"]["note"] == "nightly"
        assert [(ref["kind"], ref["name"]) for ref in metadata["ownerReferences"]] == [("RecurringRun", name)]
        assert run["spec"]["pipelineRef"] == {"name": "quick"}
    status = status_of(ns, name)
    assert at(status["nextScheduleTime"]) - at(status["lastScheduleTime"]) == timedelta(seconds=2)
    assert {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]} == {"Ready": ("True", "Scheduling")}
    header = cluster.kubectl("get", "recurringruns", "-n", namespace, name).stdout
    assert name in header
    cluster.kubectl("delete", "recurringrun", name, "-n", namespace)
    until("its Runs deleted with it (owner references)", lambda: not runs_of(ns, name) or None, timeout=60)


def test_forbid_skips_triggers_while_a_run_is_active(ns) -> None:
    name = recurring(ns, {"cron": "*/2 * * * * *"}, pipeline="six", concurrencyPolicy="Forbid")
    until("a skipped trigger", lambda: "skipped" in (status_of(ns, name).get("message") or ""))
    seen_at_once = 0
    deadline = time.time() + 10
    while time.time() < deadline and len(runs_of(ns, name)) < 2:
        seen_at_once = max(seen_at_once, len(active(runs_of(ns, name))))
        time.sleep(0.3)
    stop(ns, name)
    runs = runs_of(ns, name)
    assert seen_at_once == 1
    assert len(runs) == 2, "the next Run starts once the first ended"
    first, second = runs
    assert at(second["metadata"]["creationTimestamp"]) >= at(first["status"]["finishedAt"])
    assert scheduled(second) - scheduled(first) > timedelta(seconds=2), "the triggers between were skipped"


def test_replace_cancels_the_active_run_and_starts_the_new_one(ns) -> None:
    name = recurring(ns, {"interval": "4s"}, pipeline="slow", concurrencyPolicy="Replace")
    runs = until("a second Run", lambda: (found := runs_of(ns, name)) and len(found) >= 2 and found, timeout=20)
    stop(ns, name)
    first = until(
        "the first Run cancelled",
        lambda: (r := runs_of(ns, name)[0]) and (r.get("status") or {}).get("phase") == "Cancelled" and r,
    )
    assert first["spec"]["cancel"] is True
    assert first["metadata"]["name"] == runs[0]["metadata"]["name"]
    assert (runs_of(ns, name)[-1].get("status") or {}).get("phase") != "Cancelled"


def test_allow_never_runs_more_than_max_concurrency_and_the_rest_wait(ns) -> None:
    name = recurring(ns, {"interval": "1s"}, pipeline="six", maxConcurrency=2)
    most, messages = 0, set()
    deadline = time.time() + 14
    while time.time() < deadline:
        most = max(most, len(active(runs_of(ns, name))))
        messages.add(status_of(ns, name).get("message") or "")
        time.sleep(0.2)
    stop(ns, name)
    assert most == 2
    assert any("waits: 2 Runs active (maxConcurrency 2)" in message for message in messages), messages
    runs = runs_of(ns, name)
    assert len(runs) >= 3, "waiting triggers start when a Run ends"
    every_trigger_once(runs, timedelta(seconds=1))  # a waiting trigger is made late (fewer than 100 wait: none dropped)


def test_catch_up_makes_the_triggers_missed_while_the_operator_was_down_or_only_the_latest(ns) -> None:
    _, _, operator = ns
    catching = recurring(ns, {"interval": "2s"})
    latest_only = recurring(ns, {"interval": "2s"}, catchUp=False)
    until("both made a Run", lambda: runs_of(ns, catching) and runs_of(ns, latest_only))
    operator.kill()
    stopped_at = datetime.now().astimezone()
    time.sleep(7)
    operator.start()
    until(
        "a Run made after the restart",
        lambda: any(scheduled(r) > stopped_at + timedelta(seconds=6) for r in runs_of(ns, latest_only)),
        timeout=60,
    )
    until(
        "the catch-up",
        lambda: any(scheduled(r) > stopped_at + timedelta(seconds=6) for r in runs_of(ns, catching)),
        timeout=10,
    )
    stop(ns, catching)
    stop(ns, latest_only)
    every_trigger_once(runs_of(ns, catching), timedelta(seconds=2))
    missed = [r for r in runs_of(ns, latest_only) if stopped_at < scheduled(r) <= stopped_at + timedelta(seconds=7)]
    assert len(missed) <= 1, [r["metadata"]["name"] for r in missed]


@pytest.mark.parametrize("offset", [-0.1, 0.05])
def test_an_operator_killed_at_the_moment_of_a_trigger_makes_no_duplicate_and_no_gap(ns, offset) -> None:
    _, _, operator = ns
    name = recurring(ns, {"interval": "2s"})
    first = until("a Run", lambda: runs_of(ns, name))[-1]
    for _ in range(2):
        latest = scheduled(runs_of(ns, name)[-1])
        time.sleep(max(0.0, (latest + timedelta(seconds=2) - datetime.now().astimezone()).total_seconds() + offset))
        operator.kill()
        operator.start()
        until(
            "a Run after the restart",
            lambda latest=latest: scheduled(runs_of(ns, name)[-1]) > latest + timedelta(seconds=2),
            timeout=60,
        )
    stop(ns, name)
    runs = runs_of(ns, name)
    assert runs[0]["metadata"]["name"] == first["metadata"]["name"]
    every_trigger_once(runs, timedelta(seconds=2))


@pytest.mark.parametrize("catch_up", [False, True])
def test_suspend_makes_no_runs_and_resume_makes_the_missed_triggers_or_only_the_latest(ns, catch_up) -> None:
    name = recurring(ns, {"interval": "2s"}, catchUp=catch_up)
    until("a Run", lambda: runs_of(ns, name))
    patch(ns, name, {"suspend": True})
    status = until(
        "suspended", lambda: (s := status_of(ns, name)) and s["conditions"][0]["reason"] == "Suspended" and s
    )
    assert status["nextScheduleTime"]
    count = len(runs_of(ns, name))
    time.sleep(5)
    assert len(runs_of(ns, name)) == count
    resumed_at = datetime.now().astimezone()
    patch(ns, name, {"suspend": False})
    until("a Run after resuming", lambda: any(scheduled(r) > resumed_at for r in runs_of(ns, name)), timeout=10)
    stop(ns, name)
    runs = runs_of(ns, name)
    before, after = runs[:count], runs[count:]
    if catch_up:
        every_trigger_once(runs, timedelta(seconds=2))  # the triggers missed while suspended are made (backfill)
        assert len(after) >= 3, "5 s suspended: at least two missed triggers, and one after resuming"
    else:
        # the first Run on resume is the latest trigger due then, none of the older missed ones (at least one)
        assert resumed_at - timedelta(seconds=2) < scheduled(after[0]), [r["metadata"]["name"] for r in after]
        assert scheduled(after[0]) - scheduled(before[-1]) >= timedelta(seconds=4)
        every_trigger_once(after, timedelta(seconds=2))


def test_history_limits_delete_the_oldest_finished_runs(ns) -> None:
    started = datetime.now().astimezone()
    kept = recurring(ns, {"interval": "1s"}, successfulRunsHistoryLimit=2)
    failed = recurring(ns, {"interval": "1s"}, pipeline="failing", failedRunsHistoryLimit=1)
    for name in (kept, failed):
        until(f"{name}: six triggers", lambda name=name: last_schedule(ns, name) >= started + timedelta(seconds=6))
        stop(ns, name)
    for name, limit in ((kept, 2), (failed, 1)):
        runs = until(f"{name} trimmed", lambda name=name, limit=limit: trimmed(runs_of(ns, name), limit), timeout=20)
        assert scheduled(runs[-1]) == last_schedule(ns, name)
        every_trigger_once(runs, timedelta(seconds=1))  # the newest are kept, the oldest deleted


def last_schedule(ns, name: str) -> datetime:
    return at(status_of(ns, name).get("lastScheduleTime") or "1970-01-01T00:00:00Z")


def trimmed(runs: list[dict[str, Any]], limit: int) -> list[dict[str, Any]] | None:
    """The Runs, once no more than ``limit`` of them finished and none is active (None before)."""
    return runs if not active(runs) and len(runs) <= limit else None


def test_an_invalid_cron_says_why_makes_no_runs_and_the_operator_goes_on(ns) -> None:
    _, _, operator = ns
    name = recurring(ns, {"cron": "*/2 * * * * * *"})
    ready = until(
        "the condition",
        lambda: next((c for c in status_of(ns, name).get("conditions", []) if c["type"] == "Ready"), None),
    )
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSchedule")
    assert "schedule.cron" in ready["message"] and "7 fields" in ready["message"]
    valid = recurring(ns, {"interval": "1s"})
    until("a valid RecurringRun still makes Runs", lambda: runs_of(ns, valid))
    stop(ns, valid)
    assert runs_of(ns, name) == []
    assert operator.process is not None and operator.process.poll() is None
