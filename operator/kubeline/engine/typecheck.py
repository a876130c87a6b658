"""Checks of what flows into a task: whether each argument, condition operand and forEach list has a type
its use can take, judged from the declared types of parameters, outputs and inputs before anything runs.

They run once the scopes know what is visible where (a reference's target is found through the scope).
"""

from __future__ import annotations

from kubeline.api import models
from kubeline.api.problems import Issue
from kubeline.engine import conditions
from kubeline.engine.errors import name_list
from kubeline.engine.scopes import Node, Scope, visible_node
from kubeline.engine.templates import Ref, TemplateError, whole_ref
from kubeline.engine.values import ACCEPTS, FILE_INPUT_TYPES, FILE_OUTPUT_TYPES, article, coerce

Params = dict[str, models.Param]


def ref_type(scope: Scope, ref: Ref, params: Params) -> str | None:
    """The declared type of what ``ref`` refers to from ``scope``; None when unknown or any type."""
    if ref.kind == "param":
        param = params.get(ref.name)
        return param.type if param else None
    if ref.kind == "task_output":
        target = visible_node(scope, ref.task)
        if target is None or target.component is None:
            return None
        if target.is_loop:
            return "list"
        return next((o.type for o in target.component.outputs or [] if o.name == ref.name), None)
    if ref.kind in ("run", "volume"):
        return "string"
    return None  # items: any type


def argument_problems(scope: Scope, node: Node, params: Params) -> list[Issue]:
    """Arguments against the component's inputs: unknown or missing ones, nulls, and types that do not fit."""
    component = node.component
    assert component is not None
    inputs = {i.name: i for i in component.inputs or []}
    arguments = node.arguments()
    issues = [
        Issue(
            f"{node.path}.arguments.{name}",
            f"component {component.name!r} has no input {name!r} (its inputs: {name_list(inputs)})",
        )
        for name in arguments
        if name not in inputs
    ]
    for name, spec in inputs.items():
        if name in arguments:
            issues += _argument_problems(scope, node, spec, arguments[name], params)
        elif spec.default is None and not spec.optional:
            issues.append(
                Issue(
                    f"{node.path}.arguments",
                    f"missing argument {name!r} ({spec.type}) of component {component.name!r}",
                )
            )
    return issues


def _argument_problems(scope: Scope, node: Node, spec: models.Input, value: object, params: Params) -> list[Issue]:
    name = spec.name
    path = f"{node.path}.arguments.{name}"
    if value is None:
        message = (
            "is null, which no input takes (the step would get the text 'null'): give a value, "
            "or leave the argument out to use the input's default"
        )
        return [Issue(path, message)]
    try:
        ref = whole_ref(value) if isinstance(value, str) else None
    except TemplateError:
        return []  # reported with the other placeholder problems
    if ref is None:
        if isinstance(value, str) and "{{" in value:
            if spec.type != "string" and spec.type not in FILE_INPUT_TYPES:
                return [
                    Issue(path, f"a text with placeholders is a string, but input {name!r} is {article(spec.type)}")
                ]
            return []
        try:
            coerce(value, spec.type)
        except ValueError as error:
            return [Issue(path, f"input {name!r}: {error}")]
        return []
    actual = ref_type(scope, ref, params)
    if actual is None:
        return []
    if actual in FILE_OUTPUT_TYPES and spec.type not in FILE_INPUT_TYPES:
        return [
            Issue(
                path,
                f"{{{{{ref}}}}} is an artifact (a file); input {name!r} takes a value: make it an artifact input",
            )
        ]
    if spec.type not in FILE_INPUT_TYPES and actual not in ACCEPTS[spec.type]:
        return [Issue(path, f"{{{{{ref}}}}} is {article(actual)} but input {name!r} is {article(spec.type)}")]
    return []


def condition_operand_problem(scope: Scope, ref: Ref, path: str, params: Params) -> list[Issue]:
    """A condition compares values: an artifact (a file) in it cannot be compared."""
    if ref_type(scope, ref, params) not in FILE_OUTPUT_TYPES:
        return []
    message = (
        f"{{{{{ref}}}}} is an artifact (a file), and a condition compares values: "
        "have the task write the value as a value output"
    )
    return [Issue(path, message)]


def ordering_problems(scope: Scope, node: Node, params: Params) -> list[Issue]:
    """`<` and `>` order numbers (or text): a list or a mapping compared so would be compared as its JSON text."""
    issues = []
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
                kind = ref_type(scope, ref, params) if ref is not None else None
                if kind in ("list", "object"):
                    issues.append(
                        Issue(
                            f"{node.path}.when",
                            f"{{{{{ref}}}}} is {article(kind)}, which '{current.op}' cannot "
                            "order: compare numbers or text, or use == and !=",
                        )
                    )
    return issues


def loop_type_problems(scope: Scope, node: Node, params: Params) -> list[Issue]:
    """forEach over a value that can never be a list fails at run time: say so now."""
    ref = whole_ref(node.for_each)
    actual = ref_type(scope, ref, params) if ref is not None else None
    issues = []
    if actual in FILE_OUTPUT_TYPES:
        issues.append(
            Issue(
                f"{node.path}.forEach",
                f"{{{{{ref}}}}} is an artifact (a file): forEach needs a list value "
                "(have the task write the list as an output of type list)",
            )
        )
    if actual in ("integer", "number", "boolean", "object", "metrics"):
        issues.append(
            Issue(
                f"{node.path}.forEach",
                f"{{{{{ref}}}}} is {article(actual)}: forEach needs a list "
                "(a list parameter or output, or a string holding a JSON list)",
            )
        )
    return issues
