"""Leader election's timings and decisions (controller/leader.py), without an API server."""

from __future__ import annotations

import asyncio
import copy
import datetime
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection

from kubeline.commands.operator import _requests_finished
from kubeline.controller import telemetry
from kubeline.controller.kube import _dead, _Elector, _GuardedLease
from kubeline.controller.leader import (
    Refusals,
    Timings,
    Watchdog,
    identity,
    lease_namespace,
    may_take,
    overwritten,
    standby_message,
    taken_from,
)


@pytest.mark.parametrize(
    ("timings", "problems"),
    [
        (Timings(), []),
        (Timings(15, 10, 2), []),
        (Timings(9, 7, 1), []),
        (Timings(8, 7, 1), ["--lease-duration (8 s) must be at least --renew-deadline + 2 s (9 s)"]),
        (Timings(10, 5, 2), ["--renew-deadline (5 s) must be at least 2 x --retry-period + 2 s (6 s)"]),
        (Timings(10, 7, 0), ["--retry-period (0 s) must be at least 1 s"]),
    ],
)
def test_timings_problems_name_the_flag(timings: Timings, problems: list[str]) -> None:
    found = timings.problems()
    assert len(found) == len(problems)
    for line, start in zip(found, problems, strict=True):
        assert line.startswith(start)


@pytest.mark.parametrize("timings", [Timings(), Timings(15, 10, 2), Timings(8, 6, 2)])
def test_a_renewal_whose_get_and_put_both_hang_leaves_time_for_another_before_the_watchdog(timings: Timings) -> None:
    assert not timings.problems()
    clock, expired = Clock(), []
    watchdog = Watchdog(timings.renew_deadline, expired.append, clock)
    thread = watching(watchdog)
    watchdog.renewed(clock.now)
    clock.now += timings.retry_period + 2 * timings.request_timeout  # a try: the GET hangs, then the PUT
    clock.now += timings.retry_period
    second_try = clock.now
    clock.now += 0.1  # answered at once
    watchdog.renewed(0.0)  # wakes the watchdog at the moment the answer comes, moving nothing
    thread.join(0.05)
    assert not expired
    watchdog.renewed(second_try)
    assert not expired


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


@pytest.mark.parametrize(
    ("holder", "seconds_unchanged", "may"),
    [
        ("me", 0, True),  # a renewal
        (None, 0, True),  # released, or never held
        ("", 0, True),
        ("op-a", 29, False),  # the Lease says 30 s: longer than this replica's 10 s counts
        ("op-a", 30, True),
    ],
)
def test_may_take_waits_the_longer_of_both_lease_durations(
    holder: str | None, seconds_unchanged: float, may: bool
) -> None:
    assert may_take("me", holder, (10, 30), 100.0, 100.0 + seconds_unchanged) is may


@pytest.mark.parametrize(
    ("leading", "verb", "status", "stops"),
    [
        (True, "replace", 409, True),
        (True, "create", 409, True),
        (True, "get", 409, False),
        (False, "create", 409, False),
    ],
)
def test_a_leader_whose_write_conflicts_stops_acting(leading: bool, verb: str, status: int, stops: bool) -> None:
    assert overwritten(leading, verb, status) is stops


def test_refused_lease_requests_are_said_once_per_change() -> None:
    refusals = Refusals("kubeline-system/kubeline-operator")
    said = [
        refusals.answered(verb, status)
        for verb, status in [("get", 403), ("get", 403), ("get", 500), ("get", None), ("get", None)]
    ]
    assert said[0] == (
        "Lease kubeline-system/kubeline-operator: get answered 403; this replica cannot lead until it is fixed "
        "(the Role must grant get, create and update on leases in namespace kubeline-system)"
    )
    assert said[1] is None and said[2] is not None and "answered 500" in said[2]
    assert said[3:] == ["Lease kubeline-system/kubeline-operator requests are answered again", None]
    assert refusals.answered("create", 409) is None  # another replica created it first: the election's course


class OneLease:
    """One Lease kept in memory, answered as the API server would: what is checked is when the elector writes."""

    def __init__(self, holder: str, lease_duration: int):
        now = datetime.datetime.now(datetime.UTC)
        spec = client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=lease_duration, acquire_time=now, renew_time=now
        )
        self.lease = client.V1Lease(metadata=client.V1ObjectMeta(name="kubeline-operator", namespace="ns"), spec=spec)
        self.writes = 0

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> client.V1Lease:
        return copy.deepcopy(self.lease)

    def replace_namespaced_lease(self, name: str, namespace: str, body: client.V1Lease, **_: Any) -> client.V1Lease:
        self.writes += 1
        self.lease = body
        return body


def standby(lease: OneLease, monotonic: Clock, wall: Clock, monkeypatch: pytest.MonkeyPatch) -> _Elector:
    """A standby "me" with a 10 s lease duration, its clocks under the test's control."""
    monkeypatch.setattr(leaderelection, "time", SimpleNamespace(time=wall))  # the library's wall clock only
    lock = _GuardedLease("kubeline-operator", "ns", "me", 10, monotonic)
    lock.api_instance = lease
    config = electionconfig.Config(lock, 10, 7, 1, onstarted_leading=lambda: None, onstopped_leading=lambda: None)
    return _Elector(config, lambda started, succeeded: None, lambda holder: None)


def test_a_standby_waits_out_the_lease_duration_written_in_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leader started with longer timings (a helm upgrade under way) keeps its lease for its own duration."""
    lease, monotonic, wall = OneLease("op-a", 30), Clock(), Clock()
    elector = standby(lease, monotonic, wall, monkeypatch)
    assert not elector.try_acquire_or_renew()
    monotonic.now += 11
    wall.now += 11
    assert not elector.try_acquire_or_renew() and lease.writes == 0
    monotonic.now += 20
    wall.now += 20
    assert elector.try_acquire_or_renew() and lease.lease.spec.holder_identity == "me"


def test_a_standby_measures_the_lease_on_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    lease, monotonic, wall = OneLease("op-a", 10), Clock(), Clock()
    elector = standby(lease, monotonic, wall, monkeypatch)
    assert not elector.try_acquire_or_renew()
    monotonic.now += 1
    wall.now += 3600  # NTP steps the wall clock an hour forward
    assert not elector.try_acquire_or_renew() and lease.writes == 0


def test_a_fresh_process_is_no_leader_until_the_election_says_so() -> None:
    """A standby never reports kubeline_leader 1, not even while it starts."""
    code = "from prometheus_client import REGISTRY; import kubeline.controller.telemetry; "
    code += "print(REGISTRY.get_sample_value('kubeline_leader'))"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "0.0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthz_fails_when_the_elector_thread_has_died(monkeypatch: pytest.MonkeyPatch) -> None:
    ended = threading.Thread(target=lambda: None, name="lease-elector")
    ended.start()
    ended.join()
    monkeypatch.setattr(telemetry, "health_checks", [lambda: _dead(ended)])
    address = f"127.0.0.1:{free_port()}"

    def healthz() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    async def probe() -> tuple[int, str]:
        async with telemetry.serving(address):
            return await asyncio.to_thread(healthz)

    assert asyncio.run(probe()) == (503, "thread lease-elector has ended: restart this replica\n")


@pytest.mark.parametrize(("request_seconds", "within", "finished"), [(0.3, 5.0, True), (2.0, 0.1, False)])
def test_the_lease_is_released_only_after_requests_in_flight_end(
    request_seconds: float, within: float, finished: bool
) -> None:
    """kopf cancels the reconcilers' tasks, not the worker threads running their requests."""
    ended = threading.Event()

    def request() -> None:
        time.sleep(request_seconds)
        ended.set()

    async def stop() -> tuple[bool, bool]:
        in_flight = asyncio.ensure_future(asyncio.to_thread(request))
        await asyncio.sleep(0.05)
        in_flight.cancel()  # as kopf does at its stop: the thread runs on
        return await _requests_finished(within), ended.is_set()

    assert asyncio.run(stop()) == (finished, finished)
