"""KFP v1 visualizations (``mlpipeline-ui-metadata``) and scalar metrics (``mlpipeline-metrics``) as view models.

Pipelines written for KFP v1 write ``{"outputs": [{"type": "markdown", "storage": "inline", "source": ...}]}``;
the UI shows what it can read itself (inline sources) and says what it cannot show and why, rather than fail:
the metadata is the user's data, so malformed parts become a ``Notice``, never an exception. Everything here is
pure; ``partials/visualization.html`` draws the views, escaping all text (Markdown is rendered in a safe mode:
raw HTML off, links only to http and https, no remote images).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from markdown_it import MarkdownIt
from markupsafe import Markup

#: Bytes of metadata read at all (a larger file is refused with a notice, not parsed).
MAX_METADATA_BYTES = 4 * 1024 * 1024
#: Bytes of one inline source used (Markdown, CSV, web app); the rest is cut and the view says so.
MAX_SOURCE_BYTES = 512 * 1024
#: Rows of a table shown.
MAX_TABLE_ROWS = 500
#: Labels of a confusion matrix (a square of at most this many rows and columns).
MAX_LABELS = 100
#: Points of a ROC curve drawn; more are thinned evenly, keeping the first and the last.
MAX_ROC_POINTS = 1000
#: The side of the ROC plot in SVG user units (the template's viewBox).
ROC_SIZE = 100


@dataclass(frozen=True)
class Notice:
    """What was not shown and why."""

    kind: ClassVar[str] = "notice"
    title: str
    message: str


@dataclass(frozen=True)
class MarkdownView:
    kind: ClassVar[str] = "markdown"
    html: Markup
    truncated: bool = False


@dataclass(frozen=True)
class TableView:
    kind: ClassVar[str] = "table"
    header: list[str]
    rows: list[list[str]]
    total_rows: int
    truncated: bool = False


@dataclass(frozen=True)
class ConfusionMatrixView:
    """``counts[t][p]``: how many items of true label ``labels[t]`` were predicted as ``labels[p]``."""

    kind: ClassVar[str] = "confusion_matrix"
    labels: list[str]
    counts: list[list[str]]
    shades: list[list[int]]  # 0..100, each cell's count relative to the largest, for its background
    truncated: bool = False


@dataclass(frozen=True)
class RocView:
    """A ROC curve; ``polyline`` holds SVG coordinates in a ``ROC_SIZE`` square (y grows downwards)."""

    kind: ClassVar[str] = "roc"
    polyline: str
    points: int
    auc: float
    size: int = ROC_SIZE
    thinned_from: int | None = None


@dataclass(frozen=True)
class WebAppView:
    """A page of its own: served at ``url`` (set by the step panel) with a sandboxing CSP, and framed with
    ``<iframe sandbox="allow-scripts">`` (never allow-same-origin): its scripts run in an opaque origin."""

    kind: ClassVar[str] = "web_app"
    html: str
    truncated: bool = False
    url: str = ""


Visualization = Notice | MarkdownView | TableView | ConfusionMatrixView | RocView | WebAppView


@dataclass(frozen=True)
class MetricRow:
    step: str
    name: str
    value: float
    text: str = field(default="")


def visualizations(metadata: str | bytes) -> list[Visualization]:
    """The views of one ``mlpipeline-ui-metadata`` document, in its order; problems become notices."""
    if len(metadata) > MAX_METADATA_BYTES:
        return [Notice("visualizations not shown", f"the metadata is {len(metadata)} bytes, over {MAX_METADATA_BYTES}")]
    if isinstance(metadata, bytes):
        metadata = metadata.decode("utf-8", errors="replace")
    try:
        document = json.loads(metadata)
    except ValueError as error:
        return [Notice("visualizations not shown", f"the metadata is not JSON: {error}")]
    except RecursionError:
        return [Notice("visualizations not shown", "the metadata nests too deeply")]
    outputs = document.get("outputs") if isinstance(document, dict) else None
    if not isinstance(outputs, list):
        return [Notice("visualizations not shown", 'the metadata has no list "outputs"')]
    return [_view(output, index) for index, output in enumerate(outputs)]


def _view(output: Any, index: int) -> Visualization:
    if not isinstance(output, dict):
        return Notice(f"output {index} not shown", "an output must be a JSON object")
    kind = output.get("type")
    if kind == "tensorboard":
        return Notice("TensorBoard not shown", f"kubeline does not start TensorBoard; its logs: {output.get('source')}")
    builder = _BUILDERS.get(kind) if isinstance(kind, str) else None
    if builder is None:
        known = ", ".join(sorted([*_BUILDERS, "tensorboard"]))
        return Notice(f"output {index} not shown", f"unknown type {kind!r} (known: {known})")
    source = output.get("source")
    if output.get("storage") != "inline":
        return Notice(
            f"{kind} not shown",
            f"its source {source!r} is stored outside the metadata; kubeline shows inline sources (storage: inline)",
        )
    if not isinstance(source, str):
        return Notice(f"{kind} not shown", "an inline source must be text")
    text, cut = _capped(source)
    try:
        return builder(output, text, cut)
    except ValueError as error:
        return Notice(f"{kind} not shown", str(error))


def _capped(source: str) -> tuple[str, bool]:
    data = source.encode("utf-8", errors="replace")
    if len(data) <= MAX_SOURCE_BYTES:
        return source, False
    return data[:MAX_SOURCE_BYTES].decode("utf-8", errors="ignore"), True


def _http_link(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://"))


def _safe_markdown() -> MarkdownIt:
    """CommonMark with tables; raw HTML is text, links go only to http(s), images are not loaded."""
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).disable("image")
    md.validateLink = _http_link  # type: ignore[method-assign]  # markdown-it-py's documented hook

    def link_open(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
        tokens[index].attrSet("rel", "noopener noreferrer nofollow")
        tokens[index].attrSet("target", "_blank")
        return str(renderer.renderToken(tokens, index, options, env))

    md.add_render_rule("link_open", link_open)
    return md


_MARKDOWN = _safe_markdown()


def markdown_html(text: str) -> Markup:
    """Markdown as HTML safe to put in a page (the user's HTML is shown as text)."""
    return Markup(_MARKDOWN.render(text))


def _markdown(output: dict[str, Any], text: str, cut: bool) -> Visualization:
    if cut:
        text = text[: text.rfind("\n") + 1] or text
    return MarkdownView(markdown_html(text), cut)


def _rows(text: str, cut: bool) -> list[list[str]]:
    if cut:  # the last line may be half a row
        text = text[: text.rfind("\n") + 1]
    try:
        return [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as error:
        raise ValueError(f"the CSV cannot be read: {error}") from None


def _table(output: dict[str, Any], text: str, cut: bool) -> Visualization:
    header = output.get("header")
    rows = _rows(text, cut)
    shown = rows[:MAX_TABLE_ROWS]
    return TableView(
        [str(h) for h in header] if isinstance(header, list) else [],
        shown,
        len(rows),
        cut or len(rows) > len(shown),
    )


def _columns(output: dict[str, Any], wanted: list[str]) -> list[int]:
    """Where the wanted columns are in the CSV, by the output's ``schema`` (KFP's order when it has none)."""
    schema = output.get("schema")
    if not isinstance(schema, list):
        return list(range(len(wanted)))
    names = [column.get("name") if isinstance(column, dict) else None for column in schema]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise ValueError(f"its schema has no column {', '.join(missing)} (columns: {names})")
    return [names.index(name) for name in wanted]


def _number(text: str, what: str, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"row {line}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"row {line}: {what} {text!r} is not a finite number")
    return value


def _confusion_matrix(output: dict[str, Any], text: str, cut: bool) -> Visualization:
    target, predicted, count = _columns(output, ["target", "predicted", "count"])
    given = output.get("labels")
    labels = [str(label) for label in given] if isinstance(given, list) else []
    cells: dict[tuple[str, str], float] = {}
    for line, row in enumerate(_rows(text, cut), start=1):
        if len(row) <= max(target, predicted, count):
            raise ValueError(f"row {line} has {len(row)} columns, fewer than the schema's")
        key = (row[target], row[predicted])
        cells[key] = cells.get(key, 0.0) + _number(row[count], "count", line)
        labels.extend(label for label in key if label not in labels)
    truncated = cut or len(labels) > MAX_LABELS
    labels = labels[:MAX_LABELS]
    largest = max(cells.values(), default=0.0) or 1.0
    counts = [[cells.get((t, p), 0.0) for p in labels] for t in labels]
    return ConfusionMatrixView(
        labels,
        [[_count_text(value) for value in row] for row in counts],
        [[round(100 * value / largest) for value in row] for row in counts],
        truncated,
    )


def _count_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.6g}"


def _roc(output: dict[str, Any], text: str, cut: bool) -> Visualization:
    fpr, tpr = _columns(output, ["fpr", "tpr"])
    points = []
    for line, row in enumerate(_rows(text, cut), start=1):
        if len(row) <= max(fpr, tpr):
            raise ValueError(f"row {line} has {len(row)} columns, fewer than the schema's")
        x, y = _number(row[fpr], "fpr", line), _number(row[tpr], "tpr", line)
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise ValueError(f"row {line}: fpr and tpr must be between 0 and 1, not {x} and {y}")
        points.append((x, y))
    if not points:
        raise ValueError("the curve has no points")
    points.sort()
    auc = sum((x2 - x1) * (y1 + y2) / 2 for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False))
    total = len(points)
    if total > MAX_ROC_POINTS:
        step = (total - 1) / (MAX_ROC_POINTS - 1)
        points = [points[round(i * step)] for i in range(MAX_ROC_POINTS)]
    polyline = " ".join(f"{x * ROC_SIZE:.2f},{(1 - y) * ROC_SIZE:.2f}" for x, y in points)
    return RocView(polyline, len(points), auc, thinned_from=total if total > len(points) else None)


def _web_app(output: dict[str, Any], text: str, cut: bool) -> Visualization:
    if cut:
        raise ValueError(f"the page is over {MAX_SOURCE_BYTES} bytes")
    return WebAppView(text)


_BUILDERS = {
    "markdown": _markdown,
    "table": _table,
    "confusion_matrix": _confusion_matrix,
    "roc": _roc,
    "web-app": _web_app,
}


def metrics_table(status_metrics: Mapping[str, Mapping[str, float]] | None) -> list[MetricRow]:
    """A run's ``status.metrics`` (step id -> metric name -> value) as rows, steps in the status's order."""
    rows = []
    for step, metrics in (status_metrics or {}).items():
        if not isinstance(metrics, Mapping):
            continue
        for name, value in metrics.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append(MetricRow(step, name, float(value), metric_text(float(value))))
    return rows


def metric_text(value: float) -> str:
    """A metric as people read it: six significant digits, no exponent for everyday sizes."""
    return f"{value:.6g}"
