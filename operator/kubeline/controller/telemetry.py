"""The operator's Prometheus metrics, and its HTTP server for /metrics and /healthz.

(engine/metrics.py is another thing: the metrics steps report as their outputs.) The server starts with the
process, before leader election, so a standby replica answers probes and scrapes too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

from kubeline.controller.transitions import StepChange

RUN_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")

runs = Gauge("kubeline_runs", "Runs by phase, as the operator's watch last saw them", ["phase"])
step_outcomes = Counter(
    "kubeline_step_outcomes_total",
    "Step outcomes seen by this process: succeeded, failed, cached, skipped, and retried (an attempt that failed "
    "and was tried again)",
    ["outcome"],
)
step_duration = Histogram(
    "kubeline_step_duration_seconds",
    "How long step attempts ran, by outcome",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
cache_lookups = Counter("kubeline_cache_lookups_total", "Cache lookups of steps about to start, by result", ["result"])
reconcile_duration = Histogram("kubeline_reconcile_duration_seconds", "How long one reconcile pass of a Run took")
api_requests = Counter(
    "kubeline_api_requests_total",
    "Kubernetes API requests made by the operator's reconcilers (not kopf's own, not leader election's), "
    "by verb and HTTP code",
    ["verb", "code"],
)
api_waits = Counter(
    "kubeline_api_wait_seconds_total",
    "Seconds the reconcilers' API calls waited before being sent: on the client-side rate limit (by=client), "
    "or as a 429 (or 5xx) answer's Retry-After asked (by=server)",
    ["by"],
)
api_retries = Counter(
    "kubeline_api_retries_total",
    "API calls sent again after a 429 Too Many Requests (API Priority and Fairness) or a 5xx with Retry-After, "
    "by verb and HTTP code",
    ["verb", "code"],
)
schedule_lag = Histogram(
    "kubeline_schedule_lag_seconds",
    "How late RecurringRuns' Runs were created after their scheduled time (caught-up triggers included)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
run_daemons = Gauge("kubeline_run_daemons", "Runs whose daemons are alive in this process")
leader = Gauge("kubeline_leader", "1 while this replica leads (always 1 when leader election is off)")
#: What /healthz checks besides the event loop answering: each returns what is dead, else None.
health_checks: list[Callable[[], str | None]] = []


def set_leader(leading: bool) -> None:
    """The leader election's hook: this replica leads, or has stopped leading."""
    leader.set(1 if leading else 0)


class RunPhases:
    """Every watched Run's phase and resourceVersion by (namespace, name), so that the gauge counts all Runs, not
    only those with a daemon alive. A deleted Run leaves it; so does one a full listing no longer has (a watch
    restarted after "410 Gone" re-lists without a DELETED event for what vanished in between)."""

    def __init__(self) -> None:
        self.phases: dict[tuple[str | None, str], tuple[str, int]] = {}
        for phase in RUN_PHASES:
            runs.labels(phase).set(0)

    def seen(self, key: tuple[str | None, str], phase: str | None, version: int = 0) -> None:
        """The Run's phase now, at its resourceVersion (None: it was deleted)."""
        before = self.phases.pop(key, None)
        if phase is not None:
            self.phases[key] = (phase, version)
        was = before[0] if before is not None else None
        if was == phase:
            return
        if was is not None:
            runs.labels(was).dec()
        if phase is not None:
            runs.labels(phase).inc()

    def namespaces(self) -> set[str | None]:
        return {namespace for namespace, _ in self.phases}

    def listed(self, namespace: str | None, names: set[str], list_version: int) -> None:
        """A full listing of the namespace's Runs, taken at ``list_version``: those it lacks are gone, unless seen
        at a newer version (created since). Only deletions can be missed: a re-list brings every Run that is."""
        for key, (_, version) in list(self.phases.items()):
            if key[0] == namespace and key[1] not in names and version <= list_version:
                self.seen(key, None)


def record_steps(changes: Iterable[StepChange]) -> None:
    for change in changes:
        if change.kind != "started":
            step_outcomes.labels(change.kind).inc()
        if change.seconds is not None:
            step_duration.labels(change.kind).observe(change.seconds)


def cache_lookup(hit: bool) -> None:
    cache_lookups.labels("hit" if hit else "miss").inc()


@contextmanager
def timed_reconcile() -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        reconcile_duration.observe(time.monotonic() - start)


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``0.0.0.0:8080``, ``[::]:8080``) as a host and a port; ValueError saying how to write it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics-address {address!r} is not HOST:PORT, e.g. 0.0.0.0:8080")
    return host.strip("[]"), int(port)


async def _metrics(_: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(_: web.Request) -> web.Response:
    """Alive when the event loop answers and every registered check passes (the leader election's threads):
    a standby replica is healthy too."""
    dead = [problem for check in health_checks if (problem := check())]
    if dead:
        return web.Response(status=503, text="".join(f"{problem}\n" for problem in dead))
    return web.Response(text="ok\n")


@asynccontextmanager
async def serving(address: str | None) -> AsyncIterator[None]:
    """/metrics and /healthz on ``address`` (HOST:PORT) while the block runs; nothing when it is None."""
    if address is None:
        yield
        return
    host, port = parse_address(address)
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()
