"""References between tasks: who can see whom, who waits for whom, and in which order each scope runs.

A task sees the tasks of its own scope, of the condition groups in it and of enclosing scopes, not those
inside loops. A placeholder ``{{tasks.X.outputs.Y}}`` (or ``after: [X]``) makes the task wait for X; when
X lives in an enclosing scope or inside a condition group, the dependency is lifted to the siblings that
contain the two tasks, as KFP's compiler does. Each scope is then ordered topologically; a cycle is
reported by name. The exit handler and the pipeline's outputs refer to tasks after the DAG is done.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubeline.api import models
from kubeline.api.problems import Issue
from kubeline.engine import stepid, typecheck
from kubeline.engine.errors import name_list
from kubeline.engine.scopes import Node, Scope, node_at, visible_node
from kubeline.engine.templates import TASK_SCOPE, Ref, TemplateError, refs_in


class References:
    """Resolves the references of a tree of scopes, collecting every problem in ``issues``."""

    def __init__(self, params: dict[str, models.Param], issues: list[Issue], volumes: frozenset[str] = frozenset()):
        self.params = params
        self.issues = issues
        self.volumes = volumes  # names of the pipeline's volumes
        self.root: Scope | None = None

    def error(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def resolve(self, root: Scope) -> None:
        """Compute visibility, dependencies and types for every scope, then order each scope."""
        self.root = root
        self._visibility(root)
        self._dependencies(root, loops=())
        self._order(root)

    # -- visibility ---------------------------------------------------------------------------------

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

    # -- dependencies -------------------------------------------------------------------------------

    def _dependencies(self, scope: Scope, loops: tuple[str | None, ...]) -> None:
        """``loops``: the itemName (None when unnamed) of each loop enclosing ``scope``, outermost first."""
        for node in scope.nodes.values():
            own_item = node.task.item_name if isinstance(node.task, models.Task) else None
            if own_item is not None and own_item in loops:
                self.error(
                    f"{node.path}.itemName",
                    f"{own_item!r} already names the item of an enclosing loop: give each nested loop's item "
                    "its own name",
                )
            deps: set[str] = set()
            after = node.task.after if isinstance(node.task, models.Task) else None
            for name in after or []:
                self._add_dependency(scope, node, name, f"{node.path}.after", deps)
            for path, ref in self._refs(node.path, _texts(node)):
                self._check_ref(scope, node, ref, path, deps, loops)
                if path.endswith(".when"):
                    self.issues += typecheck.condition_operand_problem(scope, ref, path, self.params)
            if node.component is not None:
                self.issues += typecheck.argument_problems(scope, node, self.params)
            if isinstance(node.for_each, str):
                self.issues += typecheck.loop_type_problems(scope, node, self.params)
            if node.condition is not None:
                self.issues += typecheck.ordering_problems(scope, node, self.params)
            node.deps = tuple(sorted(deps))
            if node.body is not None:
                self._dependencies(node.body, (*loops, own_item) if node.is_loop else loops)

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

    def _check_ref(
        self, scope: Scope, node: Node, ref: Ref, path: str, deps: set[str], loops: tuple[str | None, ...]
    ) -> None:
        if ref.kind in ("param", "volume"):
            self._check_declared(ref, path)
        elif ref.kind == "item":
            self._check_item(node, ref, path, loops)
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
                            f"(component {target.component.name!r} outputs: {name_list(outputs)})",
                        )

    def _check_item(self, node: Node, ref: Ref, path: str, loops: tuple[str | None, ...]) -> None:
        """{{item}} needs a loop around; {{items.NAME}} one named NAME. A looped task's arguments see its items."""
        own_loop = node.is_loop and ".arguments." in path
        in_scope = (*loops, node.task.item_name) if own_loop and isinstance(node.task, models.Task) else loops
        hint = " (a task's when and forEach are decided once, before its items exist)" if node.is_loop else ""
        if not in_scope:
            self.error(path, f"{{{{{ref}}}}} is only defined inside forEach" + hint)
        elif ref.name and ref.name not in in_scope:
            named = [name for name in in_scope if name]
            self.error(
                path,
                f"{{{{{ref}}}}}: no loop around this task has itemName {ref.name!r} "
                f"(item names here: {', '.join(named) or 'none'}){hint}",
            )

    def _check_declared(self, ref: Ref, path: str) -> None:
        """A parameter or a pipeline volume the spec declares."""
        if ref.kind == "param" and ref.name not in self.params:
            self.error(path, f"unknown parameter {ref.name!r} (declared: {name_list(self.params)})")
        elif ref.kind == "volume" and ref.name not in self.volumes:
            self.error(path, f"unknown volume {ref.name!r} (spec.volumes declares: {name_list(self.volumes)})")

    def _add_dependency(self, scope: Scope, node: Node, name: str, path: str, deps: set[str]) -> Node | None:
        """Record that ``node`` waits for task ``name``; returns the referenced node when found."""
        found = scope.visible.get(name)
        if found is None:
            self._report_unknown(scope, name, path)
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

    def _report_unknown(self, scope: Scope, name: str, path: str) -> None:
        """Why ``name`` is not visible from ``scope``: inside a loop, ambiguous, or unknown."""
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
            self.error(path, f"unknown task {name!r} (known here: {name_list(scope.visible)})")

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

    # -- order ----------------------------------------------------------------------------------------

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

    # -- after the DAG: the exit handler and the pipeline's outputs ------------------------------------

    def check_exit(self, root: Scope, node: Node) -> None:
        """The exit handler's references and arguments; it runs after every task, so it waits for none."""
        for field_path, ref in self._refs(node.path, _texts(node)):
            if ref.kind == "item":
                self.error(field_path, f"{{{{{ref}}}}} is only defined inside forEach")
            else:
                self._check_final_ref(root, ref, field_path)
        self.issues += typecheck.argument_problems(root, node, self.params)

    def check_outputs(self, root: Scope, outputs: dict[str, str]) -> None:
        for path, ref in self._refs("spec.outputs", list(outputs.items())):
            if ref.kind == "item" or (ref.kind == "run" and ref.name == "status"):
                self.error(path, f"{{{{{ref}}}}} cannot be used in pipeline outputs")
            else:
                self._check_final_ref(root, ref, path)

    def _check_final_ref(self, root: Scope, ref: Ref, path: str) -> None:
        """A reference made after the DAG is done (exit handler, pipeline outputs): no dependency to add."""
        if ref.kind in ("param", "volume"):
            self._check_declared(ref, path)
        elif ref.kind == "task_output":
            target = visible_node(root, ref.task)
            if target is None:
                self.error(path, f"unknown task {ref.task!r} (known: {name_list(root.visible)})")
            elif target.body is not None:
                self.error(path, f"{ref.task!r} is a group: groups have no outputs; use a task inside it")
            elif target.component and ref.name not in {o.name for o in target.component.outputs or []}:
                self.error(path, f"task {ref.task!r} has no output {ref.name!r}")


def _texts(node: Node) -> list[tuple[str, str]]:
    """The texts of a task that may hold placeholders, by field: string arguments, when, forEach."""
    found = [(f"arguments.{k}", v) for k, v in node.arguments().items() if isinstance(v, str)]
    if isinstance(node.task, models.Task):
        if node.task.when:
            found.append(("when", node.task.when))
        if isinstance(node.for_each, str):
            found.append(("forEach", node.for_each))
    return found


def _ancestor_in(scope: Scope, home: Scope, node: Node) -> Node | None:
    """The node of ``home`` that is ``node`` or encloses it."""
    current, current_scope = node, scope
    while current_scope is not home:
        if current_scope.owner is None or current_scope.parent is None:
            return None
        current, current_scope = current_scope.owner, current_scope.parent
    return current


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    start = next(iter(graph))
    seen: list[str] = []
    current = start
    while current not in seen:
        seen.append(current)
        current = sorted(graph[current])[0]
    return seen[seen.index(current) :] + [current]
