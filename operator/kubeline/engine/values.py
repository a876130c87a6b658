"""Parameter and output values: their types, and reading a value of a type from a literal or from text.

One home for the value types, used by runs (arguments), outputs (what steps write), the SDK and the importer
(KFP v1's type names).
"""

from __future__ import annotations

import json
import math
from typing import Any

from kubeline.api.limits import MAX_VALUE_NESTING

#: Output types whose data are files kept in the artifact store (KFP's visualizations among them); the
#: others are values, reported inline (KFP's metrics among them: JSON text).
FILE_OUTPUT_TYPES = frozenset({"artifact", "ui-metadata"})
#: Input types a step reads from a file (a value passed to one is written to the file).
FILE_INPUT_TYPES = frozenset({"artifact", "ui-metadata", "metrics"})

_VALUES = {"string", "integer", "number", "boolean", "list", "object", "metrics"}

#: Which types of what is passed an input of a given type accepts.
ACCEPTS: dict[str, set[str]] = {
    "string": _VALUES,
    "integer": {"integer"},
    "number": {"integer", "number"},
    "boolean": {"boolean"},
    "list": {"list"},
    "object": {"object"},
    **{kind: _VALUES | FILE_OUTPUT_TYPES for kind in FILE_INPUT_TYPES},
}


#: KFP v1's type names (any case), as in components and compiled workflows, and the value types they mean.
_KFP_TYPES = {
    "string": "string",
    "str": "string",
    "integer": "integer",
    "int": "integer",
    "float": "number",
    "double": "number",
    "boolean": "boolean",
    "bool": "boolean",
    "list": "list",
    "jsonarray": "list",
    "dict": "object",
    "jsonobject": "object",
}


def kfp_value_type(kfp_type: Any) -> str | None:
    """The value type a KFP v1 type name means (``Integer`` -> ``integer``), also written with its properties
    (``{String: {openapi_schema_validator: ...}}``, as kfp.dsl.types give it); None for other types (artifacts such
    as ``Model`` or ``CSV``, or no type)."""
    if isinstance(kfp_type, dict) and len(kfp_type) == 1:
        kfp_type = next(iter(kfp_type))
    return _KFP_TYPES.get(kfp_type.lower()) if isinstance(kfp_type, str) else None


def value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "string"


def coerce(value: Any, type_: str) -> Any:
    """A value of ``type_`` from a literal or its text (as given on a command line); ValueError if it is not one."""
    problem = surrogate_problem(value) if isinstance(value, str) else None
    if problem:
        raise ValueError(problem)
    if type_ == "string" or type_ in FILE_INPUT_TYPES:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        text = value.strip()
        if type_ == "boolean":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            raise ValueError(f"{value!r} is not a boolean (write true or false)")
        try:
            value = json.loads(text)
        except RecursionError:  # json's C decoder stops itself here, before the stack runs out
            raise ValueError(f"the value nests deeper than {MAX_VALUE_NESTING} levels") from None
        except ValueError:
            raise ValueError(f"{value!r} is not {article(type_)}") from None
    problem = _value_problem(value)
    if problem:
        raise ValueError(problem)
    actual = value_type(value)
    if actual not in ACCEPTS[type_]:
        raise ValueError(f"{json.dumps(value)} is not {article(type_)}")
    if type_ == "integer" and abs(value) > 2**63 - 1:
        raise ValueError(f"{value} does not fit in 64 bits")
    return float(value) if type_ == "number" else value


def _value_problem(value: Any) -> str | None:
    """NaN and Infinity (no JSON, no comparison works on them), text that is not UTF-8, or nesting beyond
    MAX_VALUE_NESTING, anywhere in a value."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_VALUE_NESTING:
            return f"the value nests deeper than {MAX_VALUE_NESTING} levels"
        if isinstance(current, float) and not math.isfinite(current):
            return f"{current} is not a number kubeline accepts: NaN and Infinity are not allowed"
        problem = surrogate_problem(current) if isinstance(current, str) else None
        if problem:
            return problem
        if isinstance(current, dict):
            stack.extend((key, depth) for key in current)
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return None


def surrogate_problem(text: str) -> str | None:
    """Text holding a lone surrogate (a JSON escape like \\ud800, or bytes that are not UTF-8 in a command
    line) cannot be written as UTF-8: not to a step's arguments, a file, nor the API server."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (
            f"{text[:40]!r} holds {text[error.start]!r} (character {error.start + 1}), which is not text: "
            "a lone surrogate from a \\u escape or from bytes that are not UTF-8"
        )
    return None


def article(type_: str) -> str:
    return {"integer": "an integer", "object": "an object (JSON mapping)", "list": "a list (JSON array)"}.get(
        type_, f"a {type_}"
    )
