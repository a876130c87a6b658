"""The run state machine: from a plan, the arguments and the steps' recorded facts, what happens next.

``decide`` is a pure function. Backends record what they observe (a step started, finished, with
these outputs) in a ``RunState`` and ask again; the answer depends only on that data and the clock
passed in, so a restarted controller, a repeated event or a late one leads to the same decisions.

Semantics, as in KFP v1 (on Argo):
- a task starts when every task it depends on has finished;
- a false ``when`` skips the task or group; a task consuming the output of a skipped task is skipped
  too, while one that only runs ``after`` it still runs;
- after a step fails (retries exhausted) no new step starts; running ones finish, then the exit
  handler runs and the run fails;
- cancellation and the run timeout stop running steps, then run the exit handler.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeline.api.durations import parse_duration
from kubeline.engine import volumes
from kubeline.engine.plan import Plan
from kubeline.engine.resolution import Context, MissingInput, SkippedInput
from kubeline.engine.state import Decision, RunState, View
from kubeline.engine.templates import RUN_VALUES, render, substitute
from kubeline.engine.values import coerce
from kubeline.engine.walk import Walk


def default_values(plan: Plan, run: Mapping[str, str] | None) -> dict[str, Any]:
    """The parameters' defaults, with {{run.name}}, {{run.namespace}} and {{run.uid}} in text defaults
    replaced by the run's (``run``: its name, namespace and uid; None keeps them as written)."""
    return {name: _with_run(p.default, run) for name, p in plan.params.items() if p.default is not None}


def _with_run(default: Any, run: Mapping[str, str] | None) -> Any:
    if run is None or not isinstance(default, str):
        return default
    return substitute(
        default, lambda expression: run.get(expression.removeprefix("run.")) if expression in RUN_VALUES else None
    )


def bind_arguments(
    plan: Plan, arguments: dict[str, Any] | None, run: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Typed parameter values from a run's arguments (text from a command line is parsed), defaults for the
    rest. Run placeholders in defaults take ``run``'s values; an argument is the user's data, taken as given."""
    arguments = dict(arguments or {})
    defaults = default_values(plan, run)
    values, problems = {}, []
    for name in arguments:
        if name not in plan.params:
            problems.append(
                f"arguments.{name}: the pipeline has no parameter {name!r} (its parameters: {', '.join(plan.params) or 'none'})"
            )
    for name, param in plan.params.items():
        raw = arguments[name] if name in arguments else defaults.get(name)
        if raw is None:
            problems.append(f"arguments.{name}: required parameter ({param.type}) has no value and no default")
            continue
        try:
            values[name] = coerce(raw, param.type)
        except ValueError as error:
            problems.append(f"arguments.{name}: {error}")
    for volume in plan.spec.volumes or []:  # a size a parameter gives must be a quantity before any claim
        try:
            volumes.size(volume, values)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ValueError("\n".join(problems))
    return values


def decide(plan: Plan, params: dict[str, Any], state: RunState, now: float, max_start: int | None = None) -> Decision:
    """What to do next for a run: steps to start and stop, how everything looks, whether it is over.

    ``max_start`` caps the steps proposed to start (None: all that may). A backend that can start only a few
    at a time passes it, so a pass over a run with thousands of ready steps prepares only those few."""
    stopping = None
    deadline = None
    if plan.spec.timeout and state.started_at is not None:
        deadline = state.started_at + parse_duration(plan.spec.timeout)
    timed_out = deadline is not None and now >= deadline
    if state.cancelled:
        stopping = "not run: the run was cancelled"
    elif timed_out:
        stopping = f"not run: the run timed out after {plan.spec.timeout}"
    walk = Walk(plan, params, state, now, stopping, kill=stopping is not None, timed_out=timed_out, max_start=max_start)
    walk.run()
    if stopping is None and walk.found.failed:
        # fail fast: walk again so that nothing new starts and what did not run says why; a step that
        # failed before it could start (a bad input) is in no recorded state, so it is carried over
        failed_first = f"not run: {walk.found.failed[0]} failed"
        walk = Walk(
            plan, params, state, now, failed_first, kill=False, timed_out=False, unstartable=walk.found.unstartable
        )
        walk.run()
    decision = _decision(walk)
    if deadline is not None and stopping is None and not decision.finished:
        decision.wake_at = min(deadline, decision.wake_at or deadline)
    return decision


def _decision(walk: Walk) -> Decision:
    """The walk's findings as a decision: at most the run's parallelism started, the outcome once all is over."""
    found, outcome = walk.found, walk.outcome
    capacity = len(found.candidates)
    if walk.plan.spec.parallelism:
        running = sum(1 for s in walk.state.steps.values() if s.phase == "Running")
        capacity = max(0, walk.plan.spec.parallelism - running)
    start = found.candidates[:capacity]
    for waiting in found.candidates[capacity:]:
        found.views[waiting.id] = View("Pending", "waiting: the run's parallelism is reached")
    finished = outcome != "Running" and walk.exit_done and not start
    decision = Decision(
        phase=outcome if finished else "Running",
        start=start,
        stop=found.stops,
        views=found.views,
        wake_at=found.wake,
        # ready steps max_start left out, when the run's parallelism would start them now
        deferred=found.withheld if len(start) == len(found.candidates) else 0,
    )
    if finished:
        decision.message = _final_message(walk)
        if outcome == "Succeeded":
            decision.outputs = _pipeline_outputs(walk)
    return decision


def _final_message(walk: Walk) -> str:
    if walk.outcome == "Succeeded":
        return "all steps finished"
    if walk.outcome == "Cancelled":
        return "cancelled"
    if walk.timed_out:
        return f"the run timed out after {walk.plan.spec.timeout}"
    views = walk.found.views
    failures = [f"{i} failed: {views[i].message}" if views[i].message else f"{i} failed" for i in walk.found.failed]
    return "; ".join(failures[:3]) + (f" (and {len(failures) - 3} more)" if len(failures) > 3 else "")


def _pipeline_outputs(walk: Walk) -> dict[str, str]:
    """The pipeline's outputs whose references can be had (a skipped or missing one is left out)."""
    outputs = {}
    root = walk.plan.root
    context = Context({id(root): ""})
    for name, text in (walk.plan.spec.outputs or {}).items():
        try:
            outputs[name] = render(text, lambda ref: walk.resolver.text(ref, root, context))
        except (SkippedInput, MissingInput):
            continue
    return outputs
