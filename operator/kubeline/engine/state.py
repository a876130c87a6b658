"""What the run state machine reads and answers: the facts backends record, the steps to start or stop, views.

Backends fill a ``RunState`` with what they observe; ``run.decide`` answers with a ``Decision``. Both are
plain data, so a decision depends only on them and the clock.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kubeline.api import models

StepPhase = Literal["Running", "Succeeded", "Failed"]
ViewPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Skipped"]
RunOutcome = Literal["Running", "Succeeded", "Failed", "Cancelled"]
TERMINAL = ("Succeeded", "Failed", "Skipped")


@dataclass
class StepState:
    """What a backend recorded about one step (one task instance)."""

    phase: StepPhase
    attempt: int = 1
    started_at: float | None = None
    finished_at: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    cached: bool = False
    message: str = ""
    exit_code: int | None = None
    cache_key: str | None = None
    retryable: bool = True
    pod: str | None = None
    node: str | None = None
    #: Value outputs too large for the pod's termination message: their text is an object reference
    #: (``sha256:…``) into the artifact store, and consumers read them as files.
    stored_values: frozenset[str] = frozenset()
    log: str | None = None  # where a backend keeps the step's log (a key in the artifact store)
    reused_from: str | None = None  # the run (this one retries) whose result this is: no pod ran here


@dataclass
class RunState:
    """What a backend recorded about a run: when it started, its steps, whether it was cancelled."""

    started_at: float | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    cancelled: bool = False
    #: What {{run.name}}, {{run.namespace}} and {{run.uid}} resolve to (KFP's RUN_ID_PLACEHOLDER).
    identity: dict[str, str] = field(default_factory=dict)


@dataclass
class StartStep:
    """Start attempt ``attempt`` of step ``id`` (or serve it from the cache)."""

    id: str
    task: str
    component: models.Component
    attempt: int
    inputs: dict[str, str]  # input name -> text (values, and values passed to artifact inputs)
    artifacts: dict[str, str]  # artifact input name -> location recorded by the producing step
    cache_key: str
    caching_enabled: bool
    max_staleness: float | None
    timeout: float | None
    scheduling: dict[str, Any]


@dataclass
class StopStep:
    """Stop running step ``id`` (the run stops, or the step outlived its timeout)."""

    id: str
    reason: str


@dataclass
class View:
    """How a task, step or group looks now, for status and progress."""

    phase: ViewPhase
    message: str = ""
    is_step: bool = True


@dataclass
class Decision:
    """What decide answers: steps to start and stop, how everything looks, and the run's phase."""

    phase: RunOutcome
    message: str = ""
    start: list[StartStep] = field(default_factory=list)
    stop: list[StopStep] = field(default_factory=list)
    views: dict[str, View] = field(default_factory=dict)
    wake_at: float | None = None  # call decide again by then even if nothing happens
    deferred: int = 0  # steps ready to start that decide's max_start left for the next decision
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.phase != "Running"

    def progress(self, state: RunState) -> dict[str, int]:
        counts = {"total": 0, "pending": 0, "running": 0, "succeeded": 0, "failed": 0, "skipped": 0, "cached": 0}
        for step_id, view in self.views.items():
            if not view.is_step:
                continue
            counts["total"] += 1
            step = state.steps.get(step_id)
            started_since = step is not None and step.phase == "Running" and view.phase == "Pending"
            counts["running" if started_since else view.phase.lower()] += 1
            if step is not None and step.cached and view.phase == "Succeeded":
                counts["cached"] += 1
        return counts


#: A step's phase in the engine from its phase in the status: a step that failed and waits for a retry
#: shows as Pending; one stopped before it ended shows as Failed or Skipped.
_RECORDED: dict[models.TaskPhase, StepPhase] = {
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Pending": "Failed",
    "Skipped": "Failed",
}


def seconds(text: str | None) -> float | None:
    """A status timestamp (``2026-11-30T10:00:00Z``) in seconds since the epoch; None for none."""
    if not text:
        return None
    return _parsed(text)


@functools.lru_cache(maxsize=8192)
def _parsed(text: str) -> float:
    """strptime takes most of a pass over a large Run (two timestamps a step, every pass); a Run's steps share
    few distinct ones (whole seconds), so each is parsed once."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def recorded_state(status: models.RunStatus) -> RunState:
    """The state a status records (no pods looked at): what a retry starts from, what a pass starts from."""
    state = RunState(started_at=seconds(status.started_at))
    for step_id, task in (status.tasks or {}).items():
        if not task.attempts:
            continue
        state.steps[step_id] = StepState(
            _RECORDED[task.phase],
            attempt=task.attempts,
            started_at=seconds(task.started_at),
            finished_at=seconds(task.finished_at),
            outputs=dict(task.outputs or {}),
            cached=bool(task.cached),
            message=task.message or "",
            exit_code=task.exit_code,
            cache_key=task.cache_key,
            pod=task.pod,
            node=task.node,
            stored_values=frozenset(task.stored_outputs or ()),
            log=task.log,
            reused_from=task.reused_from,
        )
    return state
