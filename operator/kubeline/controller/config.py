"""The operator's own settings: what a platform engineer sets once for every pipeline (Helm values).

Scheduling defaults sit under a pipeline's ``defaults``, which sit under a task's own settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from kubeline.api.models import LocalObjectReference, Model, Toleration


class ArtifactStorage(Model):
    """The volume a run's steps share for artifacts (files): one PersistentVolumeClaim per run."""

    size: str = Field(default="1Gi", description="Size of each run's artifact volume.")
    storage_class_name: str | None = Field(default=None, description="Storage class; the cluster's default when empty.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        default="ReadWriteOnce", description="ReadWriteMany lets steps of one run share the volume across nodes."
    )


class OperatorConfig(Model):
    node_selector: dict[str, str] | None = Field(default=None, description="Node labels every step pod requires.")
    tolerations: list[Toleration] | None = Field(default=None, description="Taints every step pod tolerates.")
    affinity: dict[str, Any] | None = Field(
        default=None, description="Affinity of step pods, unless a pipeline sets one."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Default pull policy of steps."
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, description="Pull secrets every step pod gets."
    )
    allowed_service_accounts: list[str] = Field(
        default_factory=lambda: ["default"],
        description="Service accounts a pipeline may run its steps as; the namespace's default only, unless widened.",
    )
    restricted_step_pods: bool = Field(
        default=True,
        description="Step pods run with the restricted Pod Security profile (non-root, no privilege escalation).",
    )
    step_user_id: int = Field(default=65532, description="User id of step containers when restricted.")
    artifacts: ArtifactStorage = Field(default_factory=ArtifactStorage)
    resync_seconds: float = Field(
        default=30, description="Look at every running Run at least this often, events or not."
    )
    batch_seconds: float = Field(
        default=0.01, description="Pod events arriving within this time become one status update."
    )


def load_config(path: Path | None) -> OperatorConfig:
    if path is None:
        return OperatorConfig()
    document = yaml.safe_load(path.read_text()) or {}
    return OperatorConfig.model_validate(document)
