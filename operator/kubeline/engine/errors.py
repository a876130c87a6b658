"""Problems in a pipeline or a run's input, each naming the field and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from kubeline.api.durations import DURATION_PATTERN
from kubeline.api.models import IDENTIFIER, IDENTIFIER_RULE
from kubeline.api.names import DNS_LABEL, RULE, name_problem
from kubeline.api.problems import Issue


def pydantic_issues(error: ValidationError, document: Any, prefix: str = "") -> list[Issue]:
    """Turn a pydantic ValidationError into issues whose paths use task names instead of list indexes.

    A value failing every member of a union (a quantity that is neither a number nor text) gives one
    issue per member in pydantic: only the first is kept, so each field gets one message.
    """
    issues: dict[str, Issue] = {}
    members: dict[str, list[str]] = {}  # path -> the union members a value failed, e.g. int, float, str
    failing: dict[str, Any] = {}  # path -> the value that failed them
    for detail in error.errors():
        path, node = prefix, document
        for part in detail["loc"]:
            if isinstance(part, int):
                item = node[part] if isinstance(node, list) and part < len(node) else None
                name = item.get("name") if isinstance(item, dict) else None
                path += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
                node = item
            else:
                if is_union_tag(part):
                    members.setdefault(path, []).append(str(part))
                    failing.setdefault(path, detail["input"])
                    continue
                path += f".{part}" if path else str(part)
                node = node.get(part) if isinstance(node, dict) else None
        issues.setdefault(path, Issue(path, _message(detail)))
    for path, failed in members.items():
        kinds = [_MEMBER_WORDS[m] for m in dict.fromkeys(failed) if m in _MEMBER_WORDS]
        if len(kinds) > 1 and path in issues:
            issues[path] = Issue(
                path, f"must be {', '.join(kinds[:-1])} or {kinds[-1]}, not {_type_name(failing[path])}"
            )
    return list(issues.values())


#: Union members in words, for a value that fits none of them (a quantity is an integer, a number or text).
_MEMBER_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "bool": "a boolean",
    "list": "a list",
    "dict": "a mapping",
}


#: Parts of a pydantic error location that name a validator or union member, not a field.
_UNION_TAGS = {"function-after", "function-before", "json-or-python", "list", "dict", "str", "int", "float", "bool"}


def name_list(names: Iterable[str]) -> str:
    """The names a message offers instead (known tasks, inputs…): sorted, or "none"."""
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"


def is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and (part in _UNION_TAGS or "[" in part)


def _message(detail: ErrorDetails) -> str:
    kind, message, value = detail["type"], detail["msg"], detail["input"]
    if kind == "extra_forbidden":
        return "unknown field (check its spelling; `kubectl explain` lists the fields)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return message.replace("Input should be", "must be")
    if kind == "string_pattern_mismatch":
        return _pattern_words(detail["ctx"]["pattern"], value)
    if kind == "string_too_long":
        return f"is {len(value)} characters long; at most {detail['ctx']['max_length']} are allowed"
    if kind == "list_type":
        example = f"[{value}]" if isinstance(value, str) else "[a, b]"
        return f"must be a list, e.g. {example}, not {_type_name(value)}"
    if kind == "string_type":
        return f"must be text, not {_type_name(value)}"
    if kind in ("int_type", "int_from_float"):
        return f"must be a whole number, e.g. 3, not {_type_name(value)}"
    if kind == "float_type":
        return f"must be a number, e.g. 1.5, not {_type_name(value)}"
    if kind == "model_type":
        return f"must be a mapping{_fields_of(detail)}, not {_type_name(value)}"
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    return message[0].lower() + message[1:] if message else kind


def _pattern_words(pattern: str, value: Any) -> str:
    """What a field's pattern means, in words: users read messages, not regexes."""
    if pattern == DURATION_PATTERN:
        return f"{value!r} is not a duration: write a duration like 30s, 5m, 1h30m or P1D"
    if pattern == DNS_LABEL:
        return name_problem(value) or f"{value!r} is not a valid name: use {RULE}"
    if pattern == IDENTIFIER:
        return f"{value!r} is not a valid identifier: {IDENTIFIER_RULE}"
    return f"{value!r} does not have the form this field takes (see `kubectl explain`)"


def _fields_of(detail: ErrorDetails) -> str:
    """The fields a mapping takes, from the model pydantic expected (e.g. retries: {limit, backoff})."""
    from kubeline.api import models

    model = getattr(models, str(detail.get("ctx", {}).get("class_name", "")), None)
    fields = getattr(model, "model_fields", None)
    if not fields:
        return ""
    names = [field.alias or name for name, field in fields.items()]
    return f" with the fields {', '.join(names)}"


def _type_name(value: Any) -> str:
    return {
        str: "text",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing",
    }.get(type(value), type(value).__name__)
