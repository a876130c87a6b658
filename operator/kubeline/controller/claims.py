"""The claims of a Run's pipeline volumes (KFP's VolumeOp), as documents. Pure: kube.py creates them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeline.api.constants import RUN_LABEL
from kubeline.api.models import PipelineVolume
from kubeline.controller.pods import RunRef, owner_reference
from kubeline.engine.volumes import claim_name, is_kept, size


def volume_claim(run: RunRef, volume: PipelineVolume, params: Mapping[str, Any]) -> dict[str, Any]:
    """The PersistentVolumeClaim of ``volume`` for ``run`` (``params``: its bound arguments, which may give the
    size): owned by the Run (deleted with it) unless kept."""
    spec: dict[str, Any] = {
        "accessModes": list(volume.access_modes),
        "resources": {"requests": {"storage": size(volume, params)}},
    }
    if volume.storage_class_name is not None:
        spec["storageClassName"] = volume.storage_class_name
    metadata: dict[str, Any] = {
        "name": claim_name(run.name, volume),
        "namespace": run.namespace,
        "labels": {RUN_LABEL: run.name},
    }
    if volume.annotations:
        metadata["annotations"] = dict(volume.annotations)
    if not is_kept(volume):
        metadata["ownerReferences"] = [owner_reference(run)]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec}
