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

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeline.api import models
from kubeline.api.durations import format_duration, parse_duration
from kubeline.api.limits import MAX_LOOP_ITEMS, MAX_VALUE_NESTING, deeper_than
from kubeline.engine import conditions, stepid
from kubeline.engine.cachekey import cache_key
from kubeline.engine.plan import Plan
from kubeline.engine.scopes import Node, Scope, node_at
from kubeline.engine.templates import Ref, TemplateError, item_field, render, to_text, whole_ref
from kubeline.engine.values import coerce

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


@dataclass
class RunState:
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
    phase: RunOutcome
    message: str = ""
    start: list[StartStep] = field(default_factory=list)
    stop: list[StopStep] = field(default_factory=list)
    views: dict[str, View] = field(default_factory=dict)
    wake_at: float | None = None  # call decide again by then even if nothing happens
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


class _Skip(Exception):
    """An input comes from a skipped task: the consumer is skipped too."""


class _Fail(Exception):
    """An input cannot be had (missing output, not a list…): the task fails without running."""


def bind_arguments(plan: Plan, arguments: dict[str, Any] | None) -> dict[str, Any]:
    """Typed parameter values from a run's arguments (text from a command line is parsed)."""
    arguments = dict(arguments or {})
    values, problems = {}, []
    for name in arguments:
        if name not in plan.params:
            problems.append(
                f"arguments.{name}: the pipeline has no parameter {name!r} (its parameters: {', '.join(plan.params) or 'none'})"
            )
    for name, param in plan.params.items():
        raw = arguments.get(name, param.default)
        if raw is None:
            problems.append(f"arguments.{name}: required parameter ({param.type}) has no value and no default")
            continue
        try:
            values[name] = coerce(raw, param.type)
        except ValueError as error:
            problems.append(f"arguments.{name}: {error}")
    if problems:
        raise ValueError("\n".join(problems))
    return values


def decide(plan: Plan, params: dict[str, Any], state: RunState, now: float) -> Decision:
    """What to do next for a run: steps to start and stop, how everything looks, whether it is over."""
    stopping = None
    deadline = None
    if plan.spec.timeout and state.started_at is not None:
        deadline = state.started_at + parse_duration(plan.spec.timeout)
    timed_out = deadline is not None and now >= deadline
    if state.cancelled:
        stopping = "not run: the run was cancelled"
    elif timed_out:
        stopping = f"not run: the run timed out after {plan.spec.timeout}"
    walk = _Walk(plan, params, state, now, stopping, kill=stopping is not None, timed_out=timed_out)
    walk.run()
    if stopping is None and walk.failed:
        # fail fast: walk again so that nothing new starts and what did not run says why; a step that
        # failed before it could start (a bad input) is in no recorded state, so it is carried over
        unstarted = walk.unstartable
        walk = _Walk(plan, params, state, now, f"not run: {walk.failed[0]} failed", kill=False, timed_out=False)
        walk.unstartable = unstarted
        walk.run()
    decision = walk.decision()
    if deadline is not None and stopping is None and not decision.finished:
        decision.wake_at = min(deadline, decision.wake_at or deadline)
    return decision


@dataclass
class _Context:
    prefixes: dict[int, str]  # id(scope) -> id of the group instance it runs in ("" at the top)
    items: tuple[Any, ...] = ()
    may_start: bool = True


class _Walk:
    def __init__(
        self,
        plan: Plan,
        params: dict[str, Any],
        state: RunState,
        now: float,
        stopping: str | None,
        kill: bool,
        timed_out: bool,
    ):
        self.plan, self.params, self.state, self.now = plan, params, state, now
        self.stopping, self.kill, self.timed_out = stopping, kill, timed_out
        self.views: dict[str, View] = {}
        self.candidates: list[StartStep] = []
        self.stops: list[StopStep] = []
        self.failed: list[str] = []
        #: steps that failed while being prepared (step id -> why): they have no recorded state
        self.unstartable: dict[str, str] = {}
        self.wake: float | None = None
        self.main_phase: RunOutcome = "Running"
        self.exit_done = True

    # -- whole run ------------------------------------------------------------------------------------

    def run(self) -> None:
        root = self.plan.root
        context = _Context({id(root): ""})
        self._scope(root, "", context)
        if any(self.views[name].phase not in TERMINAL for name in root.nodes):
            return
        if self.state.cancelled:
            self.main_phase = "Cancelled"
        elif self.failed or self.timed_out:
            self.main_phase = "Failed"
        else:
            self.main_phase = "Succeeded"
        if self.plan.exit is not None:
            exit_node = self.plan.exit
            saved, self.stopping = self.stopping, None
            failed_before = len(self.failed)
            self._leaf(exit_node, exit_node.name, _Context({id(root): ""}))
            self.stopping = saved
            self.exit_done = self.views[exit_node.name].phase in TERMINAL
            if len(self.failed) > failed_before and self.main_phase == "Succeeded":
                self.main_phase = "Failed"

    def decision(self) -> Decision:
        capacity = len(self.candidates)
        if self.plan.spec.parallelism:
            running = sum(1 for s in self.state.steps.values() if s.phase == "Running")
            capacity = max(0, self.plan.spec.parallelism - running)
        start = self.candidates[:capacity]
        for waiting in self.candidates[capacity:]:
            self.views[waiting.id] = View("Pending", "waiting: the run's parallelism is reached")
        finished = self.main_phase != "Running" and self.exit_done and not start
        decision = Decision(
            phase=self.main_phase if finished else "Running",
            start=start,
            stop=self.stops,
            views=self.views,
            wake_at=self.wake,
        )
        if finished:
            decision.message = self._final_message()
            if self.main_phase == "Succeeded":
                decision.outputs = self._pipeline_outputs()
        return decision

    def _final_message(self) -> str:
        if self.main_phase == "Succeeded":
            return "all steps finished"
        if self.main_phase == "Cancelled":
            return "cancelled"
        if self.timed_out:
            return f"the run timed out after {self.plan.spec.timeout}"
        failures = [
            f"{i} failed: {self.views[i].message}" if self.views[i].message else f"{i} failed" for i in self.failed
        ]
        return "; ".join(failures[:3]) + (f" (and {len(failures) - 3} more)" if len(failures) > 3 else "")

    def _pipeline_outputs(self) -> dict[str, str]:
        outputs = {}
        context = _Context({id(self.plan.root): ""})
        for name, text in (self.plan.spec.outputs or {}).items():
            try:
                outputs[name] = render(text, lambda ref: to_text(self._resolve(ref, self.plan.root, context)))
            except (_Skip, _Fail):
                continue
        return outputs

    def _wake(self, at: float) -> None:
        self.wake = at if self.wake is None else min(self.wake, at)

    # -- scopes and nodes -----------------------------------------------------------------------------

    def _scope(self, scope: Scope, parent: str, context: _Context) -> ViewPhase:
        phases = []
        for node in scope.nodes.values():
            node_id = stepid.child(parent, node.name)
            self._node(node, scope, node_id, parent, context)
            phases.append(self.views[node_id].phase)
        return _aggregate(phases)

    def _node(self, node: Node, scope: Scope, node_id: str, parent: str, context: _Context) -> None:
        is_step = node.body is None and not node.is_loop
        waiting = [d for d in node.deps if self.views[stepid.child(parent, d)].phase not in TERMINAL]
        if waiting:
            self.views[node_id] = View("Pending", f"waiting for {', '.join(waiting)}", is_step)
            return
        failed = [d for d in node.deps if self.views[stepid.child(parent, d)].phase == "Failed"]
        if failed:
            self._skip_all(node, node_id, f"not run: {failed[0]} failed")
            return

        def resolve(ref: Ref) -> str:
            return to_text(self._resolve(ref, scope, context))

        try:
            if node.condition is not None:
                if not conditions.evaluate(node.condition, resolve):
                    detail = conditions.describe(node.condition, resolve)
                    self._skip_all(node, node_id, f"condition is false: {detail}")
                    return
            items = self._items(node, scope, context) if node.is_loop else None
        except _Skip as skip:
            self._skip_all(node, node_id, str(skip))
            return
        except (_Fail, conditions.ConditionError, TemplateError) as error:
            self.views[node_id] = View("Failed", str(error), is_step)
            self.failed.append(node_id)
            return
        if items is None:
            self._instance(node, scope, node_id, context)
            return
        self._loop(node, scope, node_id, items, context)

    def _loop(self, node: Node, scope: Scope, node_id: str, items: list[Any], context: _Context) -> None:
        limit = node.task.parallelism if isinstance(node.task, models.Task) else None
        active = 0  # iterations begun and not finished, for the loop's parallelism
        phases = []
        for index, item in enumerate(items):
            iteration_id = stepid.instance(node_id, index)
            begun = self._has_begun(iteration_id, group=node.body is not None)
            may_start = context.may_start and (limit is None or begun or active < limit)
            candidates_before = len(self.candidates)
            self._instance(node, scope, iteration_id, _Context(context.prefixes, (*context.items, item), may_start))
            phase = self.views[iteration_id].phase
            if phase not in TERMINAL and (begun or len(self.candidates) > candidates_before):
                active += 1
            phases.append(phase)
        message = f"{len(items)} iterations" if items else "the list is empty: nothing to run"
        self.views[node_id] = View(_aggregate(phases), message, is_step=False)

    def _has_begun(self, instance_id: str, group: bool) -> bool:
        """Whether any step of this loop iteration has been recorded."""
        if not group:
            return instance_id in self.state.steps
        return any(stepid.is_within(key, instance_id) for key in self.state.steps)

    def _instance(self, node: Node, scope: Scope, instance_id: str, context: _Context) -> None:
        if node.body is None:
            self._leaf(node, instance_id, context, scope)
            return
        prefixes = {**context.prefixes, id(node.body): instance_id}
        inner = _Context(prefixes, context.items, context.may_start)
        phase = self._scope(node.body, instance_id, inner)
        self.views[instance_id] = View(phase, "", is_step=False)

    def _skip_all(self, node: Node, node_id: str, message: str) -> None:
        self.views[node_id] = View("Skipped", message, is_step=node.body is None and not node.is_loop)

    # -- steps ----------------------------------------------------------------------------------------

    def _leaf(self, node: Node, step_id: str, context: _Context, scope: Scope | None = None) -> None:
        scope = scope or self.plan.root
        step = self.state.steps.get(step_id)
        settings = node.settings
        if step is not None and step.phase == "Running":
            self.views[step_id] = View("Running", step.message)
            if self.stopping and self.kill:
                self.stops.append(StopStep(step_id, self.stopping.removeprefix("not run: ")))
            elif settings.timeout and step.started_at is not None:
                deadline = step.started_at + settings.timeout
                if self.now >= deadline:
                    self.stops.append(StopStep(step_id, f"timed out after {format_duration(settings.timeout)}"))
                else:
                    self._wake(deadline)
            return
        if step is not None and step.phase == "Succeeded":
            self.views[step_id] = View("Succeeded", step.message)
            return
        attempt = 1
        if step is not None:  # failed
            can_retry = step.retryable and step.attempt <= settings.retry_limit and not self.stopping
            if not can_retry:
                self.views[step_id] = View("Failed", step.message)
                self.failed.append(step_id)
                return
            ready_at = (step.finished_at or self.now) + settings.backoff_delay(step.attempt)
            if self.now < ready_at:
                self._wake(ready_at)
                self.views[step_id] = View(
                    "Pending",
                    f"attempt {step.attempt} failed ({step.message}); retry {step.attempt} of "
                    f"{settings.retry_limit} in {format_duration(ready_at - self.now)}",
                )
                return
            attempt = step.attempt + 1
        if step_id in self.unstartable:
            self._fail_unstarted(step_id, self.unstartable[step_id])
            return
        if self.stopping:
            self.views[step_id] = View("Skipped", self.stopping)
            return
        if not context.may_start:
            self.views[step_id] = View("Pending", "waiting: the loop's parallelism is reached")
            return
        try:
            start = self._start(node, step_id, attempt, scope, context)
        except _Skip as skip:
            self.views[step_id] = View("Skipped", str(skip))
            return
        except (_Fail, TemplateError) as error:
            self._fail_unstarted(step_id, str(error))
            return
        self.views[step_id] = View("Pending", "starting" if attempt == 1 else f"starting attempt {attempt}")
        self.candidates.append(start)

    def _fail_unstarted(self, step_id: str, message: str) -> None:
        self.views[step_id] = View("Failed", message)
        self.failed.append(step_id)
        self.unstartable[step_id] = message

    def _start(self, node: Node, step_id: str, attempt: int, scope: Scope, context: _Context) -> StartStep:
        component = node.component
        assert component is not None
        arguments = node.arguments()
        inputs: dict[str, str] = {}
        artifacts: dict[str, str] = {}
        lineage: dict[str, str] = {}
        for spec in component.inputs or []:
            if spec.name not in arguments:
                if spec.default is not None:
                    inputs[spec.name] = to_text(coerce(spec.default, spec.type))
                continue
            value = arguments[spec.name]
            ref = whole_ref(value) if isinstance(value, str) else None
            if ref is not None and ref.kind == "task_output" and spec.type == "artifact":
                producer_id, producer, output_type = self._producer(ref, scope, context)
                if output_type == "artifact":
                    location = producer.outputs.get(ref.name)
                    if location is None:
                        raise _Fail(f"task {ref.task} recorded no artifact {ref.name}")
                    artifacts[spec.name] = location
                    lineage[spec.name] = f"{producer.cache_key or producer_id}/{ref.name}"
                    continue
            if isinstance(value, str):
                text = render(value, lambda r: to_text(self._resolve(r, scope, context)))
            else:
                text = to_text(value)
            if spec.type not in ("string", "artifact"):
                try:
                    coerce(text, spec.type)
                except ValueError as error:
                    raise _Fail(f"input {spec.name}: {error}") from None
            inputs[spec.name] = text
        settings = node.settings
        return StartStep(
            id=step_id,
            task=node.name,
            component=component,
            attempt=attempt,
            inputs=inputs,
            artifacts=artifacts,
            cache_key=cache_key(component, inputs, lineage),
            caching_enabled=settings.caching_enabled,
            max_staleness=settings.max_staleness,
            timeout=settings.timeout,
            scheduling=settings.scheduling,
        )

    # -- references -----------------------------------------------------------------------------------

    def _resolve(self, ref: Ref, scope: Scope, context: _Context) -> Any:
        if ref.kind == "param":
            return self.params[ref.name]
        if ref.kind == "item":
            if not context.items:
                raise _Fail("{{item}} is only defined inside forEach")
            return item_field(context.items[-1], ref.fields) if ref.fields else context.items[-1]
        if ref.kind == "run":
            return self.main_phase if ref.name == "status" else self.state.identity.get(ref.name, "")
        producer_id, producer, _ = self._producer(ref, scope, context)
        if isinstance(producer, list):
            return producer
        if ref.name not in producer.outputs:
            raise _Fail(f"task {ref.task} finished without output {ref.name}")
        return producer.outputs[ref.name]

    def _producer(self, ref: Ref, scope: Scope, context: _Context) -> tuple[str, Any, str]:
        """The step that produced ``ref`` (its id, its recorded state or, for a loop, the list of values)."""
        home, relative = scope.visible[ref.task]
        producer_id = stepid.child(context.prefixes.get(id(home), ""), relative)
        view = self.views.get(producer_id)
        if view is None or view.phase == "Skipped":
            raise _Skip(f"skipped: its input {ref} comes from skipped task {ref.task}")
        target = node_at(home, relative)
        assert target is not None and target.component is not None
        output_type = next((o.type for o in target.component.outputs or [] if o.name == ref.name), "string")
        if target.is_loop:
            values = []
            index = 0
            while stepid.instance(producer_id, index) in self.views:
                step = self.state.steps.get(stepid.instance(producer_id, index))
                if step is not None and step.phase == "Succeeded" and ref.name in step.outputs:
                    values.append(_parse_value(step.outputs[ref.name]))
                index += 1
            return producer_id, values, "list"
        step = self.state.steps.get(producer_id)
        if step is None or step.phase != "Succeeded":
            raise _Fail(f"task {ref.task} has not succeeded")
        return producer_id, step, output_type

    def _items(self, node: Node, scope: Scope, context: _Context) -> list[Any]:
        if isinstance(node.for_each, list):
            return node.for_each
        ref = whole_ref(node.for_each)
        assert ref is not None
        value = self._resolve(ref, scope, context)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise _Fail(f"forEach: {ref} is not a JSON list: {value[:200]!r}") from None
            except RecursionError:  # json's C decoder stops itself here, before the stack runs out
                value = None
            if value is None or deeper_than(value, MAX_VALUE_NESTING):
                raise _Fail(
                    f"forEach: {ref} nests deeper than {MAX_VALUE_NESTING} levels: loop over flat values or mappings"
                )
        if not isinstance(value, list):
            raise _Fail(f"forEach: {ref} is not a list: {to_text(value)[:200]!r}")
        if len(value) > MAX_LOOP_ITEMS:
            raise _Fail(
                f"forEach: {ref} has {len(value):,} items; a loop runs at most {MAX_LOOP_ITEMS:,} (each is a step): "
                "give each step a batch of items"
            )
        return value


def _parse_value(text: str) -> Any:
    """A loop iteration's output as a JSON value when it is one, nested within bounds; else the text."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return text if deeper_than(value, MAX_VALUE_NESTING) else value


def _aggregate(phases: Sequence[str]) -> ViewPhase:
    if all(p in TERMINAL for p in phases):
        if "Failed" in phases:
            return "Failed"
        if phases and all(p == "Skipped" for p in phases):
            return "Skipped"
        return "Succeeded"
    if any(p in ("Running", "Succeeded", "Failed") for p in phases):
        return "Running"
    return "Pending"
