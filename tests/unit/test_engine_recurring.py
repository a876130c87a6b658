"""engine.recurring.decide: one RecurringRun pass, as tables of literal times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from kubeline.api.models import RecurringRunSpec, RecurringRunStatus
from kubeline.api.names import scheduled_run_name
from kubeline.engine import schedule
from kubeline.engine.recurring import MAX_PER_PASS, MadeRun, decide


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


CREATED = at("2026-12-01T00:00:00Z")


def spec(**fields: Any) -> RecurringRunSpec:
    schedule = fields.pop("schedule", {"cron": "*/10 * * * * *"})
    return RecurringRunSpec.model_validate(
        {"schedule": schedule, "template": {"spec": {"pipelineRef": {"name": "p"}}}, **fields}
    )


def run(name: str, phase: str | None = "Running", scheduled: str | None = None, **more: Any) -> MadeRun:
    return MadeRun(name, phase, at(scheduled) if scheduled else None, **more)


def scheduled(decision) -> list[str]:
    return [new.scheduled.strftime("%H:%M:%S") for new in decision.create]


@pytest.mark.parametrize(
    ("fields", "last", "now", "made"),
    [
        pytest.param({}, None, "2026-12-01T00:00:09Z", [], id="nothing due before the first firing"),
        pytest.param({}, None, "2026-12-01T00:00:10Z", ["00:00:10"], id="a firing at now is due"),
        pytest.param({}, None, "2026-12-01T00:00:35Z", ["00:00:10", "00:00:20", "00:00:30"], id="catch up"),
        pytest.param({"catchUp": False}, None, "2026-12-01T00:00:35Z", ["00:00:30"], id="no catch-up: latest"),
        pytest.param({}, "2026-12-01T00:00:20Z", "2026-12-01T00:00:35Z", ["00:00:30"], id="after lastScheduleTime"),
        pytest.param({"suspend": True}, None, "2026-12-01T00:00:35Z", [], id="suspended"),
        pytest.param(
            {"schedule": {"interval": "15s", "startTime": "2026-12-01T00:00:05Z"}},
            None,
            "2026-12-01T00:00:40Z",
            ["00:00:05", "00:00:20", "00:00:35"],
            id="interval from startTime",
        ),
        pytest.param(
            {"schedule": {"cron": "*/10 * * * * *", "endTime": "2026-12-01T00:00:25Z"}},
            None,
            "2026-12-01T00:01:00Z",
            ["00:00:10", "00:00:20"],
            id="nothing after endTime",
        ),
        pytest.param(
            {"schedule": {"cron": "0 2 * * *", "timeZone": "Europe/Paris"}},
            None,
            "2026-12-01T03:00:00Z",
            ["01:00:00"],
            id="cron read in its time zone (02:00 Paris is 01:00 UTC in winter)",
        ),
    ],
)
def test_the_triggers_made_are_the_firings_since_the_last_one(fields, last, now, made) -> None:
    status = RecurringRunStatus(last_schedule_time=last) if last else None
    decision = decide("nightly", spec(**fields), status, CREATED, at(now), [])
    assert scheduled(decision) == made
    if made:
        assert decision.status.last_schedule_time == f"{decision.create[-1].scheduled.isoformat()[:19]}Z"
        assert decision.status.last_run == decision.create[-1].name


@pytest.mark.parametrize(
    ("schedule", "made", "next_time"),
    [
        pytest.param({"interval": "24h"}, [], "2026-12-02T15:00:07Z", id="a day after its creation, not at midnight"),
        pytest.param({"interval": "7h"}, ["22:00:07"], "2026-12-02T05:00:07Z", id="creation + k intervals"),
        pytest.param(
            {"interval": "24h", "startTime": "2026-12-01T09:30:00Z"},
            [],
            "2026-12-02T09:30:00Z",
            id="startTime, when set, is the origin",
        ),
    ],
)
def test_an_interval_counts_from_start_time_or_else_from_creation(schedule, made, next_time) -> None:
    """KFP's periodic schedule: (startTime | creation) + k * interval, not the Unix epoch's multiples."""
    created = at("2026-12-01T15:00:07Z")
    decision = decide("r", spec(schedule=schedule), None, created, at("2026-12-01T23:00:00Z"), [])
    assert scheduled(decision) == made
    assert decision.status.next_schedule_time == next_time


def test_a_run_made_but_not_recorded_in_the_status_is_not_made_again() -> None:
    """The operator died after creating the Run, before writing lastScheduleTime."""
    made = [run("nightly-1796083210", "Succeeded", "2026-12-01T00:00:10Z")]
    decision = decide("nightly", spec(), None, CREATED, at("2026-12-01T00:00:25Z"), made)
    assert scheduled(decision) == ["00:00:20"]


def test_names_are_the_recurring_run_and_the_unix_second() -> None:
    decision = decide("nightly", spec(), None, CREATED, at("2026-12-01T00:00:10Z"), [])
    assert [new.name for new in decision.create] == ["nightly-1796083210"]


def test_long_names_are_cut_with_a_hash_so_that_they_still_differ() -> None:
    fire = at("2026-12-01T00:00:10Z")
    first, second = scheduled_run_name("a" * 60 + "-one", fire), scheduled_run_name("a" * 60 + "-two", fire)
    assert len(first) == len(second) == 63
    assert first != second
    assert first.endswith("-1796083210") and first.startswith("aaaa")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"schedule": {"interval": "1s"}},
            "3500 triggers dropped (at most 100 due triggers are made or wait: the latest)",
            id="an interval counts them",
        ),
        pytest.param(
            {"schedule": {"cron": "* * * * * *"}},
            "over 100 triggers were due: the older ones dropped (at most 100 due triggers are made or wait: the latest)",
            id="a cron says over 100 (counting them would walk 3,600 firings)",
        ),
        pytest.param(
            {"schedule": {"interval": "1s"}, "catchUp": False},
            "3599 triggers before the latest not made (catchUp: false)",
            id="catchUp false: all but the latest",
        ),
        pytest.param(
            {"schedule": {"interval": "1s"}, "suspend": True},
            "suspended: no Runs are made; 3600 triggers missed so far",
            id="suspended",
        ),
    ],
)
def test_a_long_outage_makes_at_most_a_bound_of_runs_and_says_how_many_it_left_out(fields, message) -> None:
    decision = decide("every", spec(maxConcurrency=1000, **fields), None, CREATED, at("2026-12-01T01:00:00Z"), [])
    assert len(decision.create) == (0 if "suspend" in fields else 1 if "catchUp" in fields else MAX_PER_PASS)
    if decision.create:
        assert decision.create[-1].scheduled == at("2026-12-01T01:00:00Z")
    assert decision.status.message == message


def test_a_pass_with_no_room_reads_only_the_waiting_trigger(monkeypatch) -> None:
    """Allow at maxConcurrency, a per-second cron waiting for an hour: the pass must stay cheap (it runs every
    second), so it reads the first waiting trigger and the next firing, not the 100 latest firings."""
    reads = []

    class Counted(schedule.croniter):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            reads.append(args[1])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(schedule, "croniter", Counted)
    full = [run(f"a{i}", "Running", "2026-12-01T00:00:00Z") for i in range(2)]
    every_second = spec(schedule={"cron": "* * * * * *"}, maxConcurrency=2)
    decision = decide("r", every_second, None, CREATED, at("2026-12-01T01:00:00Z"), full)
    assert decision.create == [] and len(reads) < 10  # a handful (the checks of the cron too), not 100
    assert decision.status.message.startswith("trigger 2026-12-01T00:00:01Z waits: 2 Runs active (maxConcurrency 2)")
    assert decision.status.next_schedule_time == "2026-12-01T01:00:01Z"


@pytest.mark.parametrize(
    ("policy", "runs", "made", "cancelled", "message"),
    [
        pytest.param("Allow", [run("a", "Running", "2026-12-01T00:00:00Z")], ["00:00:10"], [], None, id="allow"),
        pytest.param(
            "Forbid", [run("a", "Running", "2026-12-01T00:00:00Z")], [], [], "skipped", id="forbid while active"
        ),
        pytest.param(
            "Forbid", [run("a", "Succeeded", "2026-12-01T00:00:00Z")], ["00:00:10"], [], None, id="forbid when idle"
        ),
        pytest.param(
            "Replace",
            [run("a", "Running", "2026-12-01T00:00:00Z"), run("b", None, "2026-12-01T00:00:00Z", cancelling=True)],
            ["00:00:10"],
            ["a"],
            None,
            id="replace cancels the active runs not yet cancelled",
        ),
    ],
)
def test_concurrency_policies(policy, runs, made, cancelled, message) -> None:
    decision = decide("r", spec(concurrencyPolicy=policy), None, CREATED, at("2026-12-01T00:00:12Z"), runs)
    assert scheduled(decision) == made
    assert decision.cancel == cancelled
    if message:
        assert message in (decision.status.message or "")
    assert decision.status.last_schedule_time == "2026-12-01T00:00:10Z"  # skipped counts as acted on


@pytest.mark.parametrize(
    ("runs", "made", "message"),
    [
        pytest.param([], ["00:00:30"], "2 triggers skipped: only the latest of them runs", id="idle: the latest runs"),
        pytest.param(
            [run("a", "Running", "2026-12-01T00:00:00Z")], [], "3 triggers skipped: a is still active", id="active"
        ),
    ],
)
def test_forbid_after_an_outage_runs_the_latest_trigger_and_says_how_many_it_skipped_once(runs, made, message):
    decision = decide("r", spec(concurrencyPolicy="Forbid"), None, CREATED, at("2026-12-01T00:00:35Z"), runs)
    assert scheduled(decision) == made
    assert decision.status.message == f"{message} (concurrencyPolicy: Forbid)"
    assert decision.status.last_schedule_time == "2026-12-01T00:00:30Z"


def test_replace_makes_only_the_latest_of_several_due_triggers() -> None:
    decision = decide("r", spec(concurrencyPolicy="Replace"), None, CREATED, at("2026-12-01T00:00:35Z"), [])
    assert scheduled(decision) == ["00:00:30"]


def test_allow_waits_at_max_concurrency_and_keeps_the_trigger_for_later() -> None:
    active = [run(f"a{i}", "Running", "2026-12-01T00:00:00Z") for i in range(2)]
    now = at("2026-12-01T00:00:25Z")
    full = decide("r", spec(maxConcurrency=3), None, CREATED, now, active)
    assert scheduled(full) == ["00:00:10"]  # one slot: the first trigger; 00:00:20 waits
    assert full.status.last_schedule_time == "2026-12-01T00:00:10Z"
    assert "waits" in (full.status.message or "")
    ended = [run("a0", "Succeeded", "2026-12-01T00:00:00Z"), active[1], run("r-1796083210", "Running")]
    later = decide("r", spec(maxConcurrency=3), full.status, CREATED, now, ended)
    assert scheduled(later) == ["00:00:20"]  # a slot freed: the waiting trigger runs, late, not lost


def test_max_concurrency_defaults_to_ten() -> None:
    active = [run(f"a{i}", "Pending", "2026-12-01T00:00:00Z") for i in range(10)]
    decision = decide("r", spec(), None, CREATED, at("2026-12-01T00:00:10Z"), active)
    assert decision.create == []


def test_history_limits_delete_the_oldest_finished_of_each_kind() -> None:
    runs = [
        run("s1", "Succeeded", "2026-12-01T00:00:10Z", finished=at("2026-12-01T00:00:11Z")),
        run("s2", "Succeeded", "2026-12-01T00:00:20Z", finished=at("2026-12-01T00:00:21Z")),
        run("s3", "Succeeded", "2026-12-01T00:00:30Z", finished=at("2026-12-01T00:00:31Z")),
        run("f1", "Failed", "2026-12-01T00:00:05Z", finished=at("2026-12-01T00:00:06Z")),
        run("c1", "Cancelled", "2026-12-01T00:00:15Z", finished=at("2026-12-01T00:00:16Z")),
        run("running", "Running", "2026-12-01T00:00:01Z"),
    ]
    fields = {"successfulRunsHistoryLimit": 1, "failedRunsHistoryLimit": 1}
    decision = decide("r", spec(**fields), None, CREATED, at("2026-12-01T00:00:32Z"), runs)
    assert decision.delete == ["s1", "s2", "f1"]
    assert decide("r", spec(), None, CREATED, at("2026-12-01T00:00:32Z"), runs).delete == []


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ({"cron": "61 * * * *"}, "schedule.cron"),
        ({"cron": "* * * *"}, "has 4 fields"),
        ({"cron": "* * * * *", "timeZone": "Mars/Olympus"}, "schedule.timeZone"),
        (
            {"cron": "* * * * *", "startTime": "2026-12-02T00:00:00Z", "endTime": "2026-12-01T00:00:00Z"},
            "schedule.endTime",
        ),
    ],
)
def test_an_invalid_schedule_makes_nothing_and_says_why(schedule, problem) -> None:
    decision = decide("r", spec(schedule=schedule), None, CREATED, at("2026-12-01T01:00:00Z"), [])
    assert decision.create == [] and decision.wake_at is None
    ready = decision.status.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "InvalidSchedule")
    assert problem in (ready.message or "")


def test_the_next_trigger_is_shown_and_woken_for_even_when_waiting() -> None:
    decision = decide("r", spec(), None, CREATED, at("2026-12-01T00:00:12Z"), [])
    assert decision.status.next_schedule_time == "2026-12-01T00:00:20Z"
    assert decision.wake_at == at("2026-12-01T00:00:20Z")
    full = [run("a", "Running", "2026-12-01T00:00:00Z")]
    waiting = decide("r", spec(maxConcurrency=1), None, CREATED, at("2026-12-01T00:00:12Z"), full)
    assert waiting.create == [] and "trigger 2026-12-01T00:00:10Z waits" in (waiting.status.message or "")
    assert waiting.status.next_schedule_time == "2026-12-01T00:00:20Z"
    assert waiting.wake_at == at("2026-12-01T00:00:20Z")
    suspended = decide("r", spec(suspend=True), None, CREATED, at("2026-12-01T00:00:12Z"), [])
    assert suspended.status.next_schedule_time == "2026-12-01T00:00:20Z" and suspended.wake_at is None
    assert suspended.status.conditions[0].reason == "Suspended"


def test_triggers_missed_while_suspended_are_made_on_resume_by_catch_up() -> None:
    """Resume with catchUp true: every missed trigger (KFP's backfill); false: only the latest."""
    status = RecurringRunStatus(last_schedule_time="2026-12-01T00:00:10Z")
    now = at("2026-12-01T00:00:45Z")
    assert scheduled(decide("r", spec(), status, CREATED, now, [])) == ["00:00:20", "00:00:30", "00:00:40"]
    assert scheduled(decide("r", spec(catchUp=False), status, CREATED, now, [])) == ["00:00:40"]


def test_an_ended_schedule_says_so_and_sleeps() -> None:
    ended = spec(schedule={"cron": "*/10 * * * * *", "endTime": "2026-12-01T00:00:15Z"})
    status = RecurringRunStatus(last_schedule_time="2026-12-01T00:00:10Z")
    decision = decide("r", ended, status, CREATED, at("2026-12-01T00:05:00Z"), [])
    assert decision.create == [] and decision.wake_at is None and decision.status.next_schedule_time is None
    assert decision.status.conditions[0].reason == "Ended"


def test_the_ready_condition_keeps_its_transition_time_while_it_holds() -> None:
    first = decide("r", spec(), None, CREATED, at("2026-12-01T00:00:05Z"), [])
    again = decide("r", spec(), first.status, CREATED, at("2026-12-01T00:00:15Z"), [])
    assert again.status.conditions[0].last_transition_time == "2026-12-01T00:00:05Z"


def test_active_lists_the_unfinished_runs_and_the_new_one_in_schedule_order() -> None:
    runs = [run("b", "Running", "2026-12-01T00:00:02Z"), run("a", None, "2026-12-01T00:00:01Z"), run("c", "Failed")]
    decision = decide("r", spec(), None, CREATED, at("2026-12-01T00:00:10Z"), runs)
    assert decision.status.active == ["a", "b", "r-1796083210"]
    assert decision.status.last_run == "r-1796083210"
    assert decision.status.last_schedule_time == "2026-12-01T00:00:10Z"


def test_last_schedule_time_is_recovered_from_the_runs_when_the_status_lost_it() -> None:
    made = [run("r-1796083220", "Running", "2026-12-01T00:00:20Z")]
    status = RecurringRunStatus(last_schedule_time="2026-12-01T00:00:10Z")
    decision = decide("r", spec(), status, CREATED, at("2026-12-01T00:00:25Z"), made)
    assert decision.create == []
    assert decision.status.last_schedule_time == "2026-12-01T00:00:20Z"
