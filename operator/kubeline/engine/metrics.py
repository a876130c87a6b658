"""KFP v1's scalar metrics: a step's output of type ``metrics`` (KFP's ``mlpipeline-metrics`` file),
``{"metrics": [{"name": "accuracy", "numberValue": 0.9, "format": "PERCENTAGE"}]}``.

As in KFP, metrics that cannot be read never fail their step: what is wrong is said in the step's message
and the rest is kept. A run's metrics, by step id then metric name, go to the Run's ``status.metrics``
(and a local run's result), within bounds so that a large loop keeps the status small.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field

from kubeline.engine.plan import Plan, node_for_step
from kubeline.engine.scopes import Node
from kubeline.engine.state import Decision, RunState, StepState

#: KFP's rule for a metric's name.
METRIC_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,62}[a-z0-9])?$")
#: Metrics kept of one step (KFP keeps 50 per run): the rest are named in the step's message.
MAX_STEP_METRICS = 50
#: Steps whose metrics a run's status holds, the first ones in the pipeline's order.
MAX_METRIC_STEPS = 100


@dataclass
class StepMetrics:
    """What a step's metrics outputs hold: the metrics that can be read, and what is wrong with the others."""

    values: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def of_step(node: Node | None, step: StepState) -> StepMetrics:
    """The metrics a succeeded step reported; a value kept in the artifact store (over 4 KiB) is not read."""
    found = StepMetrics()
    component = node.component if node is not None else None
    for output in component.outputs or [] if component is not None else []:
        if output.type != "metrics" or output.name not in step.outputs:
            continue
        if output.name in step.stored_values:
            found.problems.append(
                f"output {output.name!r} is too large to read (over 4 KiB, kept in the artifact store)"
            )
        else:
            values, problems = _read(output.name, step.outputs[output.name])
            for name, value in values:
                found.values.setdefault(name, value)
            found.problems += problems
    return found


def warning(found: StepMetrics) -> str:
    """The step's message when some of its metrics were ignored ("" when none were)."""
    if not found.problems:
        return ""
    more = f" (and {len(found.problems) - 3} more)" if len(found.problems) > 3 else ""
    return "metrics ignored, as KFP ignores them: " + "; ".join(found.problems[:3]) + more


@functools.lru_cache(maxsize=4096)
def _read(output: str, text: str) -> tuple[tuple[tuple[str, float], ...], tuple[str, ...]]:
    """The metrics of one output's text and its problems; remembered, since every decision and status of a
    run reads its steps' metrics again (a loop of 2,000 such steps would parse them all each time)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return (), (f'output {output!r} is not JSON: write {{"metrics": [{{"name": …, "numberValue": …}}]}}',)
    entries = document.get("metrics") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return (), (f"output {output!r} has no list 'metrics'",)
    values: dict[str, float] = {}
    problems = []
    for index, entry in enumerate(entries):
        problem = _entry_problem(entry, values)
        if problem:
            problems.append(f"output {output!r}, metrics[{index}]: {problem}")
        else:
            values[entry["name"]] = float(entry["numberValue"])
    return tuple(values.items()), tuple(problems)


def _entry_problem(entry: object, kept: dict[str, float]) -> str | None:
    if not isinstance(entry, dict):
        return "not a mapping with name and numberValue"
    name, value = entry.get("name"), entry.get("numberValue")
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        return f"name {name!r} is not a metric name (lowercase letters, digits and '-', starting with a letter)"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_as_float(value)):
        shown = repr(value)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
            shown = f"an integer of {len(str(abs(value)))} digits"
        return f"{name}: numberValue {shown} is not a finite number"
    if entry.get("format", "RAW") not in ("RAW", "PERCENTAGE"):
        return f"{name}: format {entry.get('format')!r} is not RAW or PERCENTAGE"
    if name in kept:
        return f"{name} is reported twice; the first value is kept"
    if len(kept) >= MAX_STEP_METRICS:
        return f"{name}: more than {MAX_STEP_METRICS} metrics in one step"
    return None


def _as_float(value: float) -> float:
    """``value`` as a float: infinite when it is an integer too large for one (JSON integers are unbounded)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


@dataclass
class RunMetrics:
    """A run's metrics by step id then name, of the first MAX_METRIC_STEPS steps reporting any (in the
    pipeline's order); ``left_out`` counts the steps beyond."""

    by_step: dict[str, dict[str, float]] = field(default_factory=dict)
    left_out: int = 0

    def note(self) -> str:
        """What a person reading the run's metrics must know ("" when they are all there)."""
        if not self.left_out:
            return ""
        return (
            f"the metrics of {self.left_out} more steps are left out (a run shows its first {MAX_METRIC_STEPS} "
            "steps' metrics): read them from those steps' outputs"
        )


def of_run(plan: Plan, decision: Decision, state: RunState) -> RunMetrics:
    found = RunMetrics()
    if not any(o.type == "metrics" for c in plan.spec.components for o in c.outputs or []):
        return found  # most pipelines: no step to look up
    for step_id, view in decision.views.items():
        step = state.steps.get(step_id)
        if not view.is_step or view.phase != "Succeeded" or step is None:
            continue
        values = of_step(node_for_step(plan, step_id), step).values
        if not values:
            continue
        if len(found.by_step) < MAX_METRIC_STEPS:
            found.by_step[step_id] = values
        else:
            found.left_out += 1
    return found
