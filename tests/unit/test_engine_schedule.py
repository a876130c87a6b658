"""engine.schedule: when a schedule fires, read from tables of literal times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeline.api.models import Schedule
from kubeline.engine.schedule import read_schedule, schedule_problems


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize(
    ("fields", "after", "until", "limit", "expected"),
    [
        # 6 fields, seconds first (KFP): every 7 s of the minute, the latest two
        ({"cron": "*/7 * * * * *"}, "2026-12-01T00:00:00Z", "2026-12-01T00:00:30Z", 2, ["00:00:21", "00:00:28"]),
        # a firing exactly at `until` is in; one exactly at `after` is out
        ({"cron": "*/10 * * * * *"}, "2026-12-01T00:00:10Z", "2026-12-01T00:00:30Z", 5, ["00:00:20", "00:00:30"]),
        # 02:00 in Paris is 01:00 UTC in winter
        (
            {"cron": "0 2 * * *", "timeZone": "Europe/Paris"},
            "2026-12-01T00:00:00Z",
            "2026-12-03T00:00:00Z",
            5,
            ["2026-12-01T01:00:00", "2026-12-02T01:00:00"],
        ),
        # an interval counts from startTime; none before it, none after endTime
        (
            {"interval": "90s", "startTime": "2026-12-01T00:00:00Z", "endTime": "2026-12-01T00:04:00Z"},
            "2026-11-30T00:00:00Z",
            "2026-12-02T00:00:00Z",
            10,
            ["2026-12-01T00:00:00", "2026-12-01T00:01:30", "2026-12-01T00:03:00"],
        ),
        # a day missed by a schedule firing every second: the latest `limit`, at once
        (
            {"cron": "* * * * * *"},
            "2026-12-01T00:00:00Z",
            "2026-12-02T00:00:00Z",
            3,
            ["2026-12-01T23:59:58", "2026-12-01T23:59:59", "2026-12-02T00:00:00"],
        ),
    ],
)
def test_firings_are_the_latest_in_the_window(fields, after, until, limit, expected) -> None:
    fired = read_schedule(Schedule.model_validate(fields)).firings(at(after), at(until), limit)
    day = after[:10]
    assert fired == [at((e if "T" in e else f"{day}T{e}") + "Z") for e in expected]


def test_the_next_firing_is_read_in_the_time_zone_across_daylight_saving() -> None:
    trigger = read_schedule(Schedule(cron="30 2 * * *", time_zone="Europe/Paris"))
    # 2026-03-29: Paris clocks jump from 02:00 to 03:00, so 02:30 does not exist: it fires at 03:00 local (01:00 UTC)
    assert trigger.next_after(at("2026-03-28T02:00:00Z")).isoformat() == "2026-03-29T01:00:00+00:00"
    # and the next day at 02:30 summer time (00:30 UTC)
    assert trigger.next_after(at("2026-03-29T01:00:00Z")).isoformat() == "2026-03-30T00:30:00+00:00"


@pytest.mark.parametrize(
    ("cron", "until", "expected"),
    [
        # 2026-10-25: Paris clocks go back from 03:00 to 02:00 (at 01:00 UTC), so 02:00-02:59 local comes twice.
        # A cron naming its hour is a fixed-time job: it fires in the first pass only (Vixie cron, robfig/cron)
        ("30 2 * * *", "10-26T02:00", ["10-24T00:30", "10-25T00:30", "10-26T01:30"]),
        ("@daily", "10-26T02:00", ["10-23T22:00", "10-24T22:00", "10-25T23:00"]),
        ("*/30 2 * * *", "10-26T00:00", ["10-24T00:00", "10-24T00:30", "10-25T00:00", "10-25T00:30"]),
        # one that counts hours (* or /) fires by the clock in both passes, as elapsed time goes on
        ("0 */12 * * *", "10-26T00:00", ["10-23T22:00", "10-24T10:00", "10-24T22:00", "10-25T11:00", "10-25T23:00"]),
        ("0 * 25 10 *", "10-25T02:30", ["10-24T22:00", "10-24T23:00", "10-25T00:00", "10-25T01:00", "10-25T02:00"]),
    ],
)
def test_a_fixed_time_cron_fires_once_when_clocks_go_back(cron, until, expected) -> None:
    trigger = read_schedule(Schedule(cron=cron, time_zone="Europe/Paris"))
    after, end = at("2026-10-23T21:00:00Z"), at(f"2026-{until}:00Z")
    walked_back = trigger.firings(after, end, 100)
    walked_forward, moment = [], after
    while (fire := trigger.next_after(moment)) is not None and fire <= end:
        walked_forward.append(fire)
        moment = fire
    assert [fire.strftime("%m-%dT%H:%M") for fire in walked_back] == expected
    assert walked_forward == walked_back


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cron": "61 * * * *"}, "schedule.cron: '61 * * * *' is not a cron expression"),
        ({"cron": "* * *"}, "has 3 fields"),
        ({"cron": "@often"}, "'@often' is unknown"),
        ({"cron": "0 0 30 2 *"}, "never fires"),
        ({"cron": "0 2 * * *", "timeZone": "Mars/Base"}, "schedule.timeZone: 'Mars/Base' is not an IANA time zone"),
        ({"interval": "0.5s"}, "schedule.interval: '0.5s' is under a second"),
        (
            {"interval": "1h", "startTime": "2026-12-02T00:00:00Z", "endTime": "2026-12-01T00:00:00Z"},
            "schedule.endTime (2026-12-01T00:00:00Z) is not after schedule.startTime",
        ),
    ],
)
def test_a_schedule_that_cannot_fire_is_named_by_field(fields, words) -> None:
    [problem] = schedule_problems(Schedule.model_validate(fields))
    assert words in problem


@pytest.mark.parametrize(
    "fields",
    [
        {"interval": "7s"},
        {"interval": "90s", "startTime": "2026-12-01T00:00:30Z", "endTime": "2026-12-01T00:20:00Z"},
        {"interval": "1h", "startTime": "2026-12-02T00:00:00Z"},
    ],
)
def test_an_interval_counts_its_firings_by_arithmetic_as_many_as_it_walks(fields) -> None:
    trigger = read_schedule(Schedule.model_validate(fields), created=at("2026-12-01T00:00:03Z"))
    for after, until in [("00:00:00", "00:30:00"), ("00:00:10", "00:00:17"), ("00:05:00", "00:04:00")]:
        window = at(f"2026-12-01T{after}Z"), at(f"2026-12-01T{until}Z")
        assert trigger.count(*window) == len(trigger.firings(*window, 1000))


def test_a_cron_is_not_counted_without_walking_it() -> None:
    assert (
        read_schedule(Schedule(cron="* * * * * *")).count(at("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z"))
        is None
    )
