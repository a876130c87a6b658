"""Which waiting Runs of a namespace may start now, and what each waiting one is told: pure, clock-free.

A namespace's Runs compete for three kinds of room: their Queue's (``Queue.spec.maxRunning``), and the
namespace's own limits of running Runs and of running step pods, set by the platform in the operator's
configuration. The controller keeps the records current from events and asks `admit` before a Run starts.

Order: higher effective priority first, then the older Run, then the name. A Run's effective priority grows
by one for every AGING_SECONDS it has waited, so a stream of higher-priority Runs delays a low one by a bounded
time, never forever. A Run held back by its full Queue takes no namespace room, so it never blocks a Run of
another Queue (no head-of-line blocking); a Run held back by the namespace limit keeps its place in line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

#: One priority point for each AGING_SECONDS waited: a Run of priority -1000 overtakes a stream of +1000 Runs
#: after 2000 minutes at the most (the whole range); within a few points, within minutes.
AGING_SECONDS = 60.0
#: Places up to this one are told exactly (and a Queue's status names this many waiting Runs); a Run further
#: back is told it is behind them, so a Run leaving the front rewrites this many messages, not every one.
PLACES_SHOWN = 100

RunState = Literal["waiting", "running"]


@dataclass(frozen=True)
class RunRecord:
    """What admission needs of a Run that has not finished: ``running`` from the moment it was admitted."""

    name: str
    created: float  # creationTimestamp, in seconds
    state: RunState = "waiting"
    queue: str | None = None
    priority: int = 0


@dataclass(frozen=True)
class Limits:
    """A namespace's limits (None: none)."""

    runs: int | None = None
    step_pods: int | None = None


@dataclass(frozen=True)
class QueueView:
    """A Queue's Runs as its status shows them: running (by name), and the first PLACES_SHOWN waiting in the
    order they will start (those admitted by this answer among them: they run once they take their room), with
    the count of all waiting."""

    running: list[str]
    waiting: list[str]
    waiting_count: int


@dataclass
class Admission:
    """The answer for a whole namespace: the Runs that may start now (in order), why each other waiting Run
    waits (a sentence for `kubectl get runs`), and every existing Queue's view."""

    admitted: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    queues: dict[str, QueueView] = field(default_factory=dict)


def effective_priority(record: RunRecord, now: float) -> int:
    """The Run's priority raised by its wait (aging), so none waits forever."""
    waited = max(0.0, now - record.created)
    return record.priority + int(waited // AGING_SECONDS)


def in_line(records: Iterable[RunRecord], now: float) -> list[RunRecord]:
    """Waiting Runs in the order they start: effective priority, then age, then name."""
    waiting = [record for record in records if record.state == "waiting"]
    return sorted(waiting, key=lambda record: (-effective_priority(record, now), record.created, record.name))


def admit(records: Iterable[RunRecord], queues: Mapping[str, int], limits: Limits, now: float) -> Admission:
    """Who starts now among ``records`` (a namespace's unfinished Runs), given its Queues (name -> maxRunning)
    and its limits."""
    records = list(records)
    running = [record for record in records if record.state == "running"]
    namespace_running = len(running)
    queue_running = {name: 0 for name in queues}
    for record in running:
        if record.queue is not None:
            queue_running[record.queue] = queue_running.get(record.queue, 0) + 1
    line = in_line(records, now)
    places: dict[str | None, int] = {}  # per queue (None: the namespace's line), Runs held back so far
    answer = Admission()

    def place_of(record: RunRecord, line_of: str | None) -> str:
        """``record`` stays waiting: its place in ``line_of`` (a queue's line, or the namespace's: None); it
        takes a place in its queue's line either way."""
        for key in {record.queue, line_of}:
            places[key] = places.get(key, 0) + 1
        return place_text(places[line_of])

    for record in line:
        queue = record.queue
        if queue is not None and queue not in queues:
            answer.reasons[record.name] = (
                f"waiting for Queue {queue}, which does not exist: create it or remove spec.queue"
            )
        elif queue is not None and queue_running[queue] >= queues[queue]:
            answer.reasons[record.name] = (
                f"queued: {place_of(record, queue)} in {queue} "
                f"(it runs {queues[queue]} at most, {queue_running[queue]} running)"
            )
        elif limits.runs is not None and namespace_running >= limits.runs:
            answer.reasons[record.name] = (
                f"waiting: {place_of(record, None)} in line, the namespace runs {limits.runs} Runs at most "
                f"({namespace_running} running)"
            )
        else:
            answer.admitted.append(record.name)
            namespace_running += 1
            if queue is not None:
                queue_running[queue] += 1
    for name in queues:
        waiting = [record.name for record in line if record.queue == name]
        answer.queues[name] = QueueView(
            running=sorted(record.name for record in running if record.queue == name),
            waiting=waiting[:PLACES_SHOWN],
            waiting_count=len(waiting),
        )
    return answer


def step_pod_room(limits: Limits, running_pods: int, wanted: int) -> int:
    """How many of ``wanted`` new step pods may be created while ``running_pods`` run in the namespace."""
    if limits.step_pods is None:
        return wanted
    return max(0, min(wanted, limits.step_pods - running_pods))


def pod_turns(waiting_since: Mapping[str, float], room: int) -> list[str]:
    """The Runs whose turn it is to take the ``room`` free step pod slots: those waiting for pod room longest
    (``waiting_since``: Run -> when it began to wait), one slot each. A Run served goes to the back of the line
    if it must wait again, so a Run with many steps cannot take every slot that frees."""
    return sorted(waiting_since, key=lambda run: (waiting_since[run], run))[: max(0, room)]


def place_text(place: int) -> str:
    """A place in line as a waiting Run is told it: exact up to PLACES_SHOWN, then only that it is further back."""
    return ordinal(place) if place <= PLACES_SHOWN else f"behind {PLACES_SHOWN} others"


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st…"""
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
