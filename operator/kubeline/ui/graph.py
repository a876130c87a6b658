"""A pipeline as a drawing's model: nodes (steps), groups (conditions, loops, sub-DAGs, the exit handler), edges.

Pure. The spec is parsed and planned by the engine itself (``engine.plan``), so the picture shows the tasks,
groups and dependencies the engine runs, and an invalid spec raises the engine's ``PipelineInvalid``.

A loop is drawn once: a task inside a ``forEach`` (at any depth) is one node standing for all its instances,
its ``counts`` tallying their phases from a run's ``status.tasks``. A step that has a ``when`` or a ``forEach`` of
its own is drawn inside a group of its own (with an empty label), so conditions and loops always read as groups.

The engine's plan of a spec is kept (``CACHED_SPECS`` of them, by the spec's digest), so colouring the same
frozen spec by a live run's statuses again costs only the tally, not a new plan.

Edges go from the task a task depends on to that task: ``data`` for ``{{tasks.X.outputs.Y}}`` in its arguments,
``when`` or ``forEach``; ``after`` for ``after: [X]``. A dependency of (or on) a whole group, such as
``after: [per-item]`` or a group's ``when``, is one edge whose end is the group's id: the layout draws it to the
group's box (a Graphviz cluster edge) rather than to each task inside.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeline.api import models
from kubeline.engine import stepid
from kubeline.engine.plan import build, load_spec
from kubeline.engine.scopes import Node as PlanNode
from kubeline.engine.scopes import Scope, visible_node
from kubeline.engine.templates import TASK_SCOPE, TemplateError, refs_in
from kubeline.ui.lru import LRU

#: Specs whose plan is kept for colouring them again.
CACHED_SPECS = 32
#: Longest text taken from a spec into a label (when-expressions may hold 4,096 characters).
MAX_LABEL_TEXT = 80

NodeKind = Literal["step", "exit"]
GroupKind = Literal["condition", "loop", "dag", "exit"]
EdgeKind = Literal["data", "after"]


@dataclass(frozen=True)
class Node:
    id: str  # "n0", "n1"... in the spec's order: safe as an HTML/SVG id
    task: str  # the task's path of names: "per-shard.train"
    label: str  # the display name, else the task name
    kind: NodeKind
    group: str | None  # id of the innermost enclosing Group; None at the top
    phase: str  # aggregate of its steps' phases; "" without a run
    cached: bool  # every one of its steps was served from the cache
    counts: dict[str, int]  # phase -> its steps in that phase
    steps: tuple[str, ...]  # the step ids it stands for, from status.tasks
    looped: bool = False  # inside a forEach: one node stands for many steps
    instances: int | None = None  # steps expected when the loops' lists are literal; None when not known


@dataclass(frozen=True)
class Group:
    id: str  # "g0", "g1"...
    label: str  # the group task's display name or name; "" for a step's own condition or loop
    kind: GroupKind
    parent: str | None
    detail: str  # "when …", "for each of 3 items", …


@dataclass(frozen=True)
class Edge:
    source: str  # a node id, or a group id for a dependency on the whole group
    target: str  # a node id, or a group id for a group's own when/forEach/after
    kind: EdgeKind


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    groups: tuple[Group, ...]
    edges: tuple[Edge, ...]

    def node_for_step(self, step_id: str) -> Node | None:
        """The node that stands for a step id (``loop[2].train`` -> the node of ``loop.train``)."""
        try:
            path = _name_path(step_id)
        except ValueError:
            return None
        return next((node for node in self.nodes if node.task == path), None)


def pipeline_graph(spec: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]] | None = None) -> Graph:
    """The graph of a pipeline spec (camelCase, as in the CRD), coloured by a run's ``status.tasks`` when given."""
    builder = _builder_of(spec)
    return builder.graph(_Tally.of(tasks, builder) if tasks is not None else None)


def spec_digest(spec: Mapping[str, Any]) -> str:
    """A digest of a spec's content: equal specs, equal digests (key order aside)."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_builders: LRU[_Builder] = LRU(CACHED_SPECS)


def _builder_of(spec: Mapping[str, Any]) -> _Builder:
    """The spec's nodes, groups and edges before any run's phases; kept by digest (a built one is only read)."""
    return _builders.get(spec_digest(spec), lambda: _build(spec))


def _build(spec: Mapping[str, Any]) -> _Builder:
    plan = build(load_spec(dict(spec)))
    builder = _Builder()
    builder.scope(plan.spec.tasks, plan.root, parent=None, path="", multiplier=1, looped=False)
    if plan.exit is not None:
        exit_group = builder.add_group("", "exit", None, "runs after all others, whatever the outcome", None)
        builder.add_node(plan.exit, plan.exit.name, exit_group, "exit", 1, looped=False)
        builder.owners.append((plan.exit, plan.root))
    for owner, scope in builder.owners:
        builder.dependencies(owner, scope)
    return builder


@dataclass
class _Pending:
    """A node before the run's phases are known."""

    plan_node: PlanNode
    task: str
    label: str
    kind: NodeKind
    group: str | None
    looped: bool
    instances: int | None


@dataclass
class _Builder:
    nodes: list[_Pending] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    edges: dict[tuple[str, str], EdgeKind] = field(default_factory=dict)
    ids: dict[int, str] = field(default_factory=dict)  # id(plan node) -> the graph id it is drawn as
    owners: list[tuple[PlanNode, Scope]] = field(default_factory=list)  # each plan node with the scope it lives in
    by_path: dict[str, int] = field(default_factory=dict)  # task path -> index in nodes
    group_leaves: dict[str, list[int]] = field(default_factory=dict)  # group task path -> its nodes' indexes

    def scope(
        self,
        tasks: list[models.Task],
        scope: Scope,
        parent: str | None,
        path: str,
        multiplier: int | None,
        looped: bool,
    ) -> None:
        for task in tasks:  # the spec's order, not the plan's topological one: stable ids as a spec grows
            node = scope.nodes[task.name]
            self.owners.append((node, scope))
            task_path = stepid.child(path, task.name)
            inside = parent
            count = multiplier
            if node.is_loop:
                literal = isinstance(node.for_each, list) and multiplier is not None
                count = multiplier * len(node.for_each) if multiplier is not None and literal else None
            if task.dag is not None and node.body is not None:
                kind: GroupKind = "loop" if node.is_loop else "condition" if task.when else "dag"
                inside = self.add_group(task.display_name or task.name, kind, parent, _detail(node), node)
                first = len(self.nodes)
                self.scope(task.dag.tasks, node.body, inside, task_path, count, looped or node.is_loop)
                self.group_leaves[task_path] = list(range(first, len(self.nodes)))
                continue
            if node.is_loop or node.condition is not None:
                kind = "loop" if node.is_loop else "condition"
                inside = self.add_group("", kind, parent, _detail(node), None)
            self.add_node(node, task_path, inside, "step", count, looped or node.is_loop)

    def add_group(self, label: str, kind: GroupKind, parent: str | None, detail: str, node: PlanNode | None) -> str:
        group_id = f"g{len(self.groups)}"
        self.groups.append(Group(group_id, _clip(label), kind, parent, detail))
        if node is not None:
            self.ids[id(node)] = group_id
        return group_id

    def add_node(
        self, node: PlanNode, task_path: str, group: str | None, kind: NodeKind, instances: int | None, looped: bool
    ) -> None:
        self.ids[id(node)] = f"n{len(self.nodes)}"
        self.by_path[task_path] = len(self.nodes)
        label = _clip(node.task.display_name or node.name)
        self.nodes.append(_Pending(node, task_path, label, kind, group, looped, instances if looped else None))

    def dependencies(self, node: PlanNode, scope: Scope) -> None:
        """Edges into ``node`` from the tasks its arguments, when, forEach and after name (resolved as the engine does)."""
        target = self.ids[id(node)]
        after = node.task.after if isinstance(node.task, models.Task) else None
        for name in after or []:
            self.add_edge(scope, name, target, "after")
        for text in _texts(node):
            try:
                refs = refs_in(text, TASK_SCOPE)
            except TemplateError:  # the plan was built, so this does not happen; a drawing needs no error here
                continue
            for ref in refs:
                if ref.kind == "task_output":
                    self.add_edge(scope, ref.task, target, "data")

    def add_edge(self, scope: Scope, name: str, target: str, kind: EdgeKind) -> None:
        source_node = visible_node(scope, name)
        if source_node is None:
            return
        key = (self.ids[id(source_node)], target)
        if self.edges.get(key) != "data":  # data and after both: the data edge says more
            self.edges[key] = kind

    def graph(self, tally: _Tally | None) -> Graph:
        nodes = []
        for index, pending in enumerate(self.nodes):
            counts, steps, cached, fallback = tally.for_node(index) if tally is not None else ({}, (), False, "")
            if counts and pending.instances is not None and sum(counts.values()) < pending.instances:
                counts["Pending"] = counts.get("Pending", 0) + pending.instances - sum(counts.values())
            phase = aggregate_phase(_expand(counts)) if counts else fallback
            nodes.append(
                Node(
                    f"n{index}",
                    pending.task,
                    pending.label,
                    pending.kind,
                    pending.group,
                    phase,
                    cached,
                    dict(sorted(counts.items())),
                    steps,
                    pending.looped,
                    pending.instances,
                )
            )
        return Graph(tuple(nodes), tuple(self.groups), self.drawn_edges())

    def drawn_edges(self) -> tuple[Edge, ...]:
        """The edges, less those an edge between enclosing groups already says (``gen -> loop`` covers
        ``gen -> loop.train``)."""
        parents = {group.id: group.parent for group in self.groups}
        parents.update({f"n{index}": pending.group for index, pending in enumerate(self.nodes)})

        def around(item: str) -> list[str]:
            chain, current = [], parents.get(item)
            while current is not None:
                chain.append(current)
                current = parents.get(current)
            return chain

        edges = []
        for (source, target), kind in self.edges.items():
            wider = [(s, t) for s in (source, *around(source)) for t in (target, *around(target))][1:]
            if not any(pair in self.edges for pair in wider):
                edges.append(Edge(source, target, kind))
        return tuple(edges)


def aggregate_phase(phases: Iterable[str]) -> str:
    """One phase for a node's steps: Running wins, then Failed, then Cancelled; all done is Succeeded (Skipped
    when every step was); done and waiting steps together are still Running, as the engine reads a group."""
    seen = set(phases)
    if not seen:
        return "Pending"
    for phase in ("Running", "Failed", "Cancelled"):
        if phase in seen:
            return phase
    if seen == {"Skipped"}:
        return "Skipped"
    if seen <= {"Succeeded", "Skipped"}:
        return "Succeeded"
    if seen & {"Succeeded", "Skipped"}:
        return "Running"
    return "Pending"


@dataclass
class _Tally:
    """A run's step statuses sorted onto the nodes."""

    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    steps: dict[int, list[str]] = field(default_factory=dict)
    uncached: set[int] = field(default_factory=set)
    whole: dict[int, str] = field(default_factory=dict)  # a phase given to a whole loop or group (e.g. Skipped)

    @classmethod
    def of(cls, tasks: Mapping[str, Mapping[str, Any]], builder: _Builder) -> _Tally:
        tally = cls()
        for step_id, status in tasks.items():
            try:
                path = _name_path(step_id)
            except ValueError:
                continue  # not a step id: nothing of this pipeline
            phase = str(status.get("phase") or "Pending")
            index = builder.by_path.get(path)
            if index is None:
                for leaf in builder.group_leaves.get(path, []):
                    tally.whole.setdefault(leaf, phase)
                continue
            if builder.nodes[index].looped and not _is_instance(step_id, builder.nodes[index].plan_node):
                tally.whole[index] = phase  # the loop's own entry: it failed or was skipped as a whole
                continue
            tally.counts.setdefault(index, {})
            tally.counts[index][phase] = tally.counts[index].get(phase, 0) + 1
            tally.steps.setdefault(index, []).append(step_id)
            if not status.get("cached"):
                tally.uncached.add(index)
        return tally

    def for_node(self, index: int) -> tuple[dict[str, int], tuple[str, ...], bool, str]:
        """Counts, step ids, whether all were cached, and the phase to show when it has no steps."""
        counts = dict(self.counts.get(index, {}))
        steps = tuple(self.steps.get(index, ()))
        cached = bool(steps) and index not in self.uncached
        return counts, steps, cached, self.whole.get(index, "Pending")


def _expand(counts: Mapping[str, int]) -> list[str]:
    return [phase for phase, count in counts.items() if count > 0]


def _name_path(step_id: str) -> str:
    """The task path of a step id, loop indexes left out: ``loop[2].train`` -> ``loop.train``."""
    return stepid.SEPARATOR.join(segment.name for segment in stepid.parse(step_id))


def _is_instance(step_id: str, node: PlanNode) -> bool:
    """Whether a looped step's status entry is one instance (``train[3]``) rather than the loop's own entry."""
    return stepid.parse(step_id)[-1].index is not None or not node.is_loop


def _texts(node: PlanNode) -> list[str]:
    """The texts whose placeholders make a task wait: string arguments, when, forEach (as the engine reads them)."""
    texts = [value for value in node.arguments().values() if isinstance(value, str)]
    if isinstance(node.task, models.Task):
        if node.task.when:
            texts.append(node.task.when)
        if isinstance(node.for_each, str):
            texts.append(node.for_each)
    return texts


def _detail(node: PlanNode) -> str:
    """What a group's box says below its name: its loop and its condition."""
    parts = []
    if isinstance(node.for_each, list):
        parts.append(f"for each of {len(node.for_each)} item{'s' if len(node.for_each) != 1 else ''}")
    elif node.for_each is not None:
        parts.append(f"for each of {node.for_each}")
    when = node.task.when if isinstance(node.task, models.Task) else None
    if when:
        parts.append(f"when {when}")
    return _clip(", ".join(parts))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LABEL_TEXT else text[: MAX_LABEL_TEXT - 1] + "…"
