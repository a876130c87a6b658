"""Between the engine's RunState and a Run's status and pods. Pure functions, table-tested.

The status is what the operator wrote last; pods are what the cluster says now. Rebuilding the state
from both lets a restarted operator carry on: a pod it created but did not record is adopted from its
labels, a finished pod is read once and its outcome recorded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kubeline.api.constants import ATTEMPT_ANNOTATION, CACHE_ANNOTATION, CACHE_KEY_ANNOTATION, STEP_ANNOTATION
from kubeline.api.durations import format_duration
from kubeline.api.models import Condition, Progress, RunStatus, TaskStatus
from kubeline.controller.pods import artifact_path, read_pod
from kubeline.engine import metrics, stepid
from kubeline.engine.plan import Plan, node_for_step
from kubeline.engine.state import Decision, RunState, StepState, View, recorded_state
from kubeline.engine.state import seconds as seconds  # the controller's modules read timestamps from here
from kubeline.engine.values import FILE_OUTPUT_TYPES

ConditionValue = Literal["True", "False", "Unknown"]

#: The Succeeded and Ready conditions' status by the Run's phase; Unknown while it runs.
_SUCCEEDED: dict[str, ConditionValue] = {"Succeeded": "True", "Failed": "False", "Cancelled": "False"}


def timestamp(seconds: float) -> str:
    return _timestamp(int(seconds))


@functools.lru_cache(maxsize=4096)  # a pass writes every step's times, and steps share seconds
def _timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Cacheable:
    """A step's result to record in the cache."""

    step_id: str
    component: str
    key: str
    outputs: dict[str, str]
    stored: frozenset[str] = frozenset()


@dataclass
class Observed:
    """The state, and what changed in it from the pods."""

    state: RunState
    finished: list[str] = field(default_factory=list)  # step ids whose pods ended since last time
    cacheable: list[Cacheable] = field(default_factory=list)


def rebuild_state(plan: Plan, status: RunStatus, pods: list[dict[str, Any]], now: float) -> Observed:
    """The run's state from its recorded status and its pods as they are now (the pods win: a restarted
    operator adopts what it created before it could record it)."""
    observed = Observed(recorded_state(status))
    latest = _latest_pods(pods)
    for step_id, (attempt, pod) in latest.items():
        _observe_pod(plan, observed, step_id, attempt, pod, now)
    for step_id, step in observed.state.steps.items():
        if step.phase == "Running" and not step.cached and step_id not in latest:
            step.phase, step.finished_at, step.message = "Failed", now, "the step's pod was deleted"
            observed.finished.append(step_id)
    return observed


def _latest_pods(pods: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, Any]]]:
    """Each step's pod of its latest attempt, by step id; pods whose annotations were changed by hand are ignored."""
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for pod in pods:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        step_id = str(annotations.get(STEP_ANNOTATION) or "")
        try:
            attempt = int(annotations.get(ATTEMPT_ANNOTATION, ""))
            stepid.parse(step_id)
        except ValueError:
            continue
        if step_id not in latest or latest[step_id][0] < attempt:
            latest[step_id] = (attempt, pod)
    return latest


def _observe_pod(plan: Plan, observed: Observed, step_id: str, attempt: int, pod: dict[str, Any], now: float) -> None:
    """A step's state from its latest pod: still running, or ended (and then, maybe, worth caching)."""
    state, metadata = observed.state, pod["metadata"]
    step = state.steps.get(step_id)
    if step is None or step.attempt < attempt:  # created, then the operator stopped before recording it
        step = state.steps[step_id] = StepState(
            "Running",
            attempt=attempt,
            started_at=seconds(metadata.get("creationTimestamp")) or now,
            cache_key=metadata["annotations"].get(CACHE_KEY_ANNOTATION),
            pod=metadata["name"],
        )
    if step.phase != "Running" or step.attempt != attempt:
        return
    node = node_for_step(plan, step_id)
    component = node.component if node is not None else None
    outcome = read_pod(pod, component)
    step.node = outcome.node or step.node
    if outcome.phase == "Running":
        step.message = outcome.message
        return
    outputs = dict(outcome.outputs)
    files = [o.name for o in component.outputs or [] if o.type in FILE_OUTPUT_TYPES] if component is not None else []
    if outcome.phase == "Succeeded" and not outcome.from_store:
        outputs.update({name: artifact_path(step_id, attempt, name) for name in files})
    step.phase, step.outputs, step.message = outcome.phase, outputs, outcome.message
    step.exit_code, step.finished_at, step.retryable = outcome.exit_code, now, outcome.retryable
    step.stored_values, step.log = outcome.stored, outcome.log
    observed.finished.append(step_id)
    # artifacts on the producing run's volume cannot be seen by a later run: only values, or stored objects
    if outcome.phase == "Succeeded" and component is not None and (outcome.from_store or not files):
        if metadata["annotations"].get(CACHE_ANNOTATION) == "true":
            key = metadata["annotations"].get(CACHE_KEY_ANNOTATION, "")
            observed.cacheable.append(Cacheable(step_id, component.name, key, outputs, outcome.stored))


def status_document(plan: Plan, decision: Decision, state: RunState, base: RunStatus, now: float) -> RunStatus:
    """The Run's status for this decision: compact, one entry per step, groups only when they say something."""
    artifact_producers = _artifact_producers(plan)
    before = base.tasks or {}
    tasks = {
        step_id: _unchanged(before.get(step_id), view, state.steps.get(step_id))
        or _task_status(view, state.steps.get(step_id), stepid.task_name(step_id) in artifact_producers)
        for step_id, view in decision.views.items()
        if view.is_step or view.phase in ("Skipped", "Failed")
    }
    progress = decision.progress(state)
    done = progress["succeeded"] + progress["failed"] + progress["skipped"]
    finished_at = (base.finished_at or timestamp(now)) if decision.finished else None
    duration = None
    if state.started_at is not None:
        duration = format_duration(max(0.0, (seconds(finished_at) or now) - state.started_at))
    value = _SUCCEEDED.get(decision.phase, "Unknown")
    message = decision.message if decision.finished else None
    run_metrics = metrics.of_run(plan, decision, state)
    if message and run_metrics.note():
        message = f"{message}; {run_metrics.note()}"
    reuse = _reuse_note(state)
    if message and reuse:
        message = f"{message}; {reuse}"
    return RunStatus(
        pipeline_spec=base.pipeline_spec,
        arguments=base.arguments,
        artifact_store=base.artifact_store,
        volumes=base.volumes,
        queue=base.queue,
        started_at=base.started_at,
        phase=decision.phase,
        progress=Progress.model_validate(progress),
        progress_text=f"{done}/{progress['total']}",
        tasks=tasks,
        finished_at=finished_at,
        message=message,
        outputs=(decision.outputs or None) if decision.finished else None,
        metrics=run_metrics.by_step or None,
        duration=duration,
        conditions=conditions(
            value,
            decision.phase,
            message or "; ".join(filter(None, ["steps are running", reuse])),
            base.conditions,
            now,
        ),
    )


def _reuse_note(state: RunState) -> str | None:
    """What a retry took from the run it retries, for the Run's message: "3 steps reused from X"."""
    origins = sorted({step.reused_from for step in state.steps.values() if step.reused_from})
    if not origins:
        return None
    count = sum(1 for step in state.steps.values() if step.reused_from)
    return f"{count} step{'' if count == 1 else 's'} reused from {', '.join(origins)}"


def _unchanged(before: TaskStatus | None, view: View, step: StepState | None) -> TaskStatus | None:
    """The previous pass's entry when this pass would make the same: a step that had succeeded (such an entry
    never changes again), or one never started that looks as it did (skipped, or waiting with the same message).
    A pass over 10,000 steps then makes entries only for those that moved."""
    if before is None or before.phase != view.phase:
        return None
    if step is None:
        return before if before.attempts is None and before.message == _shown(view.message) else None
    return (
        before if view.phase == "Succeeded" and step.phase == "Succeeded" and step.attempt == before.attempts else None
    )


def _shown(message: str) -> str | None:
    """A step's message as its entry keeps it."""
    return message[:1024] if message and message != "starting" else None


def _task_status(view: View, step: StepState | None, lineage: bool) -> TaskStatus:
    """A step's (or group's) entry; ``lineage``: its cache key is kept, for the steps reading its artifacts."""
    shown = _shown(view.message or (step.message if step is not None else ""))
    if step is None:
        return TaskStatus(phase=view.phase, message=shown)
    return TaskStatus(
        phase="Running" if step.phase == "Running" and view.phase == "Pending" else view.phase,
        attempts=step.attempt,
        pod=step.pod,
        node=step.node,
        started_at=timestamp(step.started_at) if step.started_at is not None else None,
        finished_at=timestamp(step.finished_at) if step.finished_at is not None and step.phase != "Running" else None,
        cached=True if step.cached else None,
        outputs=step.outputs or None,
        message=shown,
        exit_code=step.exit_code,
        cache_key=step.cache_key if step.cache_key and (lineage or step.stored_values) else None,
        stored_outputs=sorted(step.stored_values) or None,
        log=step.log,
        reused_from=step.reused_from,
    )


def conditions(
    value: ConditionValue, reason: str, message: str, previous: list[Condition] | None, now: float
) -> list[Condition]:
    """`Succeeded` (as Tekton writes it) and `Ready` (what kstatus, Flux and Argo CD read), always alike;
    each keeps its lastTransitionTime while its status stays the same."""
    before = {condition.type: condition for condition in previous or []}

    def since(kind: str) -> str:
        condition = before.get(kind)
        if condition is not None and condition.status == value and condition.last_transition_time:
            return condition.last_transition_time
        return timestamp(now)

    return [
        Condition(type=kind, status=value, reason=reason, message=message, last_transition_time=since(kind))
        for kind in ("Succeeded", "Ready")
    ]


def _artifact_producers(plan: Plan) -> set[str]:
    producers = set()

    def walk(scope: Any) -> None:
        for node in scope.nodes.values():
            if node.body is not None:
                walk(node.body)
            elif node.component and any(o.type in FILE_OUTPUT_TYPES for o in node.component.outputs or []):
                producers.add(node.name)

    walk(plan.root)
    return producers


def pending_status(message: str, base: RunStatus, now: float, reason: str = "PipelineNotFound") -> RunStatus:
    """A Run that cannot start yet (its Pipeline is missing): it says why, and starts when it can."""
    return RunStatus(
        phase="Pending",
        message=message,
        conditions=conditions("Unknown", reason, message, base.conditions, now),
    )


def queued_status(message: str, base: RunStatus, now: float) -> RunStatus:
    """A Run waiting for room (its Queue's, or its namespace's): it says why and its place, and starts when it
    can. Its Queued condition keeps the time it began to wait."""
    waiting = pending_status(message, base, now, reason="Queued")
    before = next((c for c in base.conditions or [] if c.type == "Queued"), None)
    since = before.last_transition_time if before is not None and before.status == "True" else timestamp(now)
    queued = Condition(type="Queued", status="True", reason="Queued", message=message, last_transition_time=since)
    return waiting.model_copy(update={"conditions": [*(waiting.conditions or []), queued]})


def cancelled_status(message: str, base: RunStatus, now: float) -> RunStatus:
    """A Run cancelled before it started: it ends with nothing run."""
    return RunStatus(
        phase="Cancelled",
        message=message,
        finished_at=timestamp(now),
        conditions=conditions("False", "Cancelled", message, base.conditions, now),
    )


def failed_status(
    message: str,
    pipeline_spec: dict[str, Any] | None,
    now: float,
    reason: str = "InvalidPipeline",
    base: RunStatus | None = None,
) -> RunStatus:
    """A Run that will never start, or (``base``: its status) cannot go on: the message names the problem; a new
    Run is needed once it is fixed. What a started run recorded (its steps, arguments, volumes) is kept."""
    failed = {
        "pipeline_spec": pipeline_spec,
        "phase": "Failed",
        "message": message,
        "finished_at": timestamp(now),
        "conditions": conditions("False", reason, message, base.conditions if base else None, now),
    }
    if base is not None and base.started_at is not None:
        return base.model_copy(update=failed)
    return RunStatus(**failed)
