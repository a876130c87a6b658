"""`kfp.onprem` for kubeline: mount_pvc, use_k8s_secret, add_default_resource_spec, with KFP 1.8's arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeline.sdk.dsl import ContainerOp

Transformer = Callable[[Any], Any]


def mount_pvc(
    pvc_name: str = "pipeline-claim", volume_name: str = "pipeline", volume_mount_path: str = "/mnt/pipeline"
) -> Transformer:
    """Mount the existing claim ``pvc_name`` at ``volume_mount_path``."""

    def _mount_pvc(task: Any) -> Any:
        if not isinstance(task, ContainerOp):  # as KFP: other ops pass through
            return task
        return task.add_volume(
            {"name": volume_name, "persistentVolumeClaim": {"claimName": pvc_name}}
        ).add_volume_mount({"name": volume_name, "mountPath": volume_mount_path})

    return _mount_pvc


def use_k8s_secret(secret_name: str = "k8s-secret", k8s_secret_key_to_env: dict[str, str] | None = None) -> Transformer:
    """Each key of Secret ``secret_name`` in ``k8s_secret_key_to_env`` as the env variable it maps to."""
    keys = dict(k8s_secret_key_to_env or {})

    def _use_k8s_secret(task: ContainerOp) -> ContainerOp:
        for key, variable in keys.items():
            task.add_env_variable({"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}})
        return task

    return _use_k8s_secret


def add_default_resource_spec(
    memory_limit: str | None = None,
    cpu_limit: str | None = None,
    memory_request: str | None = None,
    cpu_request: str | None = None,
) -> Transformer:
    """Limits and requests for tasks that set none: a request defaults to its limit, as in KFP."""

    def _add_default_resource_spec(task: Any) -> Any:
        if not isinstance(task, ContainerOp):
            return task
        for resource, request, limit in (
            ("cpu", cpu_request or cpu_limit, cpu_limit),
            ("memory", memory_request or memory_limit, memory_limit),
        ):
            if task.get_resource_limit(resource):
                continue  # a limit set: Kubernetes defaults the request to it
            if limit:
                task.add_resource_limit(resource, limit)
            if request and not task.get_resource_request(resource):
                task.add_resource_request(resource, request)
        return task

    return _add_default_resource_spec
