"""What kubeline.Client returns, with the names kfp.Client's results have (kfp_server_api's ApiRun, ApiRunDetail,
ApiExperiment, ApiPipeline and their list responses), read from kubeline's resources.

Ids are the resources' uids (UUIDs, as KFP's ids are); names are what people gave (KFP's names may hold
spaces: the resource's DNS name is beside it). Nothing here talks to the cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from kubeline.api.constants import DESCRIPTION_ANNOTATION, DISPLAY_NAME_ANNOTATION, EXPERIMENT_LABEL, PIPELINE_LABEL

#: A Run's phase as KFP reports a run's status (Argo's workflow phases): a cancelled run is Failed there, so
#: code waiting for one of KFP's final statuses ends.
KFP_STATUS = {
    "Pending": "Pending",
    "Running": "Running",
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Cancelled": "Failed",
}
#: The statuses after which KFP's wait_for_run_completion returns.
FINAL_STATUSES = ("Succeeded", "Failed", "Skipped", "Error")


def parse_time(text: Any) -> datetime | None:
    """A resource's RFC 3339 time as KFP's results give it (a datetime), or None."""
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _annotation(resource: dict[str, Any], key: str) -> str | None:
    value = (resource["metadata"].get("annotations") or {}).get(key)
    return value if isinstance(value, str) else None


def display_name(resource: dict[str, Any]) -> str:
    """The name people gave a resource (KFP's name), else its Kubernetes name."""
    return _annotation(resource, DISPLAY_NAME_ANNOTATION) or str(resource["metadata"]["name"])


@dataclass
class RunMetric:
    """A scalar metric a step reported (KFP's ApiRunMetric)."""

    name: str
    node_id: str
    number_value: float
    format: str = "RAW"


@dataclass
class RunInfo:
    """A Run as KFP's ApiRun shows it (id, name, status, created_at, finished_at, error, metrics), with
    kubeline's own fields beside (resource_name, phase, progress, outputs, the Run's whole status)."""

    id: str
    name: str
    resource_name: str
    namespace: str
    status: str
    phase: str | None
    created_at: datetime | None
    scheduled_at: datetime | None
    finished_at: datetime | None
    error: str | None
    description: str | None
    pipeline: str | None
    experiment: str | None
    progress: str | None
    outputs: dict[str, str]
    metrics: list[RunMetric]
    run_status: dict[str, Any]

    @property
    def run_id(self) -> str:
        """KFP's RunPipelineResult.run_id."""
        return self.id

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


def run_info(resource: dict[str, Any]) -> RunInfo:
    status = resource.get("status") or {}
    metadata = resource["metadata"]
    labels = metadata.get("labels") or {}
    phase = status.get("phase")
    ref = (resource.get("spec") or {}).get("pipelineRef") or {}
    metrics = [
        RunMetric(name, step, float(value))
        for step, values in sorted((status.get("metrics") or {}).items())
        for name, value in sorted(values.items())
    ]
    return RunInfo(
        id=str(metadata.get("uid") or ""),
        name=display_name(resource),
        resource_name=metadata["name"],
        namespace=metadata.get("namespace", ""),
        status=KFP_STATUS.get(str(phase), "Pending"),
        phase=phase,
        created_at=parse_time(metadata.get("creationTimestamp")),
        scheduled_at=parse_time(status.get("startedAt")),
        finished_at=parse_time(status.get("finishedAt")),
        error=status.get("message") if phase in ("Failed", "Cancelled") else None,
        description=_annotation(resource, DESCRIPTION_ANNOTATION),
        pipeline=labels.get(PIPELINE_LABEL) or ref.get("name"),
        experiment=labels.get(EXPERIMENT_LABEL),
        progress=status.get("progressText"),
        outputs=dict(status.get("outputs") or {}),
        metrics=metrics,
        run_status=status,
    )


@dataclass
class PipelineRuntime:
    """KFP's ApiPipelineRuntime: there the Argo workflow, here the Run resource, as JSON text."""

    workflow_manifest: str


@dataclass
class RunDetail:
    """KFP's ApiRunDetail: get_run(...).run.status."""

    run: RunInfo
    pipeline_runtime: PipelineRuntime


def run_detail(resource: dict[str, Any]) -> RunDetail:
    return RunDetail(run_info(resource), PipelineRuntime(json.dumps(resource)))


@dataclass
class Experiment:
    """KFP's ApiExperiment: a group of runs (kubeline keeps it as a labelled ConfigMap, see client.py)."""

    id: str
    name: str
    description: str | None
    created_at: datetime | None
    resource_name: str


@dataclass
class PipelineVersion:
    """KFP's ApiPipelineVersion: kubeline keeps each version as a Pipeline resource of its own."""

    id: str
    name: str
    description: str | None
    created_at: datetime | None
    resource_name: str
    pipeline_id: str | None = None


@dataclass
class PipelineInfo:
    """KFP's ApiPipeline: a Pipeline resource, its latest version the default one."""

    id: str
    name: str
    description: str | None
    created_at: datetime | None
    resource_name: str
    default_version: PipelineVersion | None = None


def pipeline_version(resource: dict[str, Any], pipeline_id: str | None = None) -> PipelineVersion:
    metadata = resource["metadata"]
    return PipelineVersion(
        id=str(metadata.get("uid") or ""),
        name=display_name(resource),
        description=_annotation(resource, DESCRIPTION_ANNOTATION) or (resource.get("spec") or {}).get("description"),
        created_at=parse_time(metadata.get("creationTimestamp")),
        resource_name=metadata["name"],
        pipeline_id=pipeline_id,
    )


def pipeline_info(resource: dict[str, Any]) -> PipelineInfo:
    version = pipeline_version(resource, str(resource["metadata"].get("uid") or ""))
    return PipelineInfo(
        version.id, version.name, version.description, version.created_at, version.resource_name, version
    )


Item = TypeVar("Item")


@dataclass
class Page(Generic[Item]):
    """One page of a list, as KFP's list responses: the items, how many there are in all, the next page's token."""

    items: list[Item] = field(default_factory=list)
    total_size: int = 0
    next_page_token: str = ""

    @property
    def runs(self) -> list[Item]:
        return self.items

    @property
    def experiments(self) -> list[Item]:
        return self.items

    @property
    def pipelines(self) -> list[Item]:
        return self.items

    @property
    def jobs(self) -> list[Item]:
        return self.items


def page(items: list[Item], page_token: str, page_size: int) -> Page[Item]:
    """The page ``page_token`` (an offset, as text; '' for the first) of at most ``page_size`` items."""
    try:
        start = int(page_token or 0)
    except ValueError:
        raise ValueError(
            f"page_token {page_token!r} is not one a list call returned: pass '' or next_page_token"
        ) from None
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    end = start + page_size
    return Page(items[start:end], len(items), str(end) if end < len(items) else "")


#: KFP's sort_by: a field and an optional " desc".
_SORT_FIELDS = ("created_at", "name", "id")


def sort(items: list[Any], sort_by: str) -> list[Any]:
    """``items`` in KFP's ``sort_by`` order ('created_at desc', 'name'...); '' keeps the creation order."""
    field_name, _, direction = (sort_by or "created_at").partition(" ")
    if field_name not in _SORT_FIELDS or direction not in ("", "asc", "desc"):
        raise ValueError(f"sort_by {sort_by!r}: use one of {', '.join(_SORT_FIELDS)}, optionally followed by ' desc'")
    return sorted(
        items,
        key=lambda item: (getattr(item, field_name) is None, getattr(item, field_name) or 0),
        reverse=direction == "desc",
    )
