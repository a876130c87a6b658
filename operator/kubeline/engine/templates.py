"""Placeholders: ``{{params.x}}``, ``{{tasks.t.outputs.y}}``, ``{{item}}``, ``{{items.outer}}``, ``{{volumes.v.name}}``,
``{{inputs.x}}``, ``{{outputs.y.path}}``, ``{{pod.name}}``…

Parsing is separate from resolving so that validation can check every reference before a run starts,
and the run can resolve them with the values it has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_TASK = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"

_FORMS: list[tuple[str, re.Pattern[str]]] = [
    ("param", re.compile(rf"^params\.(?P<name>{_NAME})$")),
    ("task_output", re.compile(rf"^tasks\.(?P<task>{_TASK})\.outputs\.(?P<name>{_NAME})$")),
    ("item", re.compile(rf"^item(?P<fields>(\.{_NAME})*)$")),
    ("item", re.compile(rf"^items\.(?P<name>{_NAME})(?P<fields>(\.{_NAME})*)$")),  # a named loop's item
    ("input_path", re.compile(rf"^inputs\.(?P<name>{_NAME})\.path$")),
    ("input", re.compile(rf"^inputs\.(?P<name>{_NAME})$")),
    ("output_path", re.compile(rf"^outputs\.(?P<name>{_NAME})\.path$")),
    ("run", re.compile(r"^run\.(?P<name>status|name|namespace|uid)$")),
    ("volume", re.compile(rf"^volumes\.(?P<name>{_TASK})\.(?P<fields>name|size)$")),
    ("pod_name", re.compile(r"^pod\.name$")),
]

#: The run's own values, known when it starts (so a parameter's default may hold them).
RUN_VALUES = frozenset({"run.name", "run.namespace", "run.uid"})

#: Where each kind of placeholder may appear.
TASK_SCOPE = frozenset({"param", "task_output", "item", "run", "volume"})
#: ``{{pod.name}}`` (KFP's pod-name placeholder) is the backend's: the controller knows the pod's name.
COMPONENT_SCOPE = frozenset({"input", "input_path", "output_path", "pod_name"})


class TemplateError(ValueError):
    """A placeholder that is malformed or not allowed where it is."""


@dataclass(frozen=True)
class Ref:
    """A parsed placeholder; for ``item``, ``name`` is the loop's itemName ("" for the innermost loop)."""

    kind: str
    name: str = ""
    task: str = ""
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        return {
            "param": f"params.{self.name}",
            "task_output": f"tasks.{self.task}.outputs.{self.name}",
            "item": ".".join((f"items.{self.name}" if self.name else "item", *self.fields)),
            "input": f"inputs.{self.name}",
            "input_path": f"inputs.{self.name}.path",
            "output_path": f"outputs.{self.name}.path",
            "run": f"run.{self.name}",
            "volume": ".".join(("volumes", self.name, *self.fields)),
            "pod_name": "pod.name",
        }[self.kind]


def parse_ref(expression: str) -> Ref:
    for kind, pattern in _FORMS:
        match = pattern.match(expression)
        if match:
            groups = match.groupdict()
            fields = tuple(f for f in (groups.get("fields") or "").split(".") if f)
            return Ref(kind, name=groups.get("name") or "", task=groups.get("task") or "", fields=fields)
    raise TemplateError(
        f"unknown placeholder {{{{{expression}}}}}: use params.NAME, tasks.TASK.outputs.NAME, item, "
        "item.FIELD, items.ITEM_NAME, run.status, volumes.NAME.name, volumes.NAME.size, or in a component "
        "inputs.NAME, inputs.NAME.path, outputs.NAME.path, pod.name"
    )


def refs_in(text: str, allowed: frozenset[str]) -> list[Ref]:
    """All references in ``text``; TemplateError names the first one that is malformed or misplaced."""
    refs = []
    for match in PLACEHOLDER.finditer(text):
        ref = parse_ref(match.group(1))
        if ref.kind not in allowed:
            where = "in a component's container" if ref.kind in TASK_SCOPE else "in a task"
            raise TemplateError(f"{{{{{match.group(1)}}}}} cannot be used {where}")
        refs.append(ref)
    if "{{" in PLACEHOLDER.sub("", text):
        raise TemplateError(f"unclosed or nested '{{{{' in {text!r}")
    return refs


def whole_expression(text: str) -> str | None:
    """The expression inside when ``text`` is exactly one placeholder (``{{ x }}`` -> ``x``), else None."""
    match = PLACEHOLDER.fullmatch(text.strip())
    return match.group(1) if match else None


def whole_ref(text: str) -> Ref | None:
    """The reference when ``text`` is exactly one placeholder (so its value keeps its type)."""
    expression = whole_expression(text)
    return None if expression is None else parse_ref(expression)


def substitute(text: str, replace: Callable[[str], str | None]) -> str:
    """``text`` with each placeholder's expression replaced by ``replace``; None keeps the placeholder as written.

    The grammar of the braces alone: what the expression means is the caller's (the importer reads Argo's).
    """

    def one(match: re.Match[str]) -> str:
        replaced = replace(match.group(1))
        return match.group(0) if replaced is None else replaced

    return PLACEHOLDER.sub(one, text)


def render(text: str, resolve: Callable[[Ref], str]) -> str:
    return substitute(text, lambda expression: resolve(parse_ref(expression)))


def to_text(value: Any) -> str:
    """How a value appears on a command line and in outputs: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def item_field(item: Any, fields: tuple[str, ...]) -> Any:
    """A field of a loop item (a mapping, or JSON text of one), one level per name in ``fields``."""
    value = item
    for field in fields:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                pass
        if not isinstance(value, dict) or field not in value:
            raise TemplateError(f"the loop item {to_text(item)} has no field {field!r}")
        value = value[field]
    return value
