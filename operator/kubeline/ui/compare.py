"""Runs side by side: their parameters, metrics and outputs, one column a run, rows that differ marked.

A run's parameters are the values it ran with (``status.arguments``: the arguments bound with the defaults),
or, before it started, what it asked for (``spec.arguments``). A row a run lacks shows as absent, which
differs from every value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from kubeline.api.constants import PIPELINE_LABEL
from kubeline.ui.visualizations import metrics_table

#: Characters of one value shown in a cell; the rest is cut with an ellipsis.
MAX_VALUE_CHARS = 300


@dataclass(frozen=True)
class RunColumn:
    namespace: str
    name: str
    pipeline: str
    phase: str
    href: str


@dataclass(frozen=True)
class CompareRow:
    """One parameter, metric (``step`` set) or output; ``values[i]`` is run i's, None when it has none."""

    name: str
    values: list[str | None]
    differs: bool
    step: str = ""


@dataclass(frozen=True)
class Comparison:
    runs: list[RunColumn]
    parameters: list[CompareRow]
    metrics: list[CompareRow]
    outputs: list[CompareRow]


def compare(runs: Sequence[Mapping[str, Any]]) -> Comparison:
    """The comparison of ``runs`` (Run documents), in the order given."""
    columns = [_column(run) for run in runs]
    parameters = [
        _dict(_status(run).get("arguments")) or _dict(_dict(run.get("spec")).get("arguments")) for run in runs
    ]
    outputs = [_dict(_status(run).get("outputs")) for run in runs]
    metrics = [
        {(row.step, row.name): row.text for row in metrics_table(_dict(_status(run).get("metrics")))} for run in runs
    ]
    return Comparison(
        columns,
        _rows([{(name, ""): _text(value) for name, value in values.items()} for values in parameters]),
        _rows([{(name, step): text for (step, name), text in values.items()} for values in metrics]),
        _rows([{(name, ""): _text(value) for name, value in values.items()} for values in outputs]),
    )


def _rows(per_run: list[dict[tuple[str, str], str]]) -> list[CompareRow]:
    keys = list(dict.fromkeys(key for values in per_run for key in values))
    rows = []
    for name, step in keys:
        values = [values.get((name, step)) for values in per_run]
        rows.append(CompareRow(name, values, len(set(values)) > 1, step))
    return rows


def _column(run: Mapping[str, Any]) -> RunColumn:
    metadata, spec = _dict(run.get("metadata")), _dict(run.get("spec"))
    namespace, name = str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")
    pipeline = (
        _dict(spec.get("pipelineRef")).get("name")
        or _dict(metadata.get("labels")).get(PIPELINE_LABEL)
        or _dict(_status(run).get("pipelineSpec")).get("name")
        or ""
    )
    return RunColumn(
        namespace,
        name,
        str(pipeline),
        str(_status(run).get("phase") or "Pending"),
        f"/runs/{quote(namespace, safe='')}/{quote(name, safe='')}",
    )


def _status(run: Mapping[str, Any]) -> Mapping[str, Any]:
    return _dict(run.get("status"))


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    """A value as the user wrote it: text as is, the rest as compact JSON; long values cut."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "\u2026"
