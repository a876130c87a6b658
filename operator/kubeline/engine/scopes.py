"""The plan's tree: each DAG (the pipeline's, a group's) is a scope of task nodes in dependency order.

Which scope a task belongs to decides what it can see (``Scope.visible``) and which siblings it waits
for (``Node.deps``); a path of names from a scope (``cond.train``, loop indexes ignored) finds a node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.engine import conditions, stepid
from kubeline.engine.settings import Settings


@dataclass
class Node:
    name: str
    path: str  # spec path, for messages
    task: models.Task | models.ExitTask
    settings: Settings
    component: models.Component | None = None
    body: Scope | None = None  # a group's tasks
    deps: tuple[str, ...] = ()  # sibling names this node waits for
    condition: conditions.Node | None = None
    for_each: Any = None  # literal list, or a placeholder string
    lifted: set[str] = field(default_factory=set)  # dependencies of tasks inside this group, lifted to it

    @property
    def is_loop(self) -> bool:
        return self.for_each is not None

    def arguments(self) -> dict[str, Any]:
        return self.task.arguments or {}


@dataclass
class Scope:
    nodes: dict[str, Node]  # in a topological order
    parent: Scope | None = None
    owner: Node | None = None  # the group whose body this is
    #: Task names visible from here (this scope, its condition groups, enclosing scopes) -> relative id.
    visible: dict[str, tuple[Scope, str]] = field(default_factory=dict)
    ambiguous: set[str] = field(default_factory=set)  # names found in several condition groups


def node_at(scope: Scope, relative: str) -> Node | None:
    """The task or group at a path of names below ``scope``; loop indexes in it are ignored."""
    node: Node | None = None
    for segment in stepid.parse(relative):
        node = scope.nodes.get(segment.name)
        if node is None:
            return None
        if node.body is not None:
            scope = node.body
    return node


def visible_node(scope: Scope, name: str) -> Node | None:
    """The task or group that ``name`` refers to from ``scope``; None when none is visible there."""
    found = scope.visible.get(name)
    return node_at(*found) if found else None
