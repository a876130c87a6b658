"""Checks of what a pipeline declares, apart from the tasks using it: parameters and components.

Decides whether defaults have their declared types and are used as written (no placeholders but the run's
name, namespace and uid in a parameter's default, filled in when the run starts), and
whether a component's command, args and env refer only to its own inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeline.api import models
from kubeline.api.problems import Issue
from kubeline.engine.errors import name_list
from kubeline.engine.templates import COMPONENT_SCOPE, RUN_VALUES, TASK_SCOPE, TemplateError, refs_in
from kubeline.engine.values import FILE_INPUT_TYPES, coerce


def param_problems(params: Iterable[models.Param]) -> list[Issue]:
    issues = []
    for param in params:
        if param.default is not None:
            path = f"spec.params[{param.name}].default"
            issues += _default_problems(path, param.default, param.type, RUN_VALUES)
    return issues


def component_problems(component: models.Component) -> list[Issue]:
    path = f"spec.components[{component.name}]"
    issues = []
    for i in component.inputs or []:
        if i.default is not None and i.type not in FILE_INPUT_TYPES:
            issues += _default_problems(f"{path}.inputs[{i.name}].default", i.default, i.type)
    inputs = {i.name for i in component.inputs or []}
    outputs = {o.name for o in component.outputs or []}
    container = component.container
    texts = [("command", t) for t in container.command or []] + [("args", t) for t in container.args or []]
    texts += [(f"env[{e.name}]", e.value) for e in container.env or []]
    for where, text in texts:
        try:
            refs = refs_in(text, COMPONENT_SCOPE)
        except TemplateError as error:
            issues.append(Issue(f"{path}.container.{where}", str(error)))
            continue
        for ref in refs:
            known = outputs if ref.kind == "output_path" else inputs
            if ref.name not in known:
                kind = "output" if ref.kind == "output_path" else "input"
                issues.append(
                    Issue(
                        f"{path}.container.{where}",
                        f"{{{{{ref}}}}} names no {kind} of the component (its {kind}s: {name_list(known)})",
                    )
                )
    return issues


def _default_problems(path: str, default: Any, type_name: str, filled: frozenset[str] = frozenset()) -> list[Issue]:
    issues = []
    try:
        coerce(default, type_name)
    except ValueError as error:
        issues.append(Issue(path, str(error)))
    return issues + _placeholder_in_default(path, default, filled)


def _placeholder_in_default(path: str, default: Any, filled: frozenset[str]) -> list[Issue]:
    """A default is used as written but for the placeholders in ``filled``: others would reach the step unfilled."""
    try:
        refs = refs_in(default, TASK_SCOPE | COMPONENT_SCOPE) if isinstance(default, str) else []
    except TemplateError:
        return []  # text that merely looks like one, e.g. a template the step fills itself
    unfilled = [ref for ref in refs if str(ref) not in filled]
    if not unfilled:
        return []
    only = (
        f"; a parameter's default fills in only {', '.join('{{' + f + '}}' for f in sorted(filled))}" if filled else ""
    )
    message = (
        f"{{{{{unfilled[0]}}}}} in a default is not filled in (a default is used as written{only}): "
        "pass it as the task's argument instead"
    )
    return [Issue(path, message)]
