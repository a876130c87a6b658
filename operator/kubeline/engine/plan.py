"""From a pipeline spec to a validated plan: scopes of tasks in dependency order.

Dependencies come from data (``{{tasks.X.outputs.Y}}`` in arguments, ``when`` and ``forEach``) and from
``after``. A reference to a task in an enclosing scope, or inside a condition group, is lifted to the
siblings that contain the two tasks, as KFP's compiler does. Every problem is collected, with the path of
the field at fault, so ``kubeline validate`` reports them all at once.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from kubeline.api import models
from kubeline.api.limits import MAX_GROUP_DEPTH, MAX_LOOP_ITEMS, MAX_NESTING
from kubeline.engine import conditions, stepid
from kubeline.engine.errors import Issue, PipelineInvalid, is_union_tag, pydantic_issues
from kubeline.engine.settings import Settings, settings_for
from kubeline.engine.templates import (
    COMPONENT_SCOPE,
    TASK_SCOPE,
    Ref,
    TemplateError,
    refs_in,
    whole_ref,
)
from kubeline.engine.values import ACCEPTS, article, coerce, surrogate_problem


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


def shape_problems(document: Any, prefix: str) -> list[Issue]:
    """Nesting beyond the limits, found without recursion: pydantic, json and the builder all recurse;
    and text no UTF-8 writer can carry (lone surrogates), from whatever made the document (YAML, the SDK)."""
    stack: list[tuple[Any, str, int]] = [(document, prefix, 1)]
    not_text: list[Issue] = []
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            return [Issue(path, f"mappings and lists nest deeper than {MAX_NESTING} levels here")]
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            child_path = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
            if isinstance(child, (dict, list)):
                stack.append((child, child_path, depth + 1))
            for text in (key, child):
                problem = surrogate_problem(text) if isinstance(text, str) else None
                if problem:
                    not_text.append(Issue(child_path, problem))
    if not_text:
        return not_text
    return _group_depth_problems(document.get("tasks"), f"{prefix}.tasks") if isinstance(document, dict) else []


def _group_depth_problems(tasks: Any, path: str) -> list[Issue]:
    stack: list[tuple[Any, str, int]] = [(tasks, path, 1)]
    while stack:
        tasks, path, depth = stack.pop()
        for index, task in enumerate(tasks if isinstance(tasks, list) else []):
            dag = task.get("dag") if isinstance(task, dict) else None
            if not isinstance(dag, dict):
                continue
            name = task.get("name")
            group = f"{path}[{name if isinstance(name, str) and name else index}].dag"
            if depth >= MAX_GROUP_DEPTH:
                return [Issue(group, f"groups (dag) nest more than {MAX_GROUP_DEPTH} deep; flatten the pipeline")]
            stack.append((dag.get("tasks"), f"{group}.tasks", depth + 1))
    return []


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


def _remove_field(document: dict[str, Any], loc: list[Any]) -> bool:
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
    def __init__(self, spec: models.PipelineSpec):
        self.spec = spec
        self.issues: list[Issue] = []
        self.components = {c.name: c for c in spec.components}
        self.params = {p.name: p for p in spec.params or []}
        self.defaults = spec.defaults or models.Defaults()
        self.root: Scope | None = None

    def error(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def build(self) -> Plan:
        self._check_params()
        self._check_components()
        root = self._scope(self.spec.tasks, "spec.tasks", None, None)
        exit_node = self._exit(root)
        self._check_outputs(root)
        return Plan(self.spec, root, exit_node, self.params)

    # -- params and components --------------------------------------------------------------------

    def _check_params(self) -> None:
        for param in self.spec.params or []:
            if param.default is not None:
                try:
                    coerce(param.default, param.type)
                except ValueError as error:
                    self.error(f"spec.params[{param.name}].default", str(error))
                self._check_default_is_literal(f"spec.params[{param.name}].default", param.default)

    def _check_default_is_literal(self, path: str, default: Any) -> None:
        """A default is used as written: a placeholder in it would reach the step unfilled."""
        try:
            refs = refs_in(default, TASK_SCOPE | COMPONENT_SCOPE) if isinstance(default, str) else []
        except TemplateError:
            return  # text that merely looks like one, e.g. a template the step fills itself
        if refs:
            self.error(
                path,
                f"{{{{{refs[0]}}}}} in a default is not filled in (a default is used as written): "
                "pass it as the task's argument instead",
            )

    def _check_components(self) -> None:
        for component in self.spec.components:
            path = f"spec.components[{component.name}]"
            inputs = {i.name for i in component.inputs or []}
            outputs = {o.name for o in component.outputs or []}
            for i in component.inputs or []:
                if i.default is not None and i.type != "artifact":
                    try:
                        coerce(i.default, i.type)
                    except ValueError as error:
                        self.error(f"{path}.inputs[{i.name}].default", str(error))
                    self._check_default_is_literal(f"{path}.inputs[{i.name}].default", i.default)
            container = component.container
            texts = [("command", t) for t in container.command or []] + [("args", t) for t in container.args or []]
            texts += [(f"env[{e.name}]", e.value) for e in container.env or []]
            for where, text in texts:
                try:
                    refs = refs_in(text, COMPONENT_SCOPE)
                except TemplateError as error:
                    self.error(f"{path}.container.{where}", str(error))
                    continue
                for ref in refs:
                    known = outputs if ref.kind == "output_path" else inputs
                    if ref.name not in known:
                        kind = "output" if ref.kind == "output_path" else "input"
                        self.error(
                            f"{path}.container.{where}",
                            f"{{{{{ref}}}}} names no {kind} of the component (its {kind}s: {_names(known)})",
                        )

    # -- scopes -------------------------------------------------------------------------------------

    def _scope(self, tasks: list[models.Task], path: str, parent: Scope | None, owner: Node | None) -> Scope:
        scope = Scope({}, parent, owner)
        if parent is None:
            self.root = scope
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
                node.component = self.components.get(task.component)
                if node.component is None:
                    self.error(
                        f"{node_path}.component",
                        f"unknown component {task.component!r} (defined: {_names(self.components)})",
                    )
            if task.dag is not None:
                node.body = self._scope(task.dag.tasks, f"{node_path}.dag.tasks", scope, node)
            if task.when is not None:
                try:
                    node.condition = conditions.parse(task.when)
                    conditions.check_operands(node.condition)
                except (conditions.ConditionError, TemplateError) as error:
                    self.error(f"{node_path}.when", str(error))
            if task.for_each is not None:
                self._check_for_each(node)
            if task.parallelism is not None and task.for_each is None:
                self.error(f"{node_path}.parallelism", "parallelism limits loop iterations: set forEach too")
        if parent is None:
            self._resolve(scope)
        return scope

    def _check_for_each(self, node: Node) -> None:
        value = node.task.for_each
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

    # -- references and dependencies ----------------------------------------------------------------

    def _resolve(self, root: Scope) -> None:
        """Compute visibility, dependencies and types for every scope, then order each scope."""
        self._visibility(root)
        self._dependencies(root, loop_items=0)
        self._order(root)

    def _visibility(self, scope: Scope) -> None:
        inherited = dict(scope.parent.visible) if scope.parent else {}
        local: dict[str, tuple[Scope, str]] = {}
        ambiguous: set[str] = set()

        def collect(inner: Scope, parent: str) -> None:
            for name, node in inner.nodes.items():
                if name in local and inner is not scope:
                    ambiguous.add(name)
                local.setdefault(name, (scope, stepid.child(parent, name)))
                if node.body is not None and not node.is_loop:
                    collect(node.body, stepid.child(parent, name))

        collect(scope, "")
        # names declared directly here win over names found inside condition groups
        for name in scope.nodes:
            local[name] = (scope, name)
            ambiguous.discard(name)
        for name in ambiguous:
            local.pop(name, None)
        scope.visible = {**inherited, **local}
        scope.ambiguous = ambiguous
        for node in scope.nodes.values():
            if node.body is not None:
                self._visibility(node.body)

    def _dependencies(self, scope: Scope, loop_items: int) -> None:
        for node in scope.nodes.values():
            deps: set[str] = set()
            for name in node.task.after or []:
                self._add_dependency(scope, node, name, f"{node.path}.after", deps)
            for path, ref in self._refs(node.path, self._texts(node)):
                self._check_ref(scope, node, ref, path, deps, loop_items)
                if path.endswith(".when") and self._ref_type(scope, ref) == "artifact":
                    self.error(
                        path,
                        f"{{{{{ref}}}}} is an artifact (a file), and a condition compares values: "
                        "have the task write the value as a value output",
                    )
            if node.component is not None:
                self._check_arguments(scope, node)
            if isinstance(node.for_each, str):
                self._check_loop_type(scope, node)
            if node.condition is not None:
                self._check_ordering(scope, node)
            node.deps = tuple(sorted(deps))
            if node.body is not None:
                self._dependencies(node.body, loop_items + (1 if node.is_loop else 0))

    def _refs(self, path: str, texts: list[tuple[str, str]]) -> Iterator[tuple[str, Ref]]:
        """The placeholders in a task's texts with the path of their field; malformed ones are reported."""
        for where, text in texts:
            try:
                refs = refs_in(text, TASK_SCOPE)
            except TemplateError as error:
                self.error(f"{path}.{where}", str(error))
                continue
            for ref in refs:
                yield f"{path}.{where}", ref

    def _texts(self, node: Node) -> list[tuple[str, str]]:
        texts = [(f"arguments.{k}", v) for k, v in node.arguments().items() if isinstance(v, str)]
        if isinstance(node.task, models.Task):
            if node.task.when:
                texts.append(("when", node.task.when))
            if isinstance(node.for_each, str):
                texts.append(("forEach", node.for_each))
        return texts

    def _check_ref(self, scope: Scope, node: Node, ref: Ref, path: str, deps: set[str], loop_items: int) -> None:
        if ref.kind == "param" and ref.name not in self.params:
            self.error(path, f"unknown parameter {ref.name!r} (declared: {_names(self.params)})")
        elif ref.kind == "item":
            own_loop = node.is_loop and ".arguments." in path  # a looped task's arguments see its items
            if loop_items == 0 and not own_loop:
                hint = " (a task's when and forEach are decided once, before its items exist)" if node.is_loop else ""
                self.error(path, "{{item}} is only defined inside forEach" + hint)
        elif ref.kind == "run" and ref.name == "status" and not isinstance(node.task, models.ExitTask):
            self.error(path, "{{run.status}} is only known to the exit handler (spec.onExit)")
        elif ref.kind == "task_output":
            target = self._add_dependency(scope, node, ref.task, path, deps)
            if target is not None:
                if target.body is not None:
                    self.error(path, f"{ref.task!r} is a group: groups have no outputs; use a task inside it")
                elif target.component is not None:
                    outputs = {o.name for o in target.component.outputs or []}
                    if ref.name not in outputs:
                        self.error(
                            path,
                            f"task {ref.task!r} has no output {ref.name!r} "
                            f"(component {target.component.name!r} outputs: {_names(outputs)})",
                        )

    def _add_dependency(self, scope: Scope, node: Node, name: str, path: str, deps: set[str]) -> Node | None:
        """Record that ``node`` waits for task ``name``; returns the referenced node when found."""
        found = scope.visible.get(name)
        if found is None:
            hidden = self._find_anywhere(name)
            if hidden is not None and hidden[1]:
                self.error(
                    path,
                    f"task {name!r} runs inside the loop {hidden[1]!r}: its outputs are not available "
                    f"outside it; depend on the loop with after: [{hidden[1]}]",
                )
            elif name in scope.ambiguous:
                self.error(path, f"task name {name!r} is used in several groups here; rename one")
            else:
                self.error(path, f"unknown task {name!r} (known here: {_names(scope.visible)})")
            return None
        home, relative = found
        top = stepid.parse(relative)[0].name
        ancestor = _ancestor_in(scope, home, node)
        target = node_at(home, relative)
        if ancestor is None or top == ancestor.name:
            if target is node:
                self.error(path, f"task {node.name!r} cannot depend on itself")
            elif top == node.name:
                self.error(path, f"task {name!r} is inside group {node.name!r}: a group cannot depend on its own tasks")
            else:
                self.error(path, f"{name!r} encloses this task: a task cannot depend on its own group")
            return None
        if home is scope:
            deps.add(top)
        else:
            ancestor.lifted.add(top)
        return target

    def _find_anywhere(self, name: str) -> tuple[Node, str] | None:
        """A task hidden from a scope: (node, name of the loop around it)."""

        def walk(scope: Scope, loop: str) -> tuple[Node, str] | None:
            for node in scope.nodes.values():
                if node.name == name:
                    return node, loop
                if node.body is not None:
                    hit = walk(node.body, node.name if node.is_loop else loop)
                    if hit:
                        return hit
            return None

        return walk(self.root, "") if self.root is not None else None

    def _check_arguments(self, scope: Scope, node: Node) -> None:
        component = node.component
        assert component is not None
        inputs = {i.name: i for i in component.inputs or []}
        arguments = node.arguments()
        for name in arguments:
            if name not in inputs:
                self.error(
                    f"{node.path}.arguments.{name}",
                    f"component {component.name!r} has no input {name!r} (its inputs: {_names(inputs)})",
                )
        for name, spec in inputs.items():
            path = f"{node.path}.arguments.{name}"
            if name not in arguments:
                if spec.default is None and not spec.optional:
                    self.error(
                        f"{node.path}.arguments",
                        f"missing argument {name!r} ({spec.type}) of component {component.name!r}",
                    )
                continue
            value = arguments[name]
            if value is None:
                self.error(
                    path,
                    "is null, which no input takes (the step would get the text 'null'): give a value, "
                    "or leave the argument out to use the input's default",
                )
                continue
            try:
                ref = whole_ref(value) if isinstance(value, str) else None
            except TemplateError:
                continue  # reported with the other placeholder problems
            if ref is None:
                if isinstance(value, str) and "{{" in value:
                    if spec.type not in ("string", "artifact"):
                        self.error(
                            path, f"a text with placeholders is a string, but input {name!r} is {article(spec.type)}"
                        )
                    continue
                try:
                    coerce(value, spec.type)
                except ValueError as error:
                    self.error(path, f"input {name!r}: {error}")
                continue
            actual = self._ref_type(scope, ref)
            if actual is None:
                continue
            if actual == "artifact" and spec.type != "artifact":
                self.error(
                    path,
                    f"{{{{{ref}}}}} is an artifact (a file); input {name!r} takes a value: make it an artifact input",
                )
            elif spec.type != "artifact" and actual not in ACCEPTS[spec.type]:
                self.error(path, f"{{{{{ref}}}}} is {article(actual)} but input {name!r} is {article(spec.type)}")

    def _check_ordering(self, scope: Scope, node: Node) -> None:
        """`<` and `>` order numbers (or text): a list or a mapping compared so would be compared as its JSON text."""
        stack = [node.condition]
        while stack:
            current = stack.pop()
            if isinstance(current, conditions.Not):
                stack.append(current.inner)
            elif isinstance(current, conditions.BoolOp):
                stack.extend(current.items)
            elif isinstance(current, conditions.Compare) and current.op in ("<", "<=", ">", ">="):
                for operand in (current.left, current.right):
                    ref = whole_ref(operand.text.strip())
                    kind = self._ref_type(scope, ref) if ref is not None else None
                    if kind in ("list", "object"):
                        self.error(
                            f"{node.path}.when",
                            f"{{{{{ref}}}}} is {article(kind)}, which '{current.op}' cannot "
                            "order: compare numbers or text, or use == and !=",
                        )

    def _check_loop_type(self, scope: Scope, node: Node) -> None:
        """forEach over a value that can never be a list fails at run time: say so now."""
        ref = whole_ref(node.for_each)
        actual = self._ref_type(scope, ref) if ref is not None else None
        if actual == "artifact":
            self.error(
                f"{node.path}.forEach",
                f"{{{{{ref}}}}} is an artifact (a file): forEach needs a list value "
                "(have the task write the list as an output of type list)",
            )
        if actual in ("integer", "number", "boolean", "object"):
            self.error(
                f"{node.path}.forEach",
                f"{{{{{ref}}}}} is {article(actual)}: forEach needs a list "
                "(a list parameter or output, or a string holding a JSON list)",
            )

    def _ref_type(self, scope: Scope, ref: Ref) -> str | None:
        if ref.kind == "param":
            param = self.params.get(ref.name)
            return param.type if param else None
        if ref.kind == "task_output":
            found = scope.visible.get(ref.task)
            target = node_at(found[0], found[1]) if found else None
            if target is None or target.component is None:
                return None
            if target.is_loop:
                return "list"
            return next((o.type for o in target.component.outputs or [] if o.name == ref.name), None)
        if ref.kind == "run":
            return "string"
        return None  # items: any type

    def _order(self, scope: Scope) -> None:
        """Topologically order each scope (declaration order among equals); report cycles by name."""
        for node in scope.nodes.values():
            if node.lifted:
                node.deps = tuple(sorted(set(node.deps) | node.lifted))
            if node.body is not None:
                self._order(node.body)
        remaining = {name: set(d for d in node.deps if d in scope.nodes) for name, node in scope.nodes.items()}
        ordered: list[str] = []
        while remaining:
            ready = [name for name, deps in remaining.items() if not deps]
            if not ready:
                cycle = _find_cycle(remaining)
                owner = scope.owner.path + ".dag.tasks" if scope.owner else "spec.tasks"
                self.error(owner, "dependency cycle: " + " -> ".join(cycle))
                ordered.extend(remaining)
                break
            for name in ready:
                ordered.append(name)
                del remaining[name]
            for deps in remaining.values():
                deps.difference_update(ready)
        scope.nodes = {name: scope.nodes[name] for name in ordered}

    # -- exit handler and outputs ---------------------------------------------------------------------

    def _exit(self, root: Scope) -> Node | None:
        exit_task = self.spec.on_exit
        if exit_task is None:
            return None
        path = "spec.onExit"
        if exit_task.name in root.visible:
            self.error(f"{path}.name", f"{exit_task.name!r} is also a task name; name the exit handler differently")
        node = Node(exit_task.name, path, exit_task, settings_for(self.defaults, [], exit_task))
        node.component = self.components.get(exit_task.component)
        if node.component is None:
            self.error(
                f"{path}.component", f"unknown component {exit_task.component!r} (defined: {_names(self.components)})"
            )
            return node
        for field_path, ref in self._refs(path, self._texts(node)):
            if ref.kind == "item":
                self.error(field_path, "{{item}} is only defined inside forEach")
            else:
                self._check_final_ref(root, ref, field_path)
        self._check_arguments(root, node)
        return node

    def _check_outputs(self, root: Scope) -> None:
        for path, ref in self._refs("spec.outputs", list((self.spec.outputs or {}).items())):
            if ref.kind in ("item", "run"):
                self.error(path, f"{{{{{ref}}}}} cannot be used in pipeline outputs")
            else:
                self._check_final_ref(root, ref, path)

    def _check_final_ref(self, root: Scope, ref: Ref, path: str) -> None:
        """A reference made after the DAG is done (exit handler, pipeline outputs): no dependency to add."""
        if ref.kind == "param" and ref.name not in self.params:
            self.error(path, f"unknown parameter {ref.name!r} (declared: {_names(self.params)})")
        elif ref.kind == "task_output":
            found = root.visible.get(ref.task)
            target = node_at(found[0], found[1]) if found else None
            if target is None:
                self.error(path, f"unknown task {ref.task!r} (known: {_names(root.visible)})")
            elif target.body is not None:
                self.error(path, f"{ref.task!r} is a group: groups have no outputs; use a task inside it")
            elif target.component and ref.name not in {o.name for o in target.component.outputs or []}:
                self.error(path, f"task {ref.task!r} has no output {ref.name!r}")


def _groups_around(scope: Scope) -> list[models.Task]:
    """The groups enclosing ``scope``, outermost first: their settings pass to their tasks."""
    groups: list[models.Task] = []
    current: Scope | None = scope
    while current is not None and current.owner is not None:
        assert isinstance(current.owner.task, models.Task)  # groups are tasks of a DAG, never the exit handler
        groups.insert(0, current.owner.task)
        current = current.parent
    return groups


def _ancestor_in(scope: Scope, home: Scope, node: Node) -> Node | None:
    """The node of ``home`` that is ``node`` or encloses it."""
    current, current_scope = node, scope
    while current_scope is not home:
        if current_scope.owner is None or current_scope.parent is None:
            return None
        current, current_scope = current_scope.owner, current_scope.parent
    return current


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


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    start = next(iter(graph))
    seen: list[str] = []
    current = start
    while current not in seen:
        seen.append(current)
        current = sorted(graph[current])[0]
    return seen[seen.index(current) :] + [current]


def _names(items: Any) -> str:
    names = sorted(items)
    return ", ".join(names) if names else "none"


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
        io.type == "artifact"
        for component in plan.spec.components
        for io in [*(component.inputs or []), *(component.outputs or [])]
    )
