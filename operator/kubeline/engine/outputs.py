"""Checking what a step produced: every declared value output present, of its type, and small enough.

Both backends use this, so a pipeline that passes locally passes on a cluster. On a cluster, values travel
in the pod's termination message, 4 KiB at most: with an artifact store, larger ones go to the store (the
largest first, ``split_values``, alike in both backends) and their consumers read them as files.
"""

from __future__ import annotations

import json

from kubeline.api import models
from kubeline.engine.values import FILE_OUTPUT_TYPES, coerce

#: Bytes of a step's values, encoded as JSON, that fit in a termination message.
VALUE_OUTPUTS_LIMIT = 4096
#: The largest value a step may output: over VALUE_OUTPUTS_LIMIT, values are kept in the artifact store
#: (the operator's maxValueBytes may set another).
MAX_VALUE_BYTES = 64 * 1024 * 1024


class OutputError(ValueError):
    """The step's outputs break the component's contract; the message says which and how to fix it."""


def value_outputs(component: models.Component) -> list[models.Output]:
    return [o for o in component.outputs or [] if o.type not in FILE_OUTPUT_TYPES]


def normalize(raw: str) -> str:
    """A value as written to its file, less the one trailing newline that `echo` adds."""
    return raw[:-1] if raw.endswith("\n") else raw


def check_values(
    component: models.Component, values: dict[str, str], stored: frozenset[str] | None = None
) -> dict[str, str]:
    """The step's value outputs, checked; OutputError names the first problem. ``stored``, when a store
    carries the large values: the names whose text is an object reference, and no size limit applies."""
    checked = {}
    for output in value_outputs(component):
        if output.name not in values:
            raise OutputError(
                f"the step wrote no output {output.name!r} (to the file {{{{outputs.{output.name}.path}}}})"
            )
        if stored is not None and output.name in stored:
            checked[output.name] = values[output.name]
            continue
        value = normalize(values[output.name])
        if "\0" in value:
            raise OutputError(
                f"output {output.name!r} holds a NUL byte: a value is text (and feeds arguments, which cannot "
                f"carry NUL); declare binary outputs with type: artifact"
            )
        if output.type not in ("string", "metrics"):  # metrics are read leniently, as KFP does (engine.metrics)
            try:
                coerce(value, output.type)
            except ValueError as error:
                raise OutputError(f"output {output.name!r}: {error}") from None
        checked[output.name] = value
    size = len(encode(checked).encode())
    if stored is None and size > VALUE_OUTPUTS_LIMIT:
        biggest = max(checked, key=lambda name: len(checked[name]))
        raise OutputError(
            f"the step's values take {size} bytes, more than the {VALUE_OUTPUTS_LIMIT} a step may pass "
            f"(largest: {biggest!r}); declare large outputs with type: artifact"
        )
    return checked


def split_values(values: dict[str, str], limit: int = VALUE_OUTPUTS_LIMIT) -> frozenset[str]:
    """The values to keep in the artifact store, the largest first, until the rest fit in ``limit`` bytes
    (what a termination message carries): the same choice on a cluster and locally."""
    inline = dict(values)
    stored: set[str] = set()
    while inline and len(encode(inline).encode()) > limit:
        largest = max(sorted(inline), key=lambda name: len(inline[name].encode()))
        stored.add(largest)
        del inline[largest]
    return frozenset(stored)


def too_large(name: str, size: int, limit: int = MAX_VALUE_BYTES) -> OutputError:
    """The error for a value over the largest allowed (read no further than ``limit``)."""
    return OutputError(
        f"value output {name!r} is {size:,} bytes, over the largest value allowed ({limit:,} bytes, "
        "maxValueBytes): declare it as an artifact (OutputPath in the SDK, type: artifact in a component)"
    )


def encode(values: dict[str, str]) -> str:
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
