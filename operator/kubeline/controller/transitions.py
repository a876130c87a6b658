"""What changed in a Run's steps from one status to the next, and how it reads as Events. Pure, table-tested.

Level-based like the reconciler: the changes are those between the status before a pass and the status the
pass wrote, so a step's start, retry or end is reported at most once, by the process that saw it happen, however
often passes repeat; a pass that fails to write reports nothing, and the next one reports it instead. At most:
two retries between two passes read as one, and what a process wrote just before it stopped is reported by none.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from kubeline.api.models import TaskStatus
from kubeline.controller.status import seconds

Kind = Literal["started", "retried", "succeeded", "failed", "cached", "skipped"]

#: Steps named in one Event before "and N more".
SHOWN = 3
#: Least seconds between two Events of one reason on one Run: a storm of passes (one a pod event) posts a handful.
EVENT_SECONDS = 10.0


@dataclass(frozen=True)
class StepChange:
    step: str
    kind: Kind
    attempt: int = 0
    #: How long the attempt that ended ran (succeeded, failed, and the failed attempt a retry replaces).
    seconds: float | None = None
    message: str = ""


def step_changes(
    before: Mapping[str, TaskStatus], after: Mapping[str, TaskStatus], steps: Collection[str]
) -> list[StepChange]:
    """The changes of the ``steps`` (ids: groups are left out) from ``before`` to ``after``, in step order."""
    changes: list[StepChange] = []
    for step_id, task in after.items():
        if step_id in steps:
            changes.extend(_changes_of(step_id, before.get(step_id), task))
    return changes


def _changes_of(step_id: str, old: TaskStatus | None, new: TaskStatus) -> list[StepChange]:
    was = (old.attempts or 0) if old is not None else 0
    attempt = new.attempts or 0
    if new.cached:
        return [] if old is not None and old.cached else [StepChange(step_id, "cached", attempt)]
    if new.phase == "Skipped":
        return [] if old is not None and old.phase == "Skipped" else [StepChange(step_id, "skipped")]
    changes = []
    if old is not None and attempt > was > 0:
        end = seconds(old.finished_at) or seconds(new.started_at)  # no backoff: the retry began as it ended
        why = (old.message or "") if old.phase != "Running" else ""
        changes.append(StepChange(step_id, "retried", attempt, _span(seconds(old.started_at), end), why))
    elif attempt > was and new.pod:  # (a pod the API server refused never started)
        changes.append(StepChange(step_id, "started", attempt))
    ended = new.phase in ("Succeeded", "Failed") and attempt > 0
    if ended and (old is None or old.phase != new.phase or was != attempt):
        outcome: Kind = "succeeded" if new.phase == "Succeeded" else "failed"
        span = _span(seconds(new.started_at), seconds(new.finished_at))
        changes.append(StepChange(step_id, outcome, attempt, span, new.message or ""))
    return changes


def _span(start: float | None, end: float | None) -> float | None:
    return max(0.0, end - start) if start is not None and end is not None else None


@dataclass(frozen=True)
class Summary:
    """One Event: what kind, why, and the message."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


#: Each kind's Event: its type, reason, and message ("started 3 steps: a, b, c").
_EVENTS: dict[Kind, tuple[Literal["Normal", "Warning"], str, str]] = {
    "started": ("Normal", "StepsStarted", "started {count}: {steps}"),
    "cached": ("Normal", "StepsCached", "served {count} from the cache: {steps}"),
    "retried": ("Warning", "StepsRetried", "retrying {count}: {steps}"),
    "failed": ("Warning", "StepsFailed", "{count} failed: {steps}"),
}


def summaries(changes: Sequence[StepChange]) -> list[Summary]:
    """One Event per kind of change, naming how many steps and the first few: a fan-out of
    1,000 steps starting is one Event, not 1,000. Successes and skips are in the status, not in Events."""
    found = []
    for kind, (kind_type, reason, text) in _EVENTS.items():
        named = [_named(change) for change in changes if change.kind == kind]
        if named:
            found.append(Summary(kind_type, reason, text.format(count=_count(len(named)), steps=listing(named))))
    return found


def _named(change: StepChange) -> str:
    if change.kind == "retried":
        return f"{change.step} (attempt {change.attempt}; {change.message})" if change.message else change.step
    if change.kind == "failed" and change.message:
        return f"{change.step} ({change.message[:200]})"
    return change.step


def _count(number: int) -> str:
    return f"{number} step" if number == 1 else f"{number} steps"


def listing(names: Sequence[str], shown: int = SHOWN) -> str:
    """``a, b, c and 97 more``."""
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


@dataclass
class EventBatch:
    """One Run's step changes held back so that each Event reason is posted at most once per ``seconds``, with
    the counts summed over the passes in between: the first change of a reason is posted at once, later ones
    when its interval has passed (``due``) or the run ends (``flush``)."""

    seconds: float = EVENT_SECONDS
    pending: list[StepChange] = field(default_factory=list)
    posted_at: dict[Kind, float] = field(default_factory=dict)

    def add(self, changes: Sequence[StepChange], now: float) -> list[Summary]:
        """The changes of a pass kept; the Events now due."""
        self.pending.extend(change for change in changes if change.kind in _EVENTS)
        return self.due(now)

    def due(self, now: float) -> list[Summary]:
        """The Events whose reason was not posted within the interval, their changes no longer pending."""
        ready = {change.kind for change in self.pending if self._next(change.kind) <= now}
        for kind in ready:
            self.posted_at[kind] = now
        return self._take(ready)

    def flush(self) -> list[Summary]:
        """Every pending change as Events, whatever the interval: the run has ended, no later pass posts them."""
        return self._take({change.kind for change in self.pending})

    def next_due(self) -> float | None:
        """When the earliest pending Event is due, None when none is pending."""
        return min((self._next(change.kind) for change in self.pending), default=None)

    def _next(self, kind: Kind) -> float:
        return self.posted_at.get(kind, float("-inf")) + self.seconds

    def _take(self, kinds: set[Kind]) -> list[Summary]:
        taken = [change for change in self.pending if change.kind in kinds]
        self.pending = [change for change in self.pending if change.kind not in kinds]
        return summaries(taken)
