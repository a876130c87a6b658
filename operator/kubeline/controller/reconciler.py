"""One Run's reconcile pass: read, ask the engine, act, write the status once.

Level-based: every pass starts from the Run (or the status this reconciler wrote last, which is never
older than the server's) and the pods that exist, so repeated, late or lost events change nothing, and
a pass interrupted anywhere is completed by the next one. A pod is created before it is recorded; its
deterministic name makes a second creation a no-op, and its labels let a restarted operator adopt it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from kubeline.api.constants import API_VERSION, ATTEMPT_ANNOTATION, RUN_LABEL, STEP_ANNOTATION, TASK_LABEL
from kubeline.api.durations import parse_duration
from kubeline.api.limits import MAX_FROZEN_RUN_BYTES
from kubeline.api.models import (
    CacheEntry,
    CacheEntrySpec,
    ObjectMeta,
    RunRecord,
    RunRecordSpec,
    RunStatus,
    TaskStatus,
)
from kubeline.api.problems import PipelineInvalid
from kubeline.api.records import merged_tasks, record_name
from kubeline.controller import records, telemetry, transitions
from kubeline.controller import status as statuses
from kubeline.controller.claims import artifact_claim, volume_claim
from kubeline.controller.config import OperatorConfig
from kubeline.controller.kube import ClaimNotCreated, Kube, PodNameTaken, PodRefused, event
from kubeline.controller.pods import PodNotAllowed, PodStore, RunRef, check_service_account, render_pod
from kubeline.engine import caching, retry, stepid
from kubeline.engine.plan import Plan, build, load_spec, uses_artifacts
from kubeline.engine.run import bind_arguments, decide, default_values
from kubeline.engine.state import Decision, RunState, StartStep, StepState

if TYPE_CHECKING:
    from kubeline.controller.admission import Admission

FINISHED = ("Succeeded", "Failed", "Cancelled")
PIPELINE_RETRY_SECONDS = 10.0
CONCURRENT_CALLS = 16  # API calls in flight for one Run: fast fan-outs without flooding the API server
#: Most steps one pass starts: a fan-out of 10,000 writes its progress (and sees steps end) every few hundred
#: pods instead of once after creating them all.
STARTS_PER_PASS = 500
#: Least time between two restorations of a status another client wrote: two writers that each restore their
#: own (a second operator acting on the same Runs) take turns this slowly instead of in a tight loop.
RESTORE_SECONDS = 5.0

#: Step changes, one line each with run and step fields (not kopf's Run logger: that posts each line as an Event).
log = logging.getLogger("kubeline.steps")
#: Where each pass of a running Run spends its time (debug: `kubeline operator -v`).
passes = logging.getLogger("kubeline.passes")


class Laps:
    """Seconds spent in each stage of a pass, for one debug line: a slow pass says which stage to look at."""

    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps.append((stage, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{stage} {seconds:.3f} s" for stage, seconds in self.laps)


class RunReconciler:
    def __init__(
        self,
        kube: Kube,
        config: OperatorConfig,
        namespace: str,
        name: str,
        pods: dict[str, dict[str, Any]] | None = None,
        admission: Admission | None = None,
    ):
        self.kube, self.config = kube, config
        #: Queues and namespace limits (None: none, as in tests of the reconciler alone).
        self.admission = admission
        self.namespace, self.name = namespace, name
        #: The Run's pods by name, kept current by pod events; listed afresh whenever it may be behind.
        self.pods = pods if pods is not None else {}
        self.listed_at: float | None = None  # when the pods were last listed (None: never)
        self.written: RunStatus | None = None  # the status as this reconciler last wrote it
        #: The same with every step's entry, those its RunRecords hold included (None: not read yet).
        self.known: RunStatus | None = None
        #: The run's RunRecords, as its status names them, and the step entries they hold.
        self.record_names: list[str] = []
        self.recorded: dict[str, TaskStatus] = {}
        self.uid = ""
        self.written_version = 0  # the Run's resourceVersion right after that write
        #: The status of a write not answered yet: its watch event may come first, and is no other client's.
        self.writing: RunStatus | None = None
        self.restored_at = 0.0  # when a status another client wrote was last replaced by this one
        self.plan: Plan | None = None
        self.params: dict[str, Any] = {}
        self.volume_ready = False
        #: Claims the run's steps cannot have (refused, or deleted while the run ran), with why, by claim name.
        self.unavailable: dict[str, str] = {}
        self.retry_soon = False  # a pod name was still taken by an older Run's pod
        self.held_back = False  # the namespace's step pod limit held back a step of the last pass
        self.events = transitions.EventBatch()  # step changes not yet posted as Events
        #: A retry's spec.retryOf.fromSteps and what follows them: steps run again, never served from the cache.
        self.runs_again: retry.Downstream | None = None

    async def reconcile(self, run: Mapping[str, Any]) -> float | None:
        """One pass over the Run (kopf's live view of it); returns seconds until the next pass is due
        (events may come sooner), None when there is nothing left to do."""
        now = time.time()
        self.uid = run["metadata"]["uid"]
        if self.written is not None and self.to_restore(run, now):
            event(run, "Warning", "StatusOverwritten", "another client wrote the Run's status; kubeline restored it")
            await self._write_listed(self.written)
            self.restored_at = now
        status = self.known if self.known is not None else await self._read(run)
        if status.phase in FINISHED:
            return await self._after_finish(run, status, now)
        if self.plan is None:
            if status.started_at is None and (run.get("spec") or {}).get("cancel"):
                return await self._cancel_unstarted(run, status, now)
            if status.started_at is None and not await self._admitted(run, status, now):
                return self.config.resync_seconds  # woken sooner when room frees or its place changes
            status = await self._start(run, status, now)
            if self.plan is None:
                if status.phase != "Pending":
                    return None  # failed before starting: its end, seen by admission, frees its room
                if self.admission is not None:
                    self.admission.release(self.namespace, self.name)  # its Pipeline is missing: no room held
                return PIPELINE_RETRY_SECONDS
        return await self._advance(run, status, now)

    # -- admission: queues and namespace limits ------------------------------------------------------------

    async def _cancel_unstarted(self, run: Mapping[str, Any], status: RunStatus, now: float) -> float | None:
        """A Run cancelled before it started (queued, waiting for its Pipeline, or created cancelled) ends at once:
        no room taken, no pipeline frozen, no claim, no pod, no exit handler (it has nothing to clean up after)."""
        message = "cancelled before it started"
        cancelled = await self._write(statuses.cancelled_status(message, status, now))
        event(run, "Warning", "Cancelled", message)
        return await self._after_finish(run, cancelled, now)

    async def _admitted(self, run: Mapping[str, Any], status: RunStatus, now: float) -> bool:
        """Whether the Run may start now; when not, its status says why and where it waits (written only when
        that changes)."""
        if self.admission is None:
            return True
        reason = await self.admission.ask(self.namespace, run)
        if reason is None:
            return True
        if status.phase != "Pending" or status.message != reason:
            await self._write(statuses.queued_status(reason, status, now))
        return False

    async def _pod_room(self, start: StartStep) -> bool:
        """Whether the namespace's step pod limit leaves room for the step's pod now; when not, the step stays
        Pending (the engine starts it again on a later pass) and the Run is woken when a step pod ends."""
        if self.admission is None:
            return True
        pod = stepid.pod_name(self.name, start.id, start.attempt)
        return await self.admission.take_pod(self.namespace, self.name, pod)

    def _settle_pod_room(self, start: StartStep, made: bool) -> None:
        """The room _pod_room took for the step's pod: counted from now on by the pod's events if the pod was
        made, else given back."""
        if self.admission is None:
            return
        pod = stepid.pod_name(self.name, start.id, start.attempt)
        if made:
            self.admission.pod_created(self.namespace, pod)
        else:
            self.admission.release_pod(self.namespace, pod)

    # -- starting: find, check and freeze the pipeline ----------------------------------------------------

    async def _start(self, run: Mapping[str, Any], status: RunStatus, now: float) -> RunStatus:
        frozen = status.pipeline_spec
        spec = run.get("spec") or {}
        retry_of: dict[str, Any] = spec.get("retryOf") or {}
        original: RunStatus | None = None
        if frozen is None:
            if retry_of:
                original, problem = await self._original(retry_of["name"], spec)
                if original is None:
                    event(run, "Warning", "RetryInvalid", problem)
                    return await self._write(statuses.failed_status(problem, None, now, reason="RetryInvalid"))
                frozen = original.pipeline_spec
            elif spec.get("pipelineSpec") is not None:
                frozen = spec["pipelineSpec"]
            else:
                name = (spec.get("pipelineRef") or {}).get("name", "")
                pipeline = await self.kube.get_pipeline(self.namespace, name)
                if pipeline is None:
                    message = (
                        f"Pipeline {name!r} not found in namespace {self.namespace}; the run starts when it exists"
                    )
                    if status.message != message:
                        event(run, "Warning", "PipelineNotFound", message)
                    return await self._write(statuses.pending_status(message, status, now))
                frozen = pipeline.get("spec")
            too_large = _too_large_to_freeze(run, frozen)
            if too_large:
                event(run, "Warning", "PipelineTooLarge", too_large)
                return await self._write(statuses.failed_status(too_large, None, now, reason="PipelineTooLarge"))
        try:
            plan = build(load_spec(frozen, "pipeline.spec"))
            arguments = status.arguments
            if arguments is None and original is not None:  # a retry: the values the original ran with
                arguments = original.arguments or {}
            elif arguments is None:  # frozen with the defaults, whose run placeholders take this run's values
                arguments = {**default_values(plan, self._identity(run)), **(spec.get("arguments") or {})}
            params = bind_arguments(plan, arguments)
            claims = self._volume_claims(run, plan, params)
        except (PipelineInvalid, ValueError) as problem:
            verb = "start" if status.started_at is None else "go on"
            message = f"the run cannot {verb} (fix the pipeline or arguments, then create a new Run): {problem}"
            event(run, "Warning", "InvalidPipeline", message)
            return await self._write(statuses.failed_status(message, frozen, now, base=status))
        if status.started_at is not None:  # a restarted operator: the claims were made when the run started
            await self._find_missing_claims(run, claims)
        else:
            try:
                await self._create_volumes(claims)
            except ClaimNotCreated as error:
                message = f"the run cannot start: {error}; fix the pipeline's spec.volumes (or the namespace's quota)"
                event(run, "Warning", "VolumeNotCreated", message)
                return await self._write(statuses.failed_status(message, frozen, now, reason="VolumeNotCreated"))
        volumes = {name: claim["metadata"]["name"] for name, claim in claims.items()} or None
        status = status.model_copy(update={"volumes": volumes})
        if status.started_at is None:
            location = self.config.artifact_store.for_namespace(self.namespace)
            started = {
                "pipeline_spec": frozen,
                "arguments": arguments,
                "started_at": statuses.timestamp(now),
                "queue": spec.get("queue"),  # the one it was admitted from, whatever spec.queue says later
                "artifact_store": PodStore(location).url if location is not None else None,
            }
            note = ""
            if original is not None:
                try:
                    selection = retry.select(
                        plan,
                        retry_of["name"],
                        original.tasks or {},
                        retry_of.get("fromSteps") or (),
                        files_readable=original.artifact_store is not None and location is not None,
                    )
                except retry.RetryInvalid as problem:
                    message = f"the retry cannot start: spec.retryOf.fromSteps: {problem}"
                    event(run, "Warning", "RetryInvalid", message)
                    return await self._write(statuses.failed_status(message, frozen, now, reason="RetryInvalid"))
                started["tasks"] = selection.reused or None  # with the frozen pipeline: a restart reuses the same
                note = retry.note(retry_of["name"], selection)
            # recorded before any step starts: a pass that fails after this one still finds the frozen pipeline
            status = await self._write(status.model_copy(update={**started, "phase": "Running"}))
            # after the write: a failed one retries
            event(run, "Normal", "Started", f"running {plan.steps()} steps{note}")
        self.plan, self.params = plan, params
        self.runs_again = retry.Downstream(plan, retry_of.get("fromSteps") or ())
        return status

    async def _original(self, name: str, spec: Mapping[str, Any]) -> tuple[RunStatus | None, str]:
        """The status of the Run a retry retries, or None and why it cannot be retried."""
        if spec.get("arguments"):
            return None, (
                "spec.arguments: a retry runs with the arguments of the Run it retries: leave them out "
                "(or create a new Run with pipelineRef and these arguments)"
            )
        found = await self.kube.get_run(self.namespace, name)
        if found is None:
            return None, (
                f"spec.retryOf.name: Run {name!r} not found in namespace {self.namespace}: "
                "name a Run of this namespace (create a new Run to retry)"
            )
        try:
            original = RunStatus.model_validate(found.get("status") or {})
        except ValidationError:
            return None, f"spec.retryOf.name: Run {name!r} has a status kubeline did not write: create a new Run"
        if original.records:  # a large run: its finished steps are in its RunRecords
            recorded = await self._records(self.namespace, original.records)
            original = original.model_copy(update={"tasks": merged_tasks(original.tasks, [recorded])})
        problem = retry.source_problem(name, original)
        if problem is not None:
            return None, f"spec.retryOf.name: {problem}"
        return original, ""

    def _identity(self, run: Mapping[str, Any]) -> dict[str, str]:
        """What {{run.name}}, {{run.namespace}} and {{run.uid}} stand for."""
        return {"name": self.name, "namespace": self.namespace, "uid": run["metadata"]["uid"]}

    def _volume_claims(
        self, run: Mapping[str, Any], plan: Plan, params: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Each pipeline volume's claim by volume name (a size a parameter gives that is no quantity: ValueError)."""
        ref = RunRef(self.name, self.namespace, run["metadata"]["uid"])
        return {volume.name: volume_claim(ref, volume, params) for volume in plan.spec.volumes or []}

    async def _create_volumes(self, claims: dict[str, dict[str, Any]]) -> None:
        """The claims, before the run's first step."""
        for claim in claims.values():
            await self.kube.ensure_volume_claim(claim)

    async def _find_missing_claims(self, run: Mapping[str, Any], claims: dict[str, dict[str, Any]]) -> None:
        """Claims deleted while the run ran (the operator stopped meanwhile): not made again, empty, under the
        steps that wrote to them; the steps that would mount them fail, saying so."""
        for volume, claim in claims.items():
            name = claim["metadata"]["name"]
            if not await self.kube.volume_claim_exists(self.namespace, name):
                message = (
                    f"the run's volume {volume} (PersistentVolumeClaim {name}) was deleted while the run ran; "
                    "its files are gone: create a new Run"
                )
                self.unavailable[name] = message
                event(run, "Warning", "VolumeMissing", message)

    # -- running: observe, decide, act, record ---------------------------------------------------------------

    async def _advance(self, run: Mapping[str, Any], status: RunStatus, now: float) -> float | None:
        plan = self.plan
        assert plan is not None
        laps = Laps()
        uid = run["metadata"]["uid"]
        pods = [
            pod
            for pod in await self._current_pods(status, now)
            if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences") or [])
        ]
        laps.lap("pods")
        observed = statuses.rebuild_state(plan, status, pods, now)
        laps.lap("rebuild")
        state = observed.state
        state.started_at = state.started_at or now
        state.cancelled = bool((run.get("spec") or {}).get("cancel"))
        state.identity = self._identity(run)
        for result in observed.cacheable:
            await self._remember(result, now)
        ref = self._run_ref(run, status)
        while True:
            decision = decide(plan, self.params, state, now, max_start=STARTS_PER_PASS)
            for stop in decision.stop:
                step = state.steps[stop.id]
                if step.pod:
                    await self.kube.delete_pod(self.namespace, step.pod)
                step.phase, step.message, step.finished_at = "Failed", stop.reason, now
            ended = await self._start_steps(run, ref, decision.start, state, now)
            # more are ready and room is left: the next pass follows at once (not when the pod limit held some back:
            # admission wakes the Run when room frees, and a pass at once would only find none again)
            more_to_start = decision.deferred > 0 and not self.held_back
            if more_to_start or (not ended and not decision.stop):
                break
            now = time.time()  # cache hits, refused pods or stops changed the state: decide again before writing
        laps.lap("decide and start")
        new_status = statuses.status_document(plan, decision, state, status, now)
        laps.lap("status document")
        if new_status != status:
            await self._write(new_status)
            laps.lap("write")
            self._report(run, status, new_status, decision, now)
        self._post(run, self.events.due(now))
        await self._collect_pods(new_status)
        self._forget_ended_pods(new_status)
        laps.lap("report and collect pods")
        passes.debug("run %s/%s pass (%d pods): %s", self.namespace, self.name, len(pods), laps)
        if decision.finished:
            self._post(run, self.events.flush())
            kind = "Normal" if decision.phase == "Succeeded" else "Warning"
            event(run, kind, decision.phase, decision.message)
            return await self._after_finish(run, new_status, now)
        due = decision.wake_at - now if decision.wake_at is not None else self.config.resync_seconds
        if self.retry_soon:
            self.retry_soon, due = False, min(due, 1.0)
        if more_to_start:  # the status says how far it got; the next pass starts the next ones at once
            due = 0.0
        events_due = self.events.next_due()
        if events_due is not None:
            due = min(due, events_due - now)
        return max(0.0, min(due, self.config.resync_seconds))

    async def _current_pods(self, status: RunStatus, now: float) -> list[dict[str, Any]]:
        """The Run's pods from the event-fed cache; a LIST when it may miss one (first pass, a recorded
        running pod it has not seen yet, so that no step is taken for lost by mistake) or may be stale: once
        per resync period, since a watch can stop delivering events without an error."""
        expected = {task.pod for task in (status.tasks or {}).values() if task.phase == "Running" and task.pod}
        stale = self.listed_at is None or now - self.listed_at >= self.config.resync_seconds
        if stale or not expected <= self.pods.keys():
            listed = {pod["metadata"]["name"]: pod for pod in await self.kube.list_pods(self.namespace, self.name)}
            # only this reconciler creates the Run's pods, never while it lists: one missing from the list is gone
            for name in self.pods.keys() - listed.keys():
                del self.pods[name]
            for name, pod in listed.items():
                known = self.pods.get(name)
                if known is None or version_of(known) <= version_of(pod):
                    self.pods[name] = pod
            self.listed_at = now
        return list(self.pods.values())

    async def _start_steps(
        self, run: Mapping[str, Any], ref: RunRef, starts: list[StartStep], state: RunState, now: float
    ) -> int:
        """Serve what the cache has, create pods for the rest, a few API calls at a time; returns how many
        steps ended without a pod (cache hits, and pods refused), whose outcome the engine must see at once."""
        limit = asyncio.Semaphore(CONCURRENT_CALLS)
        held_back = False

        async def start_one(start: StartStep) -> bool:
            nonlocal held_back
            async with limit:
                if await self._serve_from_cache(start, state, now):
                    return True
                if not await self._pod_room(start):
                    held_back = True
                    return False
                phase = None
                try:
                    await self._create_pod(run, ref, start, state, now)
                    step = state.steps.get(start.id)
                    phase = step.phase if step is not None and step.attempt == start.attempt else None
                finally:  # an error (the API server's 5xx, a timeout) too: no pod made, its room goes back
                    self._settle_pod_room(start, made=phase == "Running")
                return phase == "Failed"

        on_volume = ref.store is None
        if starts and on_volume and self.plan is not None and uses_artifacts(self.plan) and not self.volume_ready:
            await self._create_artifact_volume(run, ref)
        ended = sum(await asyncio.gather(*(start_one(start) for start in starts)))
        self.held_back = held_back
        if not held_back and self.admission is not None:
            self.admission.pods_not_wanted(self.namespace, self.name)
        return ended

    async def _create_artifact_volume(self, run: Mapping[str, Any], ref: RunRef) -> None:
        """The volume the run's steps share files on, before its first pod; when refused, every step fails."""
        claim = artifact_claim(ref, self.config.artifacts)
        try:
            await self.kube.ensure_volume_claim(claim)
        except ClaimNotCreated as error:
            message = f"the run's artifact volume: {error}; fix the operator's artifacts settings (or the quota)"
            self.unavailable[claim["metadata"]["name"]] = message
            event(run, "Warning", "VolumeNotCreated", message)
        self.volume_ready = True

    async def _serve_from_cache(self, start: StartStep, state: RunState, now: float) -> bool:
        if not caching.consulted(start) or (self.runs_again is not None and self.runs_again(start.id)):
            return False  # a step a retry was asked to run again, or one downstream of it, runs
        entry = await self.kube.get_cache_entry(self.namespace, start.cache_key)
        spec = (entry or {}).get("spec") or {}
        hit = entry is not None and caching.fresh(start, statuses.seconds(spec.get("createdAt")), now)
        telemetry.cache_lookup(hit)
        if not hit:
            return False
        origin = f"made {spec.get('createdAt')} by run {spec.get('run')}"
        stored = frozenset(spec.get("storedOutputs") or ())
        state.steps[start.id] = caching.hit(start, dict(spec.get("outputs") or {}), now, origin, stored)
        return True

    async def _create_pod(
        self, run: Mapping[str, Any], ref: RunRef, start: StartStep, state: RunState, now: float
    ) -> None:
        """The step's pod, created; a pod that cannot be (not allowed, refused, a claim it mounts is missing)
        fails the step at once, not retried, with the reason in its message and an Event."""
        plan = self.plan
        assert plan is not None
        artifacts = uses_artifacts(plan)
        try:
            check_service_account(ref, self.config)
            pod = render_pod(ref, start, self.config, artifacts)
            self._check_claims(pod)
            created = await self.kube.create_pod(pod)
        except (PodNotAllowed, PodNameTaken, PodRefused, ClaimNotCreated) as refused:
            state.steps[start.id] = StepState(
                "Failed",
                attempt=start.attempt,
                started_at=now,
                finished_at=now,
                message=str(refused),
                retryable=False,
                cache_key=start.cache_key,
            )
            return
        if not created:
            self.retry_soon = True
            return
        state.steps[start.id] = StepState(
            "Running", attempt=start.attempt, started_at=now, cache_key=start.cache_key, pod=pod["metadata"]["name"]
        )

    async def _remember(self, result: statuses.Cacheable, now: float) -> None:
        if not result.key:
            return
        entry = CacheEntry(
            metadata=ObjectMeta(name=result.key, labels={TASK_LABEL: stepid.task_name(result.step_id)}),
            spec=CacheEntrySpec(
                key=result.key,
                component=result.component,
                outputs=result.outputs,
                stored_outputs=sorted(result.stored) or None,
                created_at=statuses.timestamp(now),
                run=self.name,
            ),
        )
        await self.kube.create_cache_entry(self.namespace, entry.to_dict())

    def _report(
        self, run: Mapping[str, Any], before: RunStatus, after: RunStatus, decision: Decision, now: float
    ) -> None:
        """What the pass just recorded about the steps, at most once: metrics, a log line a step, and Events batched."""
        steps = {step_id for step_id, view in decision.views.items() if view.is_step}
        changes = transitions.step_changes(before.tasks or {}, after.tasks or {}, steps)
        telemetry.record_steps(changes)
        for change in changes:
            fields = {"run": self.name, "namespace": self.namespace, "step": change.step, "attempt": change.attempt}
            log.info("run %s/%s step %s: %s", self.namespace, self.name, change.step, change.kind, extra=fields)
        self._post(run, self.events.add(changes, now))

    @staticmethod
    def _post(run: Mapping[str, Any], summaries: list[transitions.Summary]) -> None:
        for summary in summaries:
            event(run, summary.type, summary.reason, summary.message)

    # -- finished -------------------------------------------------------------------------------------

    async def _after_finish(self, run: Mapping[str, Any], status: RunStatus, now: float) -> float | None:
        await self._collect_pods(status)
        ttl = (status.pipeline_spec or {}).get("ttlAfterFinished")
        finished = statuses.seconds(status.finished_at)
        if not ttl or finished is None:
            return None
        remaining = finished + parse_duration(ttl) - now
        if remaining > 0:
            return remaining
        await self.kube.delete_run(self.namespace, self.name)
        return None

    def overwritten(self, run: Mapping[str, Any]) -> bool:
        """Whether another client (kubectl patch, a script) wrote the Run's status after this reconciler did:
        a newer resourceVersion with another status. kubeline's status is the truth (it comes from the pods);
        a Run changed otherwise (labels, annotations, kopf's own) keeps its status and is left alone."""
        if self.written is None or version_of(run) <= self.written_version:
            return False
        seen = run.get("status") or {}
        return seen != self.written.to_dict() and (self.writing is None or seen != self.writing.to_dict())

    def to_restore(self, run: Mapping[str, Any], now: float) -> bool:
        """Whether to restore the status at once: overwritten, and not restored within RESTORE_SECONDS (a pass due
        for other reasons writes the truth anyway)."""
        return now - self.restored_at >= RESTORE_SECONDS and self.overwritten(run)

    async def _read(self, run: Mapping[str, Any]) -> RunStatus:
        """The Run's status with every step's entry: those it lists over those of the RunRecords it names."""
        status = RunStatus.model_validate(run.get("status") or {})
        self.record_names = list(status.records or ())
        self.recorded = await self._records(self.namespace, self.record_names)
        tasks = merged_tasks(status.tasks, [self.recorded])
        return status.model_copy(update={"tasks": tasks, "records": None, "unlisted": None})

    async def _records(self, namespace: str, names: list[str]) -> dict[str, TaskStatus]:
        """The step entries of the RunRecords ``names``, later ones over earlier ones; one that is gone or
        unreadable counts as empty (its steps show as not recorded; a finished run keeps its outcome)."""
        found: list[dict[str, TaskStatus]] = []
        for name in names:
            record = await self.kube.get_run_record(namespace, name)
            try:
                tasks = RunRecord.model_validate(record).spec.tasks if record is not None else {}
            except ValidationError:
                tasks = {}
            found.append(tasks)
        return merged_tasks({}, found)

    async def _write(self, status: RunStatus) -> RunStatus:
        """Record ``status`` (every step's entry): the finished steps that no longer fit in the Run go to new
        RunRecords first, then the Run's status names them and lists the rest. Returns ``status``."""
        split = records.listing(status.tasks or {}, self.recorded)
        names = list(self.record_names)
        for tasks in split.new_records:
            name = record_name(self.name, len(names))
            await self.kube.write_run_record(self.namespace, self._record(name, tasks))
            names.append(name)
        listed = status.model_copy(
            update={
                "tasks": split.listed if status.tasks is not None else None,
                "records": names or None,
                "unlisted": split.unlisted or None,
            }
        )
        await self._write_listed(listed)
        for tasks in split.new_records:
            self.recorded.update(tasks)
        self.record_names, self.known = names, status
        return status

    async def _write_listed(self, status: RunStatus) -> None:
        """Write the Run's status as it is to be stored."""
        self.writing = status
        try:
            version = await self.kube.write_run_status(self.namespace, self.name, status.to_dict())
        finally:
            self.writing = None
        self.written, self.written_version = status, _revision(version)

    def _record(self, name: str, tasks: dict[str, TaskStatus]) -> dict[str, Any]:
        """A RunRecord of this run's finished steps, owned by the Run (deleted with it)."""
        owner = {"apiVersion": API_VERSION, "kind": "Run", "name": self.name, "uid": self.uid, "controller": True}
        record = RunRecord(
            metadata=ObjectMeta(name=name, namespace=self.namespace, labels={RUN_LABEL: self.name}),
            spec=RunRecordSpec(run=self.name, tasks=tasks),
        ).to_dict()
        record["metadata"]["ownerReferences"] = [owner]
        return record

    async def _collect_pods(self, status: RunStatus) -> None:
        """The pod GC policy: delete the pods of steps whose outcome the status now records (their logs are
        in the store). Level-based: a pod missed now (the operator stopped) goes on a later pass."""
        policy = self.config.pod_gc
        if policy == "KeepAll" or status.artifact_store is None:
            return
        wanted = ("Succeeded",) if policy == "DeleteOnSuccess" else ("Succeeded", "Failed")
        recorded = status.tasks or {}
        for name, pod in list(self.pods.items()):
            task = recorded.get((pod["metadata"].get("annotations") or {}).get(STEP_ANNOTATION, ""))
            if task is None or task.phase not in wanted or not task.log:  # the pod may hold the only log
                continue
            # the pod's own phase may lag its containers' (the step's outcome was read from those)
            outcome = (pod.get("status") or {}).get("phase")
            if outcome not in ("Succeeded", "Failed"):
                outcome = task.phase if name == task.pod else None
            if outcome in wanted:
                await self.kube.delete_pod(self.namespace, name)
                self.pods.pop(name, None)

    def _forget_ended_pods(self, status: RunStatus) -> None:
        """Drop from the pod cache the pods of attempts the status records as ended (after the pod GC had its
        turn): nothing reads them again, and a run of 10,000 steps whose pods stay (no store, or KeepAll) would
        otherwise hold every one. A resync's listing brings them back for one pass at most."""
        recorded = status.tasks or {}
        for name, pod in list(self.pods.items()):
            annotations = pod["metadata"].get("annotations") or {}
            task = recorded.get(annotations.get(STEP_ANNOTATION, ""))
            try:
                attempt = int(annotations.get(ATTEMPT_ANNOTATION, ""))
            except ValueError:
                continue
            if task is None or not task.attempts:
                continue
            if attempt < task.attempts or (attempt == task.attempts and task.phase != "Running"):
                del self.pods[name]

    def _run_ref(self, run: Mapping[str, Any], status: RunStatus) -> RunRef:
        defaults = self.plan.spec.defaults if self.plan else None
        location = self.config.artifact_store.for_namespace(self.namespace) if status.artifact_store else None
        return RunRef(
            name=self.name,
            namespace=self.namespace,
            uid=run["metadata"]["uid"],
            service_account=defaults.service_account_name if defaults else None,
            image_pull_policy=defaults.image_pull_policy if defaults else None,
            image_pull_secrets=[s.to_dict() for s in defaults.image_pull_secrets or []] if defaults else None,
            store=PodStore(location) if location is not None else None,
        )

    def _check_claims(self, pod: dict[str, Any]) -> None:
        """ClaimNotCreated when the pod mounts a claim the run could not make, or lost."""
        for volume in pod["spec"]["volumes"]:
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if name in self.unavailable:
                raise ClaimNotCreated(self.unavailable[name])


def _too_large_to_freeze(run: Mapping[str, Any], frozen: Any) -> str | None:
    """Why the Run cannot keep a copy of its pipeline in its status (it would outgrow what etcd stores), or None."""
    pipeline = len(json.dumps(frozen, default=str))
    size = len(json.dumps(dict(run), default=str)) + pipeline
    if size <= MAX_FROZEN_RUN_BYTES:
        return None
    inline = (run.get("spec") or {}).get("pipelineSpec") is not None
    return (
        f"the run cannot start: its pipeline is {pipeline // 1024} KiB, and the Run with the copy of it kept in "
        f"status.pipelineSpec would be {size // 1024} KiB, over the {MAX_FROZEN_RUN_BYTES // 1024} KiB kubeline "
        "allows (etcd stores at most 1.5 MiB an object); make the pipeline smaller (long descriptions, unused "
        "components)" + (", or move spec.pipelineSpec to a Pipeline of its own and use pipelineRef" if inline else "")
    )


def version_of(resource: Mapping[str, Any]) -> int:
    """A pod's or Run's resourceVersion as a number, to tell the newer of two copies (etcd revisions grow)."""
    return _revision((resource.get("metadata") or {}).get("resourceVersion"))


def _revision(resource_version: str | None) -> int:
    try:
        return int(resource_version or 0)
    except ValueError:
        return 0
