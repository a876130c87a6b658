"""A step's settings: caching, retries, timeout and pod scheduling, merged from the pipeline's defaults, the
groups around the task and the task itself, later layers winning. The pod renderer merges the operator's
own scheduling defaults under these with the same ``merge_scheduling``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.api.durations import parse_duration

#: What a step's settings come from: the pipeline's defaults, a group (a task with a dag), the task.
Layer = models.Defaults | models.Task | models.ExitTask


@dataclass
class Settings:
    """What a step gets from its task, its groups and the pipeline defaults, merged."""

    caching_enabled: bool = True
    max_staleness: float | None = None  # seconds; None: no bound
    retry_limit: int = 0
    backoff: float = 10.0
    backoff_factor: float = 2.0
    backoff_max: float | None = None
    timeout: float | None = None
    scheduling: dict[str, Any] = field(default_factory=dict)  # resources, nodeSelector, tolerations, affinity

    def backoff_delay(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt ``failed_attempt`` failed, before the next one."""
        delay = self.backoff * self.backoff_factor ** (failed_attempt - 1)
        return min(delay, self.backoff_max) if self.backoff_max else delay


def settings_for(defaults: models.Defaults, groups: Sequence[models.Task], task: Layer) -> Settings:
    """Defaults, then each enclosing group (outermost first), then the task: later layers win."""
    settings = Settings()
    scheduling: dict[str, Any] = {}
    for layer in [defaults, *groups, task]:
        caching = None if isinstance(layer, models.ExitTask) else layer.caching
        if caching is not None:
            settings.caching_enabled = caching.enabled
            if caching.max_staleness is not None:
                settings.max_staleness = parse_duration(caching.max_staleness)
        if layer.retries is not None:
            _apply_retries(settings, layer.retries)
        if layer.timeout:
            settings.timeout = parse_duration(layer.timeout)
        scheduling = merge_scheduling(scheduling, layer)
    settings.scheduling = scheduling
    return settings


def _apply_retries(settings: Settings, retries: models.Retries) -> None:
    settings.retry_limit = retries.limit
    if retries.backoff is not None:
        settings.backoff = parse_duration(retries.backoff.duration)
        settings.backoff_factor = retries.backoff.factor
        if retries.backoff.max_duration:
            settings.backoff_max = parse_duration(retries.backoff.max_duration)


def merge_scheduling(base: dict[str, Any], layer: object) -> dict[str, Any]:
    """Task over group over pipeline defaults: ``layer`` is a model with any of ``node_selector``,
    ``tolerations``, ``affinity`` and ``resources`` (a task, a group, the pipeline's defaults, the
    operator's configuration); the ones it lacks are unset. See merge_scheduling_dicts for the rules."""
    return merge_scheduling_dicts(base, _scheduling_of(layer))


def _scheduling_of(layer: object) -> dict[str, Any]:
    """A layer's scheduling fields as they appear in a pod spec (camelCase, quantities as text)."""
    fields: dict[str, Any] = {}
    node_selector = getattr(layer, "node_selector", None)
    if node_selector:
        fields["nodeSelector"] = node_selector
    tolerations = getattr(layer, "tolerations", None)
    if tolerations:
        fields["tolerations"] = [t.to_dict() for t in tolerations]
    affinity = getattr(layer, "affinity", None)
    if affinity:
        fields["affinity"] = affinity
    resources = getattr(layer, "resources", None)
    if resources is not None:
        fields["resources"] = {
            kind: {name: str(amount) for name, amount in (getattr(resources, kind) or {}).items()}
            for kind in ("requests", "limits")
        }
    return fields


def merge_scheduling_dicts(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``, both as in a pod spec: node selectors merge, tolerations add up, resources
    merge per name, affinity is replaced. The pod renderer puts a step's merged scheduling over the
    operator's defaults with it, without turning the step's back into a model."""
    merged = dict(base)
    if layer.get("nodeSelector"):
        merged["nodeSelector"] = {**merged.get("nodeSelector", {}), **layer["nodeSelector"]}
    if layer.get("tolerations"):
        existing = merged.get("tolerations", [])
        merged["tolerations"] = existing + [t for t in layer["tolerations"] if t not in existing]
    if layer.get("affinity"):
        merged["affinity"] = layer["affinity"]
    if "resources" in layer:
        current, adding = merged.get("resources", {}), layer["resources"]
        merged["resources"] = {
            kind: {**current.get(kind, {}), **adding.get(kind, {})}
            for kind in ("requests", "limits")
            if current.get(kind) or adding.get(kind)
        }
    return merged
