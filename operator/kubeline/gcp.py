"""`kfp.gcp` for kubeline: op transformers for Google Cloud, with KFP 1.8's names and arguments.

Each returns a function to give to ``task.apply(...)`` or ``PipelineConf.add_op_transformer(...)``; what
it sets (a Secret volume, env, an annotation, a toleration, an affinity) is the task's own, as in KFP.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from kubeline.sdk.dsl import ContainerOp

Transformer = Callable[[ContainerOp], ContainerOp]

_PREEMPTIBLE = {"effect": "NoSchedule", "key": "preemptible", "operator": "Equal", "value": "true"}
_GPU = {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Equal", "value": "true"}


def use_gcp_secret(
    secret_name: str = "user-gcp-sa",
    secret_file_path_in_volume: str | None = None,
    volume_name: str | None = None,
    secret_volume_mount_path: str = "/secret/gcp-credentials",
) -> Transformer:
    """Mount the service account key in Secret ``secret_name`` and point GOOGLE_APPLICATION_CREDENTIALS
    (and gcloud's CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE) at it."""
    key_file = secret_file_path_in_volume or f"/{secret_name}.json"
    if volume_name is None:
        volume_name = f"gcp-credentials-{secret_name}"
    else:
        warnings.warn(
            "use_gcp_secret(volume_name=...) is deprecated in KFP: volume names are generated", DeprecationWarning, 2
        )
    credentials = secret_volume_mount_path + key_file

    def _use_gcp_secret(task: ContainerOp) -> ContainerOp:
        return (
            task.add_volume({"name": volume_name, "secret": {"secretName": secret_name}})
            .add_volume_mount({"name": volume_name, "mountPath": secret_volume_mount_path})
            .add_env_variable({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": credentials})
            .add_env_variable({"name": "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "value": credentials})
        )

    return _use_gcp_secret


def use_tpu(tpu_cores: int, tpu_resource: str, tf_version: str) -> Transformer:
    """Ask for ``tpu_cores`` Cloud TPU cores of ``tpu_resource`` (v2, v3, preemptible-v3…) for TensorFlow ``tf_version``."""

    def _set_tpu_spec(task: ContainerOp) -> ContainerOp:
        task.add_pod_annotation("tf-version.cloud-tpus.google.com", tf_version)
        return task.add_resource_limit(f"cloud-tpus.google.com/{tpu_resource}", str(tpu_cores))

    return _set_tpu_spec


def use_preemptible_nodepool(toleration: Any = None, hard_constraint: bool = False) -> Transformer:
    """Run on GKE preemptible nodes: tolerate their taint and prefer (or, hard, require) them."""
    tolerated = _PREEMPTIBLE if toleration is None else toleration
    term = {"matchExpressions": [{"key": "cloud.google.com/gke-preemptible", "operator": "In", "values": ["true"]}]}
    node_affinity: dict[str, Any] = (
        {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
        if hard_constraint
        else {"preferredDuringSchedulingIgnoredDuringExecution": [{"preference": term, "weight": 50}]}
    )

    def _set_preemptible(task: ContainerOp) -> ContainerOp:
        return task.add_toleration(tolerated).add_affinity({"nodeAffinity": node_affinity})

    return _set_preemptible


def add_gpu_toleration(toleration: Any = None) -> Transformer:
    """Tolerate GKE's GPU node taint (nvidia.com/gpu)."""

    def _set_toleration(task: ContainerOp) -> ContainerOp:
        return task.add_toleration(_GPU if toleration is None else toleration)

    return _set_toleration
