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

    size: str = Field("1Gi", description="Size of each run's artifact volume.")
    storage_class_name: str | None = Field(None, description="Storage class; the cluster's default when empty.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        "ReadWriteOnce", description="ReadWriteMany lets steps of one run share the volume across nodes."
    )


class OperatorConfig(Model):
    node_selector: dict[str, str] | None = Field(None, description="Node labels every step pod requires.")
    tolerations: list[Toleration] | None = Field(None, description="Taints every step pod tolerates.")
    affinity: dict[str, Any] | None = Field(None, description="Affinity of step pods, unless a pipeline sets one.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None, description="Default pull policy of steps."
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(None, description="Pull secrets every step pod gets.")
    allowed_service_accounts: list[str] = Field(
        default_factory=lambda: ["default"],
        description="Service accounts a pipeline may run its steps as; the namespace's default only, unless widened.",
    )
    restricted_step_pods: bool = Field(
        True, description="Step pods run with the restricted Pod Security profile (non-root, no privilege escalation)."
    )
    step_user_id: int = Field(65532, description="User id of step containers when restricted.")
    artifacts: ArtifactStorage = Field(default_factory=ArtifactStorage)
    resync_seconds: float = Field(30, description="Look at every running Run at least this often, events or not.")
    batch_seconds: float = Field(0.01, description="Pod events arriving within this time become one status update.")


def load_config(path: Path | None) -> OperatorConfig:
    if path is None:
        return OperatorConfig()
    document = yaml.safe_load(path.read_text()) or {}
    return OperatorConfig.model_validate(document)
