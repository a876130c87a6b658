"""The claims a Run creates, as documents: its pipeline volumes' (KFP's VolumeOp) and its artifact volume
(without an artifact store, the run's steps share files through it). Pure: kube.py creates them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeline.api.constants import RUN_LABEL
from kubeline.api.models import PipelineVolume
from kubeline.controller.config import ArtifactStorage
from kubeline.controller.pods import RunRef, owner_reference, volume_claim_name
from kubeline.engine.volumes import claim_name, is_kept, size


def volume_claim(run: RunRef, volume: PipelineVolume, params: Mapping[str, Any]) -> dict[str, Any]:
    """The PersistentVolumeClaim of ``volume`` for ``run`` (``params``: its bound arguments, which may give the
    size): owned by the Run (deleted with it) unless kept."""
    return _claim(
        run,
        claim_name(run.name, volume),
        size(volume, params),
        list(volume.access_modes),
        volume.storage_class_name,
        owned=not is_kept(volume),
        annotations=volume.annotations,
    )


def artifact_claim(run: RunRef, storage: ArtifactStorage) -> dict[str, Any]:
    """The run's artifact volume, as the operator's configuration sizes it: owned by the Run."""
    return _claim(
        run,
        volume_claim_name(run.name),
        storage.size,
        [storage.access_mode],
        storage.storage_class_name or None,
        owned=True,
    )


def _claim(
    run: RunRef,
    name: str,
    storage: str,
    access_modes: list[str],
    storage_class: str | None,
    owned: bool,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": access_modes, "resources": {"requests": {"storage": storage}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    metadata: dict[str, Any] = {"name": name, "namespace": run.namespace, "labels": {RUN_LABEL: run.name}}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if owned:
        metadata["ownerReferences"] = [owner_reference(run)]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}
