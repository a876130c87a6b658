"""A run's timeline (Gantt): one row per step from ``status.tasks``, bars scaled to the run's span.

Pure: the caller passes ``now`` (a running step's bar reaches it, so the page can redraw it live). A cached
step ran no pod, so it is a marker at its time; a step that never started is a row with no bar. Rows are
capped: a 10,000-step run draws its first ``MAX_TIMELINE_ROWS`` steps and says how many more there are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeline.api.durations import format_duration

#: Steps drawn; the rest are counted.
MAX_TIMELINE_ROWS = 500
#: SVG user units: the label column, the time axis, one row.
LABEL_WIDTH = 300
CHART_WIDTH = 900
#: Width of a bar for a step shorter than a pixel (times have one-second resolution): visible, not zero.
MIN_BAR = 3.0
ROW_HEIGHT = 20
AXIS_HEIGHT = 24
#: Characters of a step id drawn in the label column (the whole id is in the row's tooltip).
MAX_LABEL = 42
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Skipped")
TICKS = 5


@dataclass(frozen=True)
class Row:
    """``shape`` is bar (it ran), marker (served from the cache) or none (it never started)."""

    step: str
    label: str
    phase: str
    shape: str
    x: float
    width: float
    y: float
    tooltip: str
    running: bool


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    rows: list[Row]
    ticks: list[Tick]
    hidden: int  # steps not drawn (over the cap)
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    row_height: int = ROW_HEIGHT
    axis_height: int = AXIS_HEIGHT


def seconds(text: Any) -> float | None:
    """A status timestamp (RFC 3339, ``Z`` or an offset, fractions allowed) as epoch seconds; None if not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def timeline(status: Mapping[str, Any] | None, now: float) -> Timeline:
    """The Gantt of a run's ``status`` (its ``tasks``, ``startedAt``, ``finishedAt``) as of ``now``."""
    status = status or {}
    tasks = status.get("tasks") or {}
    spans = []
    for order, (step, task) in enumerate(tasks.items() if isinstance(tasks, Mapping) else ()):
        task = task if isinstance(task, Mapping) else {}
        start, end = seconds(task.get("startedAt")), seconds(task.get("finishedAt"))
        spans.append((start if start is not None else math.inf, order, str(step), task, start, end))
    spans.sort(key=lambda span: span[:2])
    run_end = seconds(status.get("finishedAt"))
    known = [t for span in spans for t in span[4:6] if t is not None]
    begin = min([*known, seconds(status.get("startedAt")) or math.inf])
    if begin == math.inf:
        begin = now
    finish = max([*known, run_end if run_end is not None else now, begin])
    span = max(finish - begin, 1.0)
    scale = CHART_WIDTH / span

    rows = []
    for index, (_, _, step, task, start, end) in enumerate(spans[:MAX_TIMELINE_ROWS]):
        phase = str(task.get("phase")) if task.get("phase") in PHASES else "Pending"
        running = start is not None and end is None and run_end is None
        if start is not None and end is None:
            end = run_end if run_end is not None else now
        cached = bool(task.get("cached"))
        when = start if start is not None else end
        shape = "marker" if cached else "none" if when is None else "bar"
        x = LABEL_WIDTH + ((when or begin) - begin) * scale
        width = max((end - start) * scale, MIN_BAR) if shape == "bar" and start is not None and end is not None else 0.0
        x = min(x, LABEL_WIDTH + CHART_WIDTH - width)  # a step ending with the run stays inside the chart
        rows.append(
            Row(
                step=step,
                label=step if len(step) <= MAX_LABEL else step[: MAX_LABEL - 1] + "\u2026",
                phase=phase,
                shape=shape,
                x=round(x, 2),
                width=round(width, 2),
                y=AXIS_HEIGHT + index * ROW_HEIGHT,
                tooltip=_tooltip(step, phase, cached, start, end, running),
                running=running,
            )
        )
    ticks = [
        Tick(round(LABEL_WIDTH + CHART_WIDTH * i / (TICKS - 1), 2), "+" + format_duration(span * i / (TICKS - 1)))
        for i in range(TICKS)
    ]
    return Timeline(
        rows,
        ticks,
        hidden=len(spans) - len(rows),
        width=LABEL_WIDTH + CHART_WIDTH,
        height=AXIS_HEIGHT + len(rows) * ROW_HEIGHT,
    )


def _tooltip(step: str, phase: str, cached: bool, start: float | None, end: float | None, running: bool) -> str:
    parts = [step, "cached" if cached else phase]
    if start is not None and end is not None and not cached:
        parts.append(("running for " if running else "took ") + format_duration(end - start))
    elif start is None and end is None:
        parts.append("not started")
    return ", ".join(parts)
