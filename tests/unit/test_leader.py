"""Leader election's timings and decisions (controller/leader.py), without an API server."""

from __future__ import annotations

import threading
import time

import pytest

from kubeline.controller.leader import (
    Timings,
    Watchdog,
    identity,
    lease_namespace,
    standby_message,
    taken_from,
)


@pytest.mark.parametrize(
    ("timings", "problems"),
    [
        (Timings(), []),
        (Timings(15, 10, 2), []),
        (Timings(7, 7, 2), ["--lease-duration (7 s) must exceed --renew-deadline (7 s)"]),
        (Timings(10, 5, 2), ["--renew-deadline (5 s) must be at least 2 x --retry-period + 2 s (6 s)"]),
        (Timings(10, 7, 0), ["--retry-period (0 s) must be at least 1 s"]),
    ],
)
def test_timings_problems_name_the_flag(timings: Timings, problems: list[str]) -> None:
    found = timings.problems()
    assert len(found) == len(problems)
    for line, start in zip(found, problems, strict=True):
        assert line.startswith(start)


def test_default_timings_take_over_within_15_seconds_and_client_go_s_would_not() -> None:
    assert Timings().slowest_takeover <= 11  # leaves kopf 4 s to start and create the next pod
    assert Timings(15, 10, 2).slowest_takeover > 15


def test_a_hung_lease_request_fails_in_time_for_two_more_tries_before_the_renew_deadline() -> None:
    for timings in (Timings(), Timings(15, 10, 2), Timings(7, 6, 2)):
        assert not timings.problems()
        assert timings.request_timeout >= 1
        assert 2 * (timings.retry_period + timings.request_timeout) <= timings.renew_deadline


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"POD_NAME": "kubeline-7d9-abc"}, "kubeline-7d9-abc"), ({"POD_NAME": ""}, None), ({}, None)],
)
def test_identity_is_the_pod_name_else_unique_to_the_process(environ: dict[str, str], expected: str | None) -> None:
    me = identity(environ)
    if expected:
        assert me == expected
    else:
        assert me != identity(environ)  # two processes on one host never share a name


@pytest.mark.parametrize(
    ("explicit", "environ", "watched", "expected"),
    [
        ("leases", {"POD_NAMESPACE": "kubeline-system"}, ["team-a"], "leases"),
        (None, {"POD_NAMESPACE": "kubeline-system"}, ["team-a"], "kubeline-system"),
        (None, {}, ["team-a", "team-b"], "team-a"),
        (None, {}, [], "default"),
    ],
)
def test_lease_namespace(explicit: str | None, environ: dict[str, str], watched: list[str], expected: str) -> None:
    assert lease_namespace(explicit, environ, watched) == expected


@pytest.mark.parametrize(
    ("leading", "before", "holder", "message"),
    [
        (False, None, "op-a", "standing by behind op-a"),
        (False, "op-a", "op-a", None),  # said once, not every retry period
        (False, "op-a", "op-b", "standing by behind op-b"),
        (False, "op-a", None, None),  # released: taken at the next try
        (False, "op-a", "me", None),  # our own acquisition: "became leader" says it
        (True, "me", "op-b", None),  # a leader does not stand by: it stops acting
    ],
)
def test_standby_message(leading: bool, before: str | None, holder: str | None, message: str | None) -> None:
    assert standby_message("me", leading, before, holder) == message


@pytest.mark.parametrize(
    ("leading", "holder", "taken"),
    [(True, "me", False), (True, "op-b", True), (True, None, False), (False, "op-b", False)],
)
def test_taken_from(leading: bool, holder: str | None, taken: bool) -> None:
    assert taken_from("me", leading, holder) is taken


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watching(watchdog: Watchdog) -> threading.Thread:
    thread = threading.Thread(target=watchdog.watch, daemon=True)
    thread.start()
    return thread


def test_the_watchdog_counts_from_the_start_of_the_last_successful_renewal() -> None:
    clock, expired = Clock(), []
    watchdog = Watchdog(7, expired.append, clock)
    thread = watching(watchdog)
    watchdog.renewed(100.0)
    clock.now = 106.9
    watchdog.renewed(95.0)  # a slower, older request finishing late moves nothing back
    thread.join(0.05)
    assert not expired
    clock.now = 107.0
    watchdog.renewed(99.0)  # wakes it: still the renewal that began at 100 counts, and 7 s have passed
    thread.join(1)
    assert expired == [7.0]


def test_the_watchdog_fires_on_its_own_when_renewals_stop() -> None:
    expired: list[float] = []
    watchdog = Watchdog(0.2, expired.append)
    thread = watching(watchdog)
    thread.join(0.3)
    assert not expired  # a standby has nothing to lose
    watchdog.renewed(time.monotonic())
    thread.join(2)
    assert not thread.is_alive() and 0.2 <= expired[0] < 1


def test_a_disarmed_watchdog_never_fires() -> None:
    clock, expired = Clock(), []
    watchdog = Watchdog(7, expired.append, clock)
    thread = watching(watchdog)
    watchdog.renewed(100.0)
    watchdog.disarm()
    clock.now = 1000.0
    watchdog.disarm()  # wakes it again, long past the old deadline
    thread.join(0.1)
    assert thread.is_alive() and not expired
