"""What a person sees while a local run goes: live progress on a terminal, a table at the end.

Names, messages and output values are the user's text, never Rich markup: they reach Rich only as
``Text`` objects (a value ``[/bold]`` is shown as written and cannot break the table).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kubeline.api.durations import format_duration
from kubeline.backends.local import RunResult
from kubeline.engine.state import Decision, RunState

_STYLES = {
    "Pending": ("·", "dim"),
    "Running": ("▶", "cyan"),
    "Succeeded": ("✔", "green"),
    "Failed": ("✘", "red"),
    "Skipped": ("↷", "yellow"),
    "Cancelled": ("■", "magenta"),
}


class _PlainConsole(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (``kubeline run ... | head -1``): Rich would exit 1, "failed"; kubeline's main
        reports a broken pipe as the shell does (141), whatever the run's outcome."""
        raise BrokenPipeError


def plain_console(**options: Any) -> Console:
    """A console that never reads markup, emoji codes or highlights in strings: what it prints is the user's text."""
    return _PlainConsole(markup=False, emoji=False, highlight=False, **options)


def _phase(phase: str, cached: bool = False, reused_from: str | None = None) -> Text:
    symbol, style = _STYLES.get(phase, ("?", ""))
    notes = (" (cached)" if cached else "") + (f" (reused from {reused_from})" if reused_from else "")
    return Text(f"{symbol} {phase}{notes}", style=style)


def _duration(step: Any, now: float) -> str:
    if step is None or step.started_at is None:
        return ""
    return format_duration((step.finished_at or now) - step.started_at)


#: Control characters, but for newline and tab: a value or log line holding them could set the terminal's
#: title, clear the screen or move the cursor, so they are shown as escapes (\x1b) instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str, style: str = "") -> Text:
    """The user's text as a Text, with control characters shown as escapes."""
    return Text(_CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text), style=style)


def _short(text: str, width: int) -> Text:
    text = " ".join(text.split())
    return visible(text if len(text) <= width else text[: width - 1] + "…")


class Progress:
    """Live view of the run on a terminal, redrawn a few times a second (durations keep ticking); silent off a TTY."""

    def __init__(self, console: Console, title: str):
        self.console = console
        self.title = title
        self.live: Live | None = None
        self.started = time.time()
        self.counts: dict[str, int] = {}
        self.active: list[tuple[str, str, float | None, str]] = []  # id, phase, started_at, message

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self.live = Live(console=self.console, refresh_per_second=8, transient=True, get_renderable=self._render)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, decision: Decision, state: RunState) -> None:
        """Take a snapshot: the live display renders from its own thread."""
        if self.live is None:
            return
        self.counts = decision.progress(state)
        active = []
        for step_id, view in decision.views.items():
            step = state.steps.get(step_id)
            if step is not None and step.phase == "Running":  # started since the decision was made
                active.append((step_id, "Running", step.started_at, ""))
            elif view.is_step and view.phase == "Failed":
                active.append((step_id, "Failed", None, view.message))
        self.active = active[-15:]

    def _render(self) -> Table:
        now = time.time()
        counts = self.counts or {"total": 0, "succeeded": 0, "failed": 0, "skipped": 0, "running": 0, "cached": 0}
        done = counts["succeeded"] + counts["failed"] + counts["skipped"]
        grid = Table.grid()
        grid.add_row(
            Text.assemble(
                (f"{self.title} ", "bold"),
                f"{done}/{counts['total']} steps · {counts['running']} running · {counts['cached']} cached · "
                f"{format_duration(now - self.started)}",
            )
        )
        steps = Table(box=None, pad_edge=False, show_header=False)
        for step_id, phase, started_at, message in self.active:
            elapsed = format_duration(now - started_at) if started_at is not None and phase == "Running" else ""
            steps.add_row(_phase(phase), Text(step_id), elapsed, _short(message, 60))
        grid.add_row(steps)
        return grid


#: Rows of the summary table at most: rich takes seconds to lay out thousands (42 s for 10,000 rows).
SUMMARY_ROWS = 50


def summary_table(result: RunResult) -> Table:
    """A row per step, at most SUMMARY_ROWS: those that did not succeed first, then the first that did."""
    decision, state = result.decision, result.state
    rows = [(i, view) for i, view in decision.views.items() if view.is_step or view.phase == "Skipped"]
    table = Table(title=visible(f"run {result.name}: {decision.phase}"), title_justify="left")
    if len(rows) > SUMMARY_ROWS:
        order = sorted(range(len(rows)), key=lambda n: rows[n][1].phase == "Succeeded")  # stable
        left_out = Counter(rows[n][1].phase for n in order[SUMMARY_ROWS:])
        rows = [rows[n] for n in sorted(order[:SUMMARY_ROWS])]
        counts = ", ".join(f"{count} {phase}" for phase, count in left_out.items())
        table.caption = (
            f"and {left_out.total()} more steps ({counts}): all are in `kubeline run --json` and `kubeline ui --local`"
        )
    for column in ("task", "phase", "duration", "outputs", "message"):
        table.add_column(column, overflow="fold")
    now = time.time()
    for step_id, view in rows:
        step = state.steps.get(step_id)
        shown = step.outputs if step and view.phase == "Succeeded" else {}
        outputs = Text(", ").join(Text(f"{k}=") + _short(v, 40) for k, v in shown.items())
        table.add_row(
            Text(step_id),
            _phase(view.phase, bool(step and step.cached), step.reused_from if step else None),
            _duration(step, now),
            outputs,
            _short(view.message, 80),
        )
    return table


def print_result(console: Console, result: RunResult) -> None:
    decision = result.decision
    console.print(summary_table(result))
    for step_id, view in decision.views.items():
        if view.is_step and view.phase == "Failed":
            tail = result.log_tail(step_id)
            if tail:
                console.print(Text(f"--- last lines of {step_id}'s log ({result.logs[step_id]}):", style="red"))
                console.print(visible(tail))
    if decision.outputs:
        console.print(visible("outputs: " + ", ".join(f"{k}={v}" for k, v in decision.outputs.items())))
    print_metrics(console, result.metrics.by_step, result.metrics.note())
    style = "green" if decision.phase == "Succeeded" else "red"
    console.print(
        visible(f"{decision.phase}: {decision.message}", style)
        if decision.message
        else Text(decision.phase, style=style)
    )


def print_metrics(console: Console, by_step: dict[str, dict[str, float]], note: str = "") -> None:
    """The metrics the steps reported (KFP's mlpipeline-metrics), a line per step."""
    for step_id, values in by_step.items():
        shown = ", ".join(f"{name}={value:g}" for name, value in values.items())
        console.print(visible(f"metrics of {step_id}: {shown}"))
    if note:
        console.print(visible(note, "yellow"))


def result_json(result: RunResult) -> str:
    decision, state = result.decision, result.state
    tasks = {}
    for step_id, view in decision.views.items():
        step = state.steps.get(step_id)
        entry: dict[str, Any] = {"phase": view.phase, "step": view.is_step}
        if view.message:
            entry["message"] = view.message
        if step is not None:
            entry.update(attempts=step.attempt, cached=step.cached, outputs=step.outputs)
            if step.reused_from:
                entry["reusedFrom"] = step.reused_from
            if step.started_at is not None and step.finished_at is not None:
                entry["durationSeconds"] = round(step.finished_at - step.started_at, 3)
            if step.exit_code is not None:
                entry["exitCode"] = step.exit_code
        tasks[step_id] = entry
    document = {
        "run": result.name,
        "phase": decision.phase,
        "message": decision.message,
        "directory": str(result.directory),
        "progress": decision.progress(state),
        "outputs": decision.outputs,
        "metrics": result.metrics.by_step,
        "tasks": tasks,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
