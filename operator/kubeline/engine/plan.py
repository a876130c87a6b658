"""From a pipeline spec to a validated plan: scopes of tasks in dependency order.

This module parses the spec (schema problems and the semantic problems beside them, reported together) and
builds its tree of scopes (``scopes``): each task gets its component, condition, loop and settings
(``settings``). The checks of declarations (``declarations``), of references and dependencies
(``references``) and of types (``typecheck``) add their problems, each with the path of the field at fault,
so ``kubeline validate`` reports them all at once.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubeline.api import models
from kubeline.api.limits import MAX_LOOP_ITEMS
from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.engine import conditions
from kubeline.engine.declarations import component_problems, param_problems, volume_problems
from kubeline.engine.errors import is_union_tag, name_list, pydantic_issues
from kubeline.engine.references import References
from kubeline.engine.scopes import Node, Scope, node_at
from kubeline.engine.settings import settings_for
from kubeline.engine.shape import shape_problems
from kubeline.engine.templates import TASK_SCOPE, TemplateError, refs_in, whole_ref
from kubeline.engine.values import FILE_OUTPUT_TYPES


@dataclass
class Plan:
    spec: models.PipelineSpec
    root: Scope
    exit: Node | None
    params: dict[str, models.Param]

    def steps(self) -> int:
        """Steps in the pipeline, counting each loop body once."""

        def count(scope: Scope) -> int:
            return sum(count(n.body) if n.body else 1 for n in scope.nodes.values())

        return count(self.root) + (1 if self.exit else 0)


def load_spec(document: Any, prefix: str = "spec") -> models.PipelineSpec:
    """Parse a Pipeline's spec (or a whole Pipeline document), reporting every schema problem.

    When some fields fail the schema, the rest is still checked by the builder, so one typo does not
    hide an unknown component elsewhere: schema and semantic problems are reported together.
    """
    if isinstance(document, dict) and document.get("kind") == "Pipeline":
        document = document.get("spec")
    if not isinstance(document, dict):
        raise PipelineInvalid([Issue(prefix, "must be a mapping with components and tasks")])
    shape = shape_problems(document, prefix)
    if shape:
        raise PipelineInvalid(shape)  # nothing below may walk a document this deep
    try:
        return models.PipelineSpec.model_validate(document)
    except ValidationError as error:
        schema = pydantic_issues(error, document, prefix)
        raise PipelineInvalid(schema + _semantic_issues_beside(error, document, prefix)) from None


#: Fields whose removal could make other parts look wrong (they declare what others refer to):
#: a schema error there leaves the semantic checks out rather than report false problems.
_DECLARING_FIELDS = {"name", "dag", "tasks", "components", "params"}


def build(spec: models.PipelineSpec) -> Plan:
    """Validate ``spec`` and build its plan; PipelineInvalid lists every problem found."""
    builder = _Builder(spec)
    plan = builder.build()
    if builder.issues:
        raise PipelineInvalid(builder.issues)
    return plan


def _semantic_issues_beside(error: ValidationError, document: dict[str, Any], prefix: str) -> list[Issue]:
    """The builder's problems in the parts of ``document`` that passed the schema.

    The fields at fault are removed (a copy); when what is left validates, it is built, and the problems
    found away from the removed fields are returned. Errors in declarations (params, components, names,
    groups) would make their users look wrong: then nothing is returned.
    """
    repaired = copy.deepcopy(document)
    for detail in error.errors():
        if not _remove_field(repaired, [p for p in detail["loc"] if isinstance(p, int) or not is_union_tag(p)]):
            return []
    try:
        spec = models.PipelineSpec.model_validate(repaired)
    except ValidationError:
        return []
    removed = [issue.path for issue in pydantic_issues(error, document, "spec")]
    builder = _Builder(spec)
    builder.build()
    return [
        _with_prefix(issue, prefix)
        for issue in builder.issues
        if not any(_overlaps(issue.path, path) for path in removed)
    ]


def _remove_field(document: dict[str, Any], loc: list[int | str]) -> bool:
    """Delete the field a schema error points at; False when it is a declaration or cannot be found."""
    keys = [index for index, part in enumerate(loc) if isinstance(part, str)]
    if not keys or loc[0] in ("params", "components") or loc[keys[-1]] in _DECLARING_FIELDS:
        return False
    node: Any = document
    for part in loc[: keys[-1]]:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return False
    if not isinstance(node, dict):
        return False
    node.pop(loc[keys[-1]], None)  # several errors may point at one field
    return True


def _overlaps(path: str, removed: str) -> bool:
    """Whether a problem is about a removed field, or about what holds it."""

    def within(inner: str, outer: str) -> bool:
        return inner == outer or inner.startswith(outer + ".") or inner.startswith(outer + "[")

    return within(path, removed) or within(removed, path)


def _with_prefix(issue: Issue, prefix: str) -> Issue:
    if prefix == "spec" or not issue.path.startswith("spec"):
        return issue
    return Issue(prefix + issue.path[len("spec") :], issue.message)


class _Builder:
    """Builds the tree of scopes: each task's node with its component, condition, loop and settings."""

    def __init__(self, spec: models.PipelineSpec):
        self.spec = spec
        self.issues: list[Issue] = []
        self.components = {c.name: c for c in spec.components}
        self.params = {p.name: p for p in spec.params or []}
        self.defaults = spec.defaults or models.Defaults()
        self.references = References(self.params, self.issues, frozenset(v.name for v in spec.volumes or []))

    def error(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def build(self) -> Plan:
        self.issues += param_problems(self.spec.params or [])
        self.issues += volume_problems(self.spec.volumes or [], self.spec.params or [])
        for component in self.spec.components:
            self.issues += component_problems(component)
        root = self._scope(self.spec.tasks, "spec.tasks", None, None)
        self.references.resolve(root)
        exit_node = self._exit(root)
        self.references.check_outputs(root, self.spec.outputs or {})
        return Plan(self.spec, root, exit_node, self.params)

    def _scope(self, tasks: list[models.Task], path: str, parent: Scope | None, owner: Node | None) -> Scope:
        scope = Scope({}, parent, owner)
        groups = _groups_around(scope)
        for task in tasks:
            node_path = f"{path}[{task.name}]"
            if task.name in scope.nodes:
                self.error(node_path, "duplicate task name in this DAG")
                continue
            node = Node(task.name, node_path, task, settings_for(self.defaults, groups, task))
            scope.nodes[task.name] = node
            if (task.component is None) == (task.dag is None):
                self.error(node_path, "set exactly one of component (a step) and dag (a group)")
            elif task.component is not None:
                node.component = self._component(task.component, f"{node_path}.component")
            if task.dag is not None:
                node.body = self._scope(task.dag.tasks, f"{node_path}.dag.tasks", scope, node)
            if task.when is not None:
                self._condition(node, task.when)
            if task.for_each is not None:
                self._for_each(node, task.for_each)
            if task.parallelism is not None and task.for_each is None:
                self.error(f"{node_path}.parallelism", "parallelism limits loop iterations: set forEach too")
            if task.item_name is not None and task.for_each is None:
                self.error(f"{node_path}.itemName", "itemName names a loop's item: set forEach too")
        return scope

    def _component(self, name: str, path: str) -> models.Component | None:
        component = self.components.get(name)
        if component is None:
            self.error(path, f"unknown component {name!r} (defined: {name_list(self.components)})")
        return component

    def _condition(self, node: Node, when: str) -> None:
        try:
            node.condition = conditions.parse(when)
            conditions.check_operands(node.condition)
        except (conditions.ConditionError, TemplateError) as error:
            self.error(f"{node.path}.when", str(error))

    def _for_each(self, node: Node, value: Any) -> None:
        path = f"{node.path}.forEach"
        if isinstance(value, list):
            if len(value) > MAX_LOOP_ITEMS:
                self.error(
                    path,
                    f"has {len(value):,} items; a loop runs at most {MAX_LOOP_ITEMS:,} (each is a step): "
                    "give each step a batch of items, or split the work into several runs",
                )
            node.for_each = value
            return
        if not isinstance(value, str) or whole_ref(value) is None:
            self.error(path, "must be a list or one placeholder of a list, e.g. {{tasks.gen.outputs.items}}")
            return
        try:
            refs_in(value, TASK_SCOPE)
        except TemplateError as error:
            self.error(path, str(error))
            return
        node.for_each = value

    def _exit(self, root: Scope) -> Node | None:
        exit_task = self.spec.on_exit
        if exit_task is None:
            return None
        path = "spec.onExit"
        if exit_task.name in root.visible:
            self.error(f"{path}.name", f"{exit_task.name!r} is also a task name; name the exit handler differently")
        node = Node(exit_task.name, path, exit_task, settings_for(self.defaults, [], exit_task))
        node.component = self._component(exit_task.component, f"{path}.component")
        if node.component is not None:
            self.references.check_exit(root, node)
        return node


def _groups_around(scope: Scope) -> list[models.Task]:
    """The groups enclosing ``scope``, outermost first: their settings pass to their tasks."""
    groups: list[models.Task] = []
    current: Scope | None = scope
    while current is not None and current.owner is not None:
        assert isinstance(current.owner.task, models.Task)  # groups are tasks of a DAG, never the exit handler
        groups.insert(0, current.owner.task)
        current = current.parent
    return groups


def node_for_step(plan: Plan, step_id: str) -> Node | None:
    """The task a step id (``loop[2].train``, ``add``, the exit handler's name) was made from."""
    if plan.exit is not None and step_id == plan.exit.name:
        return plan.exit
    try:
        return node_at(plan.root, step_id)
    except ValueError:  # not a step id: no task made it
        return None


def uses_artifacts(plan: Plan) -> bool:
    """Whether any step reads or writes files that other steps see (they then share a volume)."""
    return any(
        not FILE_OUTPUT_TYPES.isdisjoint(
            [*(i.type for i in component.inputs or []), *(o.type for o in component.outputs or [])]
        )
        for component in plan.spec.components
    )
