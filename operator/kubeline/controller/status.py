"""Between the engine's RunState and a Run's status and pods. Pure functions, table-tested.

The status is what the operator wrote last; pods are what the cluster says now. Rebuilding the state
from both lets a restarted operator carry on: a pod it created but did not record is adopted from its
labels, a finished pod is read once and its outcome recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeline.api.constants import ATTEMPT_ANNOTATION, CACHE_ANNOTATION, CACHE_KEY_ANNOTATION, STEP_ANNOTATION
from kubeline.api.durations import format_duration
from kubeline.backends.kubernetes import artifact_path, read_pod
from kubeline.engine import stepid
from kubeline.engine.plan import Plan, node_for_step
from kubeline.engine.run import Decision, RunState, StepState

#: A step's phase in the engine from its phase in the status: a step that failed and waits for a retry
#: shows as Pending; one stopped before it ended shows as Failed or Skipped.
_RECORDED = {
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Pending": "Failed",
    "Skipped": "Failed",
}


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@dataclass
class Cacheable:
    """A step's result to record in the cache."""

    step_id: str
    component: str
    key: str
    outputs: dict[str, str]


@dataclass
class Observed:
    """The state, and what changed in it from the pods."""

    state: RunState
    finished: list[str] = field(default_factory=list)  # step ids whose pods ended since last time
    cacheable: list[Cacheable] = field(default_factory=list)


def rebuild_state(plan: Plan, status: dict[str, Any], pods: list[dict[str, Any]], now: float) -> Observed:
    state = RunState(started_at=seconds(status.get("startedAt")))
    for step_id, task in (status.get("tasks") or {}).items():
        if not task.get("attempts"):
            continue
        state.steps[step_id] = StepState(
            _RECORDED.get(task.get("phase", ""), "Failed"),  # type: ignore[arg-type]
            attempt=task["attempts"],
            started_at=seconds(task.get("startedAt")),
            finished_at=seconds(task.get("finishedAt")),
            outputs=dict(task.get("outputs") or {}),
            cached=bool(task.get("cached")),
            message=task.get("message") or "",
            exit_code=task.get("exitCode"),
            cache_key=task.get("cacheKey"),
            pod=task.get("pod"),
            node=task.get("node"),
        )
    observed = Observed(state)
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for pod in pods:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        step_id = annotations.get(STEP_ANNOTATION)
        try:
            attempt = int(annotations.get(ATTEMPT_ANNOTATION, ""))
            stepid.parse(step_id or "")
        except ValueError:  # not a step pod of ours: its annotations were changed by hand
            continue
        if step_id not in latest or latest[step_id][0] < attempt:
            latest[step_id] = (attempt, pod)
    for step_id, (attempt, pod) in latest.items():
        step = state.steps.get(step_id)
        metadata = pod["metadata"]
        if step is None or step.attempt < attempt:  # created, then the operator stopped before recording it
            step = state.steps[step_id] = StepState(
                "Running",
                attempt=attempt,
                started_at=seconds(metadata.get("creationTimestamp")) or now,
                cache_key=metadata["annotations"].get(CACHE_KEY_ANNOTATION),
                pod=metadata["name"],
            )
        if step.phase != "Running" or step.attempt != attempt:
            continue
        node = node_for_step(plan, step_id)
        outcome = read_pod(pod, node.component if node else None)
        step.node = outcome.node or step.node
        if outcome.phase == "Running":
            step.message = outcome.message
            continue
        outputs = dict(outcome.outputs)
        if outcome.phase == "Succeeded" and node is not None and node.component is not None:
            outputs.update(
                {
                    o.name: artifact_path(step_id, attempt, o.name)
                    for o in node.component.outputs or []
                    if o.type == "artifact"
                }
            )
        step.phase, step.outputs, step.message = outcome.phase, outputs, outcome.message  # type: ignore[assignment]
        step.exit_code, step.finished_at, step.retryable = outcome.exit_code, now, outcome.retryable
        observed.finished.append(step_id)
        component = node.component if node is not None else None
        # artifacts live on the producing run's volume, which a later run cannot see: only values are cached
        files = component is not None and any(o.type == "artifact" for o in component.outputs or [])
        if (
            outcome.phase == "Succeeded"
            and component is not None
            and not files
            and metadata["annotations"].get(CACHE_ANNOTATION) == "true"
        ):
            key = metadata["annotations"].get(CACHE_KEY_ANNOTATION, "")
            observed.cacheable.append(Cacheable(step_id, component.name, key, outputs))
    for step_id, step in state.steps.items():
        if step.phase == "Running" and not step.cached and step_id not in latest:
            step.phase, step.finished_at, step.message = "Failed", now, "the step's pod was deleted"
            observed.finished.append(step_id)
    return observed


def status_document(
    plan: Plan, decision: Decision, state: RunState, base: dict[str, Any], now: float
) -> dict[str, Any]:
    """The Run's status for this decision: compact, one entry per step, groups only when they say something."""
    tasks: dict[str, Any] = {}
    artifact_producers = _artifact_producers(plan)
    for step_id, view in decision.views.items():
        if not view.is_step and view.phase not in ("Skipped", "Failed"):
            continue
        entry: dict[str, Any] = {"phase": view.phase}
        step = state.steps.get(step_id)
        if step is not None:
            entry["attempts"] = step.attempt
            if step.phase == "Running" and view.phase == "Pending":
                entry["phase"] = "Running"
            for key, value in (("pod", step.pod), ("node", step.node), ("exitCode", step.exit_code)):
                if value is not None:
                    entry[key] = value
            if step.started_at is not None:
                entry["startedAt"] = timestamp(step.started_at)
            if step.finished_at is not None and step.phase != "Running":
                entry["finishedAt"] = timestamp(step.finished_at)
            if step.cached:
                entry["cached"] = True
            if step.outputs:
                entry["outputs"] = step.outputs
            if step.cache_key and stepid.task_name(step_id) in artifact_producers:
                entry["cacheKey"] = step.cache_key
        message = view.message or (step.message if step is not None else "")
        if message and message != "starting":
            entry["message"] = message[:1024]
        tasks[step_id] = entry
    progress = decision.progress(state)
    done = progress["succeeded"] + progress["failed"] + progress["skipped"]
    status: dict[str, Any] = {
        **{k: v for k, v in base.items() if k in ("pipelineSpec", "arguments", "startedAt")},
        "phase": decision.phase,
        "progress": progress,
        "progressText": f"{done}/{progress['total']}",
        "tasks": tasks,
    }
    started = state.started_at
    if decision.finished:
        status["finishedAt"] = base.get("finishedAt") or timestamp(now)
        status["message"] = decision.message
        if decision.outputs:
            status["outputs"] = decision.outputs
    if started is not None:
        end = seconds(status.get("finishedAt")) or now
        status["duration"] = format_duration(max(0.0, end - started))
    status["conditions"] = _conditions(decision, base.get("conditions") or [], now)
    return status


def _conditions(decision: Decision, previous: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """`Succeeded` (as Tekton writes it) and `Ready` (what kstatus, Flux and Argo CD read)."""
    value = {"Succeeded": "True", "Failed": "False", "Cancelled": "False"}.get(decision.phase, "Unknown")
    reason = decision.phase
    message = decision.message if decision.finished else "steps are running"
    conditions = []
    for kind in ("Succeeded", "Ready"):
        before = next((c for c in previous if c.get("type") == kind), None)
        changed = before is None or before.get("status") != value
        conditions.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message,
                "lastTransitionTime": timestamp(now) if changed else before["lastTransitionTime"],
            }
        )
    return conditions


def _artifact_producers(plan: Plan) -> set[str]:
    producers = set()

    def walk(scope: Any) -> None:
        for node in scope.nodes.values():
            if node.body is not None:
                walk(node.body)
            elif node.component and any(o.type == "artifact" for o in node.component.outputs or []):
                producers.add(node.name)

    walk(plan.root)
    return producers


def pending_status(message: str, base: dict[str, Any], now: float) -> dict[str, Any]:
    """A Run that cannot start yet (its Pipeline is missing): it says why, and starts when it can."""
    condition = {"status": "Unknown", "reason": "PipelineNotFound", "message": message}
    previous = {c.get("type"): c for c in base.get("conditions") or []}
    return {
        "phase": "Pending",
        "message": message,
        "conditions": [
            {
                "type": kind,
                **condition,
                "lastTransitionTime": (previous.get(kind) or {}).get("lastTransitionTime") or timestamp(now),
            }
            for kind in ("Succeeded", "Ready")
        ],
    }


def failed_status(message: str, base: dict[str, Any], now: float, reason: str = "InvalidPipeline") -> dict[str, Any]:
    """A Run that will never start: the message names the problem; a new Run is needed once it is fixed."""
    return {
        **{k: v for k, v in base.items() if k in ("pipelineSpec", "arguments")},
        "phase": "Failed",
        "message": message,
        "finishedAt": timestamp(now),
        "conditions": [
            {
                "type": kind,
                "status": "False",
                "reason": reason,
                "message": message,
                "lastTransitionTime": timestamp(now),
            }
            for kind in ("Succeeded", "Ready")
        ],
    }
