"""kopf handlers: thin. A daemon per Run that needs one (not finished) does the work; events only wake it.

    kubeline operator --namespace NS        (or: kopf run -m kubeline.controller.handlers)

Pod events for a Run's pods, a change of spec.cancel, or a new Pipeline wake the Run's daemon, which
waits a moment so that a burst of events becomes one reconcile and one status write.

Operator state lives in kopf's memo (set at startup): a resource's memo is a shallow copy of the
operator's, so every handler sees the same `runs`. Every handler is `async def`: kopf runs a plain `def` in a
thread, and that state (the daemons' asyncio Events, the admission coordinator) belongs to the event loop alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf

from kubeline.api.constants import GROUP, RECURRING_RUN_LABEL, RUN_LABEL, VERSION
from kubeline.controller.admission import Admission
from kubeline.controller.config import OperatorConfig, load_config
from kubeline.controller.kube import REQUEST_TIMEOUT, Kube, RunGone, connect, event
from kubeline.controller.pods import cached_pod, disruption
from kubeline.controller.reconciler import FINISHED, RunReconciler, version_of
from kubeline.controller.recurring import RecurringRunReconciler, made_run, owned_by
from kubeline.controller.telemetry import RunPhases, run_daemons, timed_reconcile
from kubeline.controller.throttle import TokenBucket
from kubeline.engine.recurring import MadeRun

Key = tuple[str | None, str]  # a Run's namespace and name
#: How often the Runs gauge is checked against a full listing (for Runs deleted while a watch restarted).
RECOUNT_SECONDS = 60.0
#: RecurringRun passes at once: a thousand firing at the same second are served a few at a time, each creating its
#: Run promptly, rather than all listing first and all creating after (the API calls share a few threads).
RECURRING_PASSES = 16
#: kopf's per-object event workers: at most this many at once, each ending this long after its object's last event.
WORKER_LIMIT = 1000
WORKER_IDLE_SECONDS = 0.5
log = logging.getLogger("kubeline.operator")


@dataclass
class RunInFlight:
    """What a Run's daemon shares with the event handlers: the Run as its latest event showed it, the
    wake-up call, its pods as events report them (by name), its reconciler (which knows the status it wrote
    last), and the daemon's task."""

    run: Mapping[str, Any]
    uid: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    reconciler: RunReconciler | None = None
    task: asyncio.Task[None] | None = None


@dataclass
class RecurringInFlight:
    """A RecurringRun's daemon's wake-up call, the spec generation it last saw (its own status writes do not
    change the generation, so they do not wake it), its uid, and its Runs as their events report them."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    generation: int | None = None
    uid: str | None = None
    runs: dict[str, MadeRun] = field(default_factory=dict)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    config_file = os.environ.get("KUBELINE_CONFIG")
    memo.config = load_config(Path(config_file) if config_file else None)
    qps = memo.config.api_qps
    memo.kube = Kube(connect(), TokenBucket(qps, memo.config.api_burst, time.monotonic()) if qps else None)
    memo.runs = {}  # Key -> RunInFlight, for the Runs whose daemons are running
    memo.recurring = {}  # Key -> RecurringInFlight, for the RecurringRuns whose daemons are running
    memo.recurring_passes = asyncio.Semaphore(RECURRING_PASSES)
    memo.phases = RunPhases()  # every Run's phase, for the metrics
    memo.recount = asyncio.get_running_loop().create_task(recount_runs(memo.kube, memo.phases, memo.runs))
    # kopf's bookkeeping lives under kubeline's own group, in annotations (Run.status belongs to kubeline)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    # a connection can go silent without an error: a watch with no event (not even a bookmark, sent every
    # minute) for inactivity_timeout (kopf's default, 70 s) is made again, and kopf's own calls are bounded
    settings.networking.connect_timeout = REQUEST_TIMEOUT[0]
    settings.networking.request_timeout = REQUEST_TIMEOUT[1]
    # kopf serves each object's events (every step pod is one) in a worker of its own, which lingers idle_timeout
    # after its object's last event, holding one of worker_limit slots; the events of a pod whose worker waits for
    # a slot wait too. A 5 s linger (kopf's default) with 200 slots starts at most 40 workers a second: in a
    # 1,000-step fan-out, 1 pod in 10 was seen finished by the Run's daemon over 5 s after a plain watch saw it,
    # the worst 12 s, and the Run's end waited as long (benchmarks/operator_bench.py). A short linger frees slots
    # at the pace pods change; the limit keeps a burst (10,000 pods, or 10,000 Runs listed at startup) from
    # holding a task each at once (an idle asyncio task waiting on a queue takes 6 KiB; a kopf worker more).
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = WORKER_IDLE_SECONDS
    logger.info("kubeline operator configured: %s", memo.config.to_dict())


@kopf.on.cleanup()
async def stop_recount(memo: kopf.Memo, **_: Any) -> None:
    memo.recount.cancel()


async def recount_runs(kube: Kube, phases: RunPhases, runs: dict[Key, RunInFlight]) -> None:
    """Forget, every RECOUNT_SECONDS, the Runs a full listing no longer has: kopf re-lists after a watch's
    "410 Gone" without a DELETED event for the Runs deleted in between, and the gauge would count them, and
    their daemons pass over them, forever."""
    while True:
        await asyncio.sleep(RECOUNT_SECONDS)
        for namespace in phases.namespaces():
            if namespace is None:
                continue
            try:
                names, version = await kube.list_runs(namespace)
            except Exception as error:  # noqa: BLE001 - any failure: the gauge waits for the next listing
                log.warning("listing the Runs of %s for the kubeline_runs gauge failed: %s", namespace, error)
                continue
            phases.listed(namespace, names, version)
            for key, flight in list(runs.items()):
                if key[0] == namespace and key[1] not in names and version_of(flight.run) <= version:
                    stop_daemon(runs, key)


async def woken_or_due(wake: asyncio.Event, due: float) -> None:
    """A daemon's sleep between passes: until an event wakes it, or its next pass is due."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=due)
    except TimeoutError:
        pass


def needs_daemon(run: Mapping[str, Any]) -> bool:
    """Whether a Run needs the operator: one not finished, or finished with a ttlAfterFinished to wait out. A
    finished Run holds nothing (no task, no cached pods, no finalizer): 10,000 of them cost kopf's bookkeeping."""
    status = run.get("status") or {}
    if status.get("phase") not in FINISHED:
        return True
    return bool((status.get("pipelineSpec") or {}).get("ttlAfterFinished"))


@kopf.on.event(GROUP, VERSION, "runs")
async def run_changed(event: kopf.RawEvent, name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """The Run's daemon (a task of the operator's, not kopf's: a kopf daemon puts a finalizer on every Run, a
    write each, and holds it while it lives) started when the Run needs one, kept current, cancelled with the Run.
    Events of a Run and of a new one of the same name may come in either order (kopf serves each uid apart):
    a daemon belongs to one uid."""
    runs: dict[Key, RunInFlight] = memo.runs
    run = event["object"]
    uid = (run.get("metadata") or {}).get("uid")
    flight = runs.get((namespace, name))
    if flight is not None and flight.uid != uid:  # another Run of that name: a late event, or a new Run
        if event["type"] == "DELETED":
            return
        stop_daemon(runs, (namespace, name))
        flight = None
    if event["type"] == "DELETED":
        stop_daemon(runs, (namespace, name))
    elif flight is not None:
        flight.run = run
    elif needs_daemon(run):
        start_daemon(memo, run, name, namespace or "")  # Runs are namespaced


def start_daemon(memo: kopf.Memo, run: Mapping[str, Any], name: str, namespace: str) -> None:
    flight = memo.runs[namespace, name] = RunInFlight(run=run, uid=run["metadata"].get("uid"))
    flight.task = asyncio.get_running_loop().create_task(
        run_daemon(flight, name, namespace, memo), name=f"run {namespace}/{name}"
    )


def stop_daemon(runs: dict[Key, RunInFlight], key: Key) -> None:
    """At once: a new Run of the same name gets a daemon of its own, which the old one's end leaves alone."""
    gone = runs.pop(key, None)
    if gone is not None and gone.task is not None:
        gone.task.cancel()


async def run_daemon(flight: RunInFlight, name: str, namespace: str, memo: kopf.Memo) -> None:
    """Passes over the Run until it needs none (finished, its TTL waited out), each when an event wakes it or
    when the last one said."""
    config: OperatorConfig = memo.config
    reconciler = RunReconciler(memo.kube, config, namespace, name, flight.pods, memo.admission)
    run_daemons.inc()
    flight.reconciler = reconciler
    failing = False
    try:
        # the Run as it is now, not as the event that started this daemon showed it: a late event of a Run whose
        # last daemon just finished it would otherwise run it again from an older status
        current = await memo.kube.get_run(namespace, name)
        if current is None or current["metadata"].get("uid") != flight.uid:
            return
        if version_of(current) > version_of(flight.run):
            flight.run = current
        while True:
            flight.wake.clear()
            try:
                with timed_reconcile():
                    due = await reconciler.reconcile(flight.run)
                failing = False
            except RunGone:
                return  # deleted (a deletion a restarted watch never reported)
            except Exception as error:
                log.exception("reconcile of run %s/%s failed; retrying", namespace, name)
                if not failing:  # once per spell of failures, on the Run itself (kubectl describe)
                    event(
                        flight.run, "Warning", "ReconcileFailed", f"a pass failed, retrying every 5 s: {error}"[:1024]
                    )
                failing, due = True, 5.0
            if due is None:
                return
            await woken_or_due(flight.wake, due)
            await asyncio.sleep(config.batch_seconds)  # let the rest of a burst of events arrive
    finally:
        if memo.runs.get((namespace, name)) is flight:  # not a new Run of the same name
            del memo.runs[namespace, name]
        run_daemons.dec()


@kopf.on.cleanup()
async def stop_run_daemons(memo: kopf.Memo, **_: Any) -> None:
    """The operator stops: its Runs' passes end where they are (the next operator completes them)."""
    tasks = [flight.task for flight in memo.runs.values() if flight.task is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@kopf.on.event(GROUP, VERSION, "runs")
async def run_seen(
    event: kopf.RawEvent, status: kopf.Status, name: str, namespace: str | None, memo: kopf.Memo, **_: Any
) -> None:
    """Every Run's phase for the Runs-by-phase gauge (a Run with no status yet is Pending)."""
    phases: RunPhases = memo.phases
    phase = None if event["type"] == "DELETED" else status.get("phase") or "Pending"
    phases.seen((namespace, name), phase, version_of(event["object"]))


@kopf.on.event("", "v1", "pods", labels={RUN_LABEL: kopf.PRESENT})
async def pod_changed(
    event: kopf.RawEvent, labels: Mapping[str, str], namespace: str | None, name: str, memo: kopf.Memo, **_: Any
) -> None:
    flight = memo.runs.get((namespace, labels[RUN_LABEL]))
    if flight is None:
        return
    if event["type"] == "DELETED" and not disruption(event["object"]):
        flight.pods.pop(name, None)
    else:
        # a pod Kubernetes took away (its node gone: marked Failed and deleted at once) keeps its last state, which
        # says why, until the daemon's next list of the pods drops it: its step's message is Kubernetes' reason
        flight.pods[name] = cached_pod(event["object"])
    flight.wake.set()


@kopf.on.event(GROUP, VERSION, "runs", when=lambda spec, **_: bool(spec.get("cancel")))
async def cancel_requested(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    flight = memo.runs.get((namespace, name))
    if flight is not None:
        flight.wake.set()


@kopf.on.event(GROUP, VERSION, "runs")
async def status_changed(name: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Another client wrote a running Run's status: its daemon restores the truth at once, not at the next resync."""
    flight = memo.runs.get((namespace, name))
    if flight is not None and flight.reconciler is not None and flight.reconciler.to_restore(body, time.time()):
        flight.wake.set()


@kopf.on.event(GROUP, VERSION, "pipelines")
async def pipeline_changed(namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Runs waiting for a Pipeline that did not exist look again."""
    for (run_namespace, _name), flight in list(memo.runs.items()):
        if run_namespace == namespace:
            flight.wake.set()


@kopf.daemon(GROUP, VERSION, "recurringruns", cancellation_timeout=5.0, initial_delay=0)
async def recurring_run_daemon(
    name: str,
    namespace: str | None,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """Sleeps until the RecurringRun's next trigger, or until its spec changes or one of its Runs ends."""
    flights: dict[Key, RecurringInFlight] = memo.recurring
    flight = flights.setdefault((namespace, name), RecurringInFlight())
    flight.uid = body.metadata.uid
    reconciler = RecurringRunReconciler(memo.kube, namespace or "", name, flight.runs)  # RecurringRuns are namespaced
    try:
        while not stopped:
            flight.wake.clear()
            flight.generation = body.metadata.get("generation")
            try:
                async with memo.recurring_passes:
                    due = await reconciler.reconcile(body)
            except Exception:
                logger.exception("pass over recurring run %s/%s failed; retrying", namespace, name)
                due = 5.0
            await woken_or_due(flight.wake, due)
    finally:
        flights.pop((namespace, name), None)


@kopf.on.event(GROUP, VERSION, "recurringruns")
async def recurring_run_changed(name: str, namespace: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """An edit of the spec (suspend, schedule…) takes effect at once, not at the next trigger."""
    flight = memo.recurring.get((namespace, name))
    if flight is not None and body.metadata.get("generation") != flight.generation:
        flight.wake.set()


@kopf.on.event(GROUP, VERSION, "runs", labels={RECURRING_RUN_LABEL: kopf.PRESENT})
async def recurring_runs_run_changed(
    event: kopf.RawEvent,
    labels: Mapping[str, str],
    namespace: str | None,
    status: kopf.Status,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    """The RecurringRun's Runs kept current; one ended or went: a waiting trigger may start, a history limit apply."""
    flight = memo.recurring.get((namespace, labels[RECURRING_RUN_LABEL]))
    run = event["object"]
    if flight is None or flight.uid is None or not owned_by(run, flight.uid):
        return
    if event["type"] == "DELETED":
        flight.runs.pop(run["metadata"]["name"], None)
    else:
        flight.runs[run["metadata"]["name"]] = made_run(run)
    if event["type"] == "DELETED" or status.get("phase") in FINISHED:
        flight.wake.set()


# -- queues and namespace limits: one admission coordinator, fed by events ------------------------------------


@kopf.on.startup()
async def start_admission(memo: kopf.Memo, **_: Any) -> None:
    """After `configure` (kopf runs startup handlers in order): the coordinator, its Queue status writer, and
    its periodic re-listing (for deletions a restarted watch never reported)."""
    runs: dict[Key, RunInFlight] = memo.runs

    def wake(namespace: str, name: str) -> None:
        flight = runs.get((namespace, name))
        if flight is not None:
            flight.wake.set()

    memo.admission = Admission(memo.kube, memo.config.namespace_limits, wake)
    loop = asyncio.get_running_loop()
    memo.admission_tasks = [loop.create_task(memo.admission.publish()), loop.create_task(memo.admission.relist())]


@kopf.on.cleanup()
async def stop_admission(memo: kopf.Memo, **_: Any) -> None:
    for task in memo.admission_tasks:
        task.cancel()


@kopf.on.event(GROUP, VERSION, "runs")
async def run_admission(event: kopf.RawEvent, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """A Run's queue, priority, start or end: the room and places of the others."""
    memo.admission.run_seen(namespace or "", event["object"], deleted=event["type"] == "DELETED")


@kopf.on.event(GROUP, VERSION, "queues")
async def queue_admission(event: kopf.RawEvent, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    memo.admission.queue_seen(namespace or "", event["object"], deleted=event["type"] == "DELETED")


@kopf.on.event("", "v1", "pods", labels={RUN_LABEL: kopf.PRESENT})
async def pod_admission(event: kopf.RawEvent, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    """Step pods running across the namespace, for its step pod limit."""
    memo.admission.pod_seen(namespace or "", event["object"], deleted=event["type"] == "DELETED")
