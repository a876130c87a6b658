"""The runs list's rows: one small record per Run, so that 10,000 Runs fit in memory and sort in milliseconds.

Pure: a Run document (the cluster's resource as a dict, or a local run's run.yaml) in, a RunRow out. Documents
are read defensively: a missing status, a field of the wrong type or a bad timestamp gives an empty cell, never
an exception, since one odd Run must not break the list of every other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kubeline.api.constants import DISPLAY_NAME_ANNOTATION, EXPERIMENT_LABEL, PIPELINE_LABEL

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Cancelled")
PROGRESS_KEYS = ("total", "pending", "running", "succeeded", "failed", "skipped", "cached")
#: Metric columns a row keeps: the first few the run reported (a run can report hundreds).
MAX_METRICS = 4
SORT_KEYS = ("created", "name", "pipeline", "experiment", "phase", "started", "duration", "progress")
PER_PAGE_CHOICES = (25, 50, 100, 200)


@dataclass(frozen=True)
class Counts:
    """A run's step counts (the Run's status.progress)."""

    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cached: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.skipped

    def percent(self, part: int) -> float:
        """A share of the total as a percentage, for the progress bar's segments."""
        return round(100.0 * part / self.total, 1) if self.total else 0.0

    def segments(self) -> list[tuple[str, float, float]]:
        """The progress bar's segments: (phase, start, width) in percent, side by side."""
        found, start = [], 0.0
        for phase in ("succeeded", "running", "failed", "skipped"):
            width = self.percent(getattr(self, phase))
            found.append((phase, round(start, 1), width))
            start += width
        return found


@dataclass(frozen=True)
class RunRow:
    namespace: str
    name: str
    uid: str = ""
    display_name: str = ""
    pipeline: str = ""
    experiment: str = ""
    phase: str = "Pending"
    progress: Counts = field(default_factory=Counts)
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    duration_seconds: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    message: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def finished_run(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Cancelled")

    def as_json(self) -> dict[str, Any]:
        """What the list's live updates send to the browser (which sets it with textContent)."""
        return {
            "key": self.key,
            "namespace": self.namespace,
            "name": self.name,
            "pipeline": self.pipeline,
            "experiment": self.experiment,
            "phase": self.phase,
            "progress": {key: getattr(self.progress, key) for key in PROGRESS_KEYS},
            "progressText": f"{self.progress.done}/{self.progress.total}",
            "started": iso(self.started),
            "duration": format_seconds(self.duration_seconds),
            "metrics": dict(self.metrics),
            "message": self.message,
        }


def run_row(run: Mapping[str, Any], now: datetime | None = None) -> RunRow:
    """The list's row of a Run document; ``now`` gives a running run's duration so far."""
    metadata = mapping(run.get("metadata"))
    spec = mapping(run.get("spec"))
    status = mapping(run.get("status"))
    labels = {str(k): str(v) for k, v in mapping(metadata.get("labels")).items() if isinstance(v, str | int)}
    annotations = mapping(metadata.get("annotations"))
    created, started = parse_time(metadata.get("creationTimestamp")), parse_time(status.get("startedAt"))
    finished = parse_time(status.get("finishedAt"))
    phase = status.get("phase")
    duration = None
    if started is not None:
        end = finished or (now or datetime.now(UTC))
        duration = max(0.0, (end - started).total_seconds())
    return RunRow(
        namespace=_text(metadata.get("namespace")) or "default",
        name=_text(metadata.get("name")),
        uid=_text(metadata.get("uid")),
        display_name=_text(annotations.get(DISPLAY_NAME_ANNOTATION)),
        pipeline=_text(mapping(spec.get("pipelineRef")).get("name")) or labels.get(PIPELINE_LABEL, ""),
        experiment=labels.get(EXPERIMENT_LABEL, ""),
        phase=phase if phase in PHASES else "Pending",
        progress=_counts(status.get("progress")),
        created=created,
        started=started,
        finished=finished,
        duration_seconds=duration,
        labels=labels,
        metrics=_first_metrics(status.get("metrics")),
        message=_text(status.get("message"))[:300],
    )


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one: a document's field of the wrong type reads as missing
    (documents come from the API server or a run.yaml, whatever wrote them)."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> Sequence[Any]:
    """``value`` if it is a list, else an empty one (as ``mapping``; a string is not a list of characters)."""
    return value if isinstance(value, list | tuple) else ()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _counts(value: Any) -> Counts:
    progress = mapping(value)
    found = {}
    for key in PROGRESS_KEYS:
        number = progress.get(key)
        found[key] = number if isinstance(number, int) and not isinstance(number, bool) and number >= 0 else 0
    return Counts(**found)


def _first_metrics(value: Any) -> dict[str, float]:
    """``{"step.metric": value}`` for the first MAX_METRICS numeric metrics, in the steps' order."""
    found: dict[str, float] = {}
    for step, named in mapping(value).items():
        for metric, number in mapping(named).items():
            if len(found) >= MAX_METRICS:
                return found
            if isinstance(number, int | float) and not isinstance(number, bool):
                found[f"{step}.{metric}"] = float(number)
    return found


def parse_time(value: Any) -> datetime | None:
    """A Kubernetes timestamp (``2024-05-01T10:00:00Z``, fractions allowed) as an aware datetime, else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def format_seconds(value: float | None) -> str:
    """``1h2m``, ``3m4s``, ``5.2s``: short enough for a column."""
    if value is None:
        return ""
    if value < 10:
        return f"{value:.1f}s"
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


# -- the list's query -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    namespace: str = ""
    experiment: str = ""
    pipeline: str = ""
    phase: str = ""
    label_selector: str = ""
    sort: str = "created"
    descending: bool = True
    page: int = 1
    per_page: int = 50

    def params(self, **changes: Any) -> dict[str, str]:
        """The query's URL parameters (with ``changes``), empty filters left out: for sort headers and page links."""
        query = replace(self, **changes)
        params = {
            "namespace": query.namespace,
            "experiment": query.experiment,
            "pipeline": query.pipeline,
            "phase": query.phase,
            "label": query.label_selector,
        }
        params = {key: value for key, value in params.items() if value}
        params["sort"], params["order"] = query.sort, "desc" if query.descending else "asc"
        if query.page > 1:
            params["page"] = str(query.page)
        if query.per_page != Query.per_page:
            params["per_page"] = str(query.per_page)
        return params


def parse_query(params: Mapping[str, str]) -> Query:
    """The list's filters, sort and page from URL parameters. Forgiving: a bad value falls back to its default."""
    sort = params.get("sort", "created")
    phase = params.get("phase", "")
    order = params.get("order", "")
    return Query(
        namespace=params.get("namespace", "").strip()[:253],
        experiment=params.get("experiment", "").strip()[:253],
        pipeline=params.get("pipeline", "").strip()[:253],
        phase=phase if phase in PHASES else "",
        label_selector=params.get("label", "").strip()[:1000],
        sort=sort if sort in SORT_KEYS else "created",
        descending=order != "asc" if order in ("asc", "desc") else sort in ("created", "started", "duration"),
        page=max(1, min(_int(params.get("page"), 1), 1_000_000)),
        per_page=min(max(_int(params.get("per_page"), 50), 1), 500),
    )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def label_matcher(selector: str) -> list[tuple[str, str | None, bool]]:
    """``k=v,k2,!k3,k4!=v4`` as (key, value or None for presence, wanted) terms; empty terms are dropped."""
    terms: list[tuple[str, str | None, bool]] = []
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            key, _, value = term.partition("!=")
            terms.append((key.strip(), value.strip(), False))
        elif "=" in term:
            key, _, value = term.partition("=")
            terms.append((key.strip(), value.lstrip("=").strip(), True))
        elif term.startswith("!"):
            terms.append((term[1:].strip(), None, False))
        else:
            terms.append((term, None, True))
    return terms


def _labels_match(labels: Mapping[str, str], terms: Iterable[tuple[str, str | None, bool]]) -> bool:
    for key, value, wanted in terms:
        present = key in labels if value is None else labels.get(key) == value
        if present != wanted:
            return False
    return True


def matches(row: RunRow, query: Query, terms: Sequence[tuple[str, str | None, bool]] = ()) -> bool:
    return (
        (not query.namespace or row.namespace == query.namespace)
        and (not query.experiment or row.experiment == query.experiment)
        and (not query.pipeline or row.pipeline == query.pipeline)
        and (not query.phase or row.phase == query.phase)
        and _labels_match(row.labels, terms)
    )


_EPOCH = datetime.fromtimestamp(0, UTC)


def _sort_key(sort: str) -> Any:
    keys: dict[str, Any] = {
        "created": lambda r: (r.created or _EPOCH, r.name),
        "started": lambda r: (r.started or _EPOCH, r.name),
        "name": lambda r: (r.name, r.namespace),
        "pipeline": lambda r: (r.pipeline, r.created or _EPOCH),
        "experiment": lambda r: (r.experiment, r.created or _EPOCH),
        "phase": lambda r: (r.phase, r.created or _EPOCH),
        "duration": lambda r: (r.duration_seconds if r.duration_seconds is not None else -1.0, r.name),
        "progress": lambda r: (r.progress.percent(r.progress.done), r.name),
    }
    return keys[sort]


def select(rows: Iterable[RunRow], query: Query) -> tuple[list[RunRow], int]:
    """The page of rows the query asks for, filtered and sorted, and how many rows match in all."""
    terms = label_matcher(query.label_selector)
    found = [row for row in rows if matches(row, query, terms)]
    found.sort(key=_sort_key(query.sort), reverse=query.descending)
    start = (query.page - 1) * query.per_page
    return found[start : start + query.per_page], len(found)


def page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))
