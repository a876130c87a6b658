"""One pass over a run's tree: which tasks and groups wait, are skipped, fail, or have their steps decided.

A node waits for its dependencies; a failed dependency or a false condition skips it (and what it
contains); a loop expands into one instance per item, at most its parallelism begun at a time; a group
instance looks like the aggregate of its nodes. When the DAG is over, the exit handler is decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubeline.api import models
from kubeline.engine import conditions, stepid
from kubeline.engine.plan import Plan
from kubeline.engine.resolution import Context, LoopItem, MissingInput, Resolver, SkippedInput
from kubeline.engine.scopes import Node, Scope
from kubeline.engine.state import TERMINAL, RunOutcome, RunState, View, ViewPhase
from kubeline.engine.steps import Findings, StepDecider
from kubeline.engine.templates import Ref, TemplateError


class Walk:
    """A walk of the plan; ``stopping`` says why nothing new starts (None: the run goes on)."""

    def __init__(
        self,
        plan: Plan,
        params: dict[str, Any],
        state: RunState,
        now: float,
        stopping: str | None,
        kill: bool,
        timed_out: bool,
        unstartable: dict[str, str] | None = None,
        max_starts: int | None = None,
    ):
        self.plan, self.state, self.timed_out = plan, state, timed_out
        self.found = Findings(unstartable={} if unstartable is None else unstartable, max_starts=max_starts)
        volumes = {v.name: v for v in plan.spec.volumes or []}
        self.resolver = Resolver(params, state, self.found.views, volumes)
        self.decider = StepDecider(state, now, self.found, self.resolver, stopping, kill)
        self.exit_done = True
        self._begun_groups: set[str] | None = None  # loop iterations of groups with a step recorded

    @property
    def outcome(self) -> RunOutcome:
        """How the run ends, once its DAG is over ("Running" until then)."""
        return self.resolver.run_status

    def run(self) -> None:
        root = self.plan.root
        self._scope(root, "", Context({id(root): ""}))
        if any(self.found.views[name].phase not in TERMINAL for name in root.nodes):
            return
        if self.state.cancelled:
            self.resolver.run_status = "Cancelled"
        elif self.found.failed or self.timed_out:
            self.resolver.run_status = "Failed"
        else:
            self.resolver.run_status = "Succeeded"
        if self.plan.exit is not None:
            self._exit_handler(self.plan.exit)

    def _exit_handler(self, node: Node) -> None:
        """The exit handler runs whatever happened, even when the run is stopping; its failure fails the run."""
        saved, self.decider.stopping = self.decider.stopping, None
        failed_before = len(self.found.failed)
        self.decider.decide(node, node.name, Context({id(self.plan.root): ""}), self.plan.root)
        self.decider.stopping = saved
        self.exit_done = self.found.views[node.name].phase in TERMINAL
        if len(self.found.failed) > failed_before and self.outcome == "Succeeded":
            self.resolver.run_status = "Failed"

    def _scope(self, scope: Scope, parent: str, context: Context) -> ViewPhase:
        phases = []
        for node in scope.nodes.values():
            node_id = stepid.child(parent, node.name)
            self._node(node, scope, node_id, parent, context)
            phases.append(self.found.views[node_id].phase)
        return _aggregate(phases)

    def _node(self, node: Node, scope: Scope, node_id: str, parent: str, context: Context) -> None:
        is_step = node.body is None and not node.is_loop
        if not self._dependencies_done(node, node_id, parent, is_step):
            return
        try:
            if node.condition is not None and not self._condition_holds(node, scope, node_id, context):
                return
            items = self.resolver.items(node, scope, context) if node.is_loop else None
        except SkippedInput as skip:
            self._skip_all(node, node_id, str(skip))
            return
        except (MissingInput, conditions.ConditionError, TemplateError) as error:
            self.found.fail(node_id, str(error), is_step)
            return
        if items is None:
            self._instance(node, scope, node_id, context)
            return
        self._loop(node, scope, node_id, items, context)

    def _dependencies_done(self, node: Node, node_id: str, parent: str, is_step: bool) -> bool:
        """Whether the node's dependencies are over and none failed; else says why it waits or is skipped."""
        waiting = [d for d in node.deps if self.found.views[stepid.child(parent, d)].phase not in TERMINAL]
        if waiting:
            self.found.views[node_id] = View("Pending", f"waiting for {', '.join(waiting)}", is_step)
            return False
        failed = [d for d in node.deps if self.found.views[stepid.child(parent, d)].phase == "Failed"]
        if failed:
            self._skip_all(node, node_id, f"not run: {failed[0]} failed")
            return False
        return True

    def _condition_holds(self, node: Node, scope: Scope, node_id: str, context: Context) -> bool:
        assert node.condition is not None

        def resolve(ref: Ref) -> str:
            return self.resolver.text(ref, scope, context)

        if conditions.evaluate(node.condition, resolve):
            return True
        self._skip_all(node, node_id, f"condition is false: {conditions.describe(node.condition, resolve)}")
        return False

    def _loop(self, node: Node, scope: Scope, node_id: str, items: list[Any], context: Context) -> None:
        limit = node.task.parallelism if isinstance(node.task, models.Task) else None
        item_name = node.task.item_name if isinstance(node.task, models.Task) else None
        active = 0  # iterations begun and not finished, for the loop's parallelism
        phases = []
        for index, item in enumerate(items):
            iteration_id = stepid.instance(node_id, index)
            begun = self._has_begun(iteration_id, group=node.body is not None)
            may_start = context.may_start and (limit is None or begun or active < limit)
            candidates_before = len(self.found.candidates)
            items_inside = (*context.items, LoopItem(item_name, item))
            self._instance(node, scope, iteration_id, Context(context.prefixes, items_inside, may_start))
            phase = self.found.views[iteration_id].phase
            if phase not in TERMINAL and (begun or len(self.found.candidates) > candidates_before):
                active += 1
            phases.append(phase)
        message = f"{len(items)} iterations" if items else "the list is empty: nothing to run"
        self.found.views[node_id] = View(_aggregate(phases), message, is_step=False)

    def _has_begun(self, instance_id: str, group: bool) -> bool:
        """Whether any step of this loop iteration has been recorded."""
        if not group:
            return instance_id in self.state.steps
        if self._begun_groups is None:  # once a walk: a loop of 10,000 groups would scan every step 10,000 times
            self._begun_groups = stepid.enclosing_instances(self.state.steps)
        return instance_id in self._begun_groups

    def _instance(self, node: Node, scope: Scope, instance_id: str, context: Context) -> None:
        if node.body is None:
            self.decider.decide(node, instance_id, context, scope)
            return
        prefixes = {**context.prefixes, id(node.body): instance_id}
        inner = Context(prefixes, context.items, context.may_start)
        phase = self._scope(node.body, instance_id, inner)
        self.found.views[instance_id] = View(phase, "", is_step=False)

    def _skip_all(self, node: Node, node_id: str, message: str) -> None:
        self.found.views[node_id] = View("Skipped", message, is_step=node.body is None and not node.is_loop)


def _aggregate(phases: Sequence[str]) -> ViewPhase:
    """A group's phase from its nodes' phases."""
    if all(p in TERMINAL for p in phases):
        if "Failed" in phases:
            return "Failed"
        if phases and all(p == "Skipped" for p in phases):
            return "Skipped"
        return "Succeeded"
    if any(p in ("Running", "Succeeded", "Failed") for p in phases):
        return "Running"
    return "Pending"
