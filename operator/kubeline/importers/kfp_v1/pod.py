"""What a container template adds to its step's pod: env from Secrets, ConfigMaps and the pod's fields, volumes
and their mounts, the pull policy, the security context, sidecars, init containers and pod metadata.

Each lands on the template's own component (as KFP's ContainerOp methods set them on the op). Kubernetes
objects are checked against kubeline's models here, so a problem names the template's field rather than the
imported pipeline's; what the restricted profile refuses (root, privilege escalation, host paths) is an error:
the step would not run as the workflow meant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from kubeline.api import models
from kubeline.api.constants import GROUP
from kubeline.engine.errors import pydantic_issues
from kubeline.importers.kfp_v1.context import KFP_PREFIX, Context

#: Translates a text of the template (Argo variables, literal paths) into kubeline's; the path names its field.
Translate = Callable[[str, str], str]

_ENV_SOURCES = ("secretKeyRef", "configMapKeyRef", "fieldRef")
_VOLUME_SOURCES = ("persistentVolumeClaim", "secret", "configMap", "emptyDir")
_MOUNT_FIELDS = ("name", "mountPath", "subPath", "readOnly")
#: The container fields a sidecar or init container carries over, beside its texts.
_SIDE_FIELDS = {"name", "image", "command", "args", "env", "envFrom", "workingDir", "volumeMounts"}
_SIDE_CHECKED = {"imagePullPolicy", "securityContext", "resources", "mirrorVolumeMounts"}
_RESTRICTED = (
    " (kubeline runs steps in Kubernetes' restricted profile: no root user, privileges or privilege escalation;"
    " remove the setting or run the step's image as another user)"
)
#: The prefix of kubeline's own labels and annotations, which pods get from kubeline only.
_KUBELINE_PREFIX = f"{GROUP}/"


def checked(context: Context, model: type[BaseModel], value: Any, path: str, why: str = "") -> dict[str, Any] | None:
    """``value`` as ``model`` writes it; None, with an error per field naming it (and ``why``), when the model
    refuses it."""
    try:
        return model.model_validate(value).model_dump(by_alias=True, exclude_none=True, mode="json")
    except ValidationError as error:
        for issue in pydantic_issues(error, value, path):
            context.error(issue.path, f"{issue.message}{why}")
        return None


def env(context: Context, variables: list[dict[str, Any]], translate: Translate, path: str) -> list[dict[str, Any]]:
    """Variables with a value (translated) or a value from a Secret, a ConfigMap or a field of the pod."""
    result = []
    for variable in variables:
        where = f"{path}.env[{variable['name']}]"
        if "valueFrom" not in variable:
            value = translate(str(variable.get("value", "")), where)
            result.append({"name": variable["name"], "value": value})
            continue
        source = _env_source(context, variable["valueFrom"] or {}, f"{where}.valueFrom")
        if source is not None:
            result.append({"name": variable["name"], "valueFrom": source})
    return result


def _env_source(context: Context, source: dict[str, Any], path: str) -> dict[str, Any] | None:
    for key in sorted(set(source) - set(_ENV_SOURCES)):
        context.warn(f"{path}.{key}", "only secretKeyRef, configMapKeyRef and fieldRef are supported: dropped")
    known = {k: v for k, v in source.items() if k in _ENV_SOURCES}
    if isinstance(known.get("fieldRef"), dict):  # the Kubernetes client writes the API version, always v1
        known["fieldRef"] = {k: v for k, v in known["fieldRef"].items() if k != "apiVersion"}
    return checked(context, models.EnvVarSource, known, path) if known else None


def env_from(context: Context, sources: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    result = []
    for index, source in enumerate(sources):
        made = checked(context, models.EnvFromSource, source, f"{path}.envFrom[{index}]")
        if made is not None:
            result.append(made)
    return result


def volume_mounts(context: Context, mounts: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    result = []
    for mount in mounts:
        where = f"{path}.volumeMounts[{mount['name']}]"
        for key in sorted(set(mount) - set(_MOUNT_FIELDS)):
            context.warn(f"{where}.{key}", "not supported, dropped")
        made = checked(context, models.VolumeMount, {k: v for k, v in mount.items() if k in _MOUNT_FIELDS}, where)
        if made is not None:
            result.append(made)
    return result


def volumes(context: Context, declared: list[dict[str, Any]], translate: Translate, path: str) -> list[dict[str, Any]]:
    """The template's volumes of the kinds a restricted pod may mount; a claim's name may be an input."""
    result = []
    for volume in declared:
        where = f"{path}.volumes[{volume['name']}]"
        kinds = sorted(set(volume) - {"name"})
        unknown = [k for k in kinds if k not in _VOLUME_SOURCES]
        if unknown or not kinds:
            context.error(
                where,
                f"{' and '.join(unknown) or 'a volume without a source'} cannot be mounted: kubeline steps mount "
                "persistentVolumeClaim, secret, configMap and emptyDir volumes (the restricted profile)",
            )
            continue
        claim = volume.get("persistentVolumeClaim")
        if isinstance(claim, dict) and "claimName" in claim:
            name = translate(str(claim["claimName"]), f"{where}.persistentVolumeClaim.claimName")
            volume = {**volume, "persistentVolumeClaim": {**claim, "claimName": name}}
        made = checked(context, models.Volume, volume, where)
        if made is not None:
            result.append(made)
    return result


def mounted_workflow_volumes(context: Context, template: dict[str, Any]) -> list[dict[str, Any]]:
    """The workflow's own volumes (spec.volumes) the template's containers mount and do not declare themselves."""
    declared = {v["name"] for v in template.get("volumes") or []}
    containers = [
        template.get("container") or {},
        *(template.get("sidecars") or []),
        *(template.get("initContainers") or []),
    ]
    mounted = {m["name"] for c in containers for m in c.get("volumeMounts") or []}
    return [v for v in context.spec.get("volumes") or [] if v["name"] in mounted - declared]


def container_settings(context: Context, container: dict[str, Any], path: str) -> dict[str, Any]:
    """The pull policy and security context of a container (main, sidecar or init)."""
    settings: dict[str, Any] = {}
    if container.get("imagePullPolicy"):
        if container["imagePullPolicy"] in ("Always", "IfNotPresent", "Never"):
            settings["imagePullPolicy"] = container["imagePullPolicy"]
        else:
            context.error(f"{path}.imagePullPolicy", "must be Always, IfNotPresent or Never")
    if container.get("securityContext"):
        made = checked(
            context, models.SecurityContext, container["securityContext"], f"{path}.securityContext", _RESTRICTED
        )
        if made:
            settings["securityContext"] = made
    return settings


def side_containers(
    context: Context,
    containers: list[dict[str, Any]],
    main_mounts: list[dict[str, Any]],
    translate: Translate,
    path: str,
) -> list[dict[str, Any]]:
    """Sidecars or init containers: their texts translated like the main container's; with Argo's
    mirrorVolumeMounts (KFP's ``mirror_volume_mounts=True``), the main container's mounts too."""
    result = []
    for container in containers:
        where = f"{path}[{container['name']}]"
        for key in sorted(set(container) - _SIDE_FIELDS - _SIDE_CHECKED):
            context.warn(f"{where}.{key}", "not supported, dropped")
        side: dict[str, Any] = {"name": container["name"], "image": container.get("image") or ""}
        for key in ("command", "args"):
            if container.get(key):
                side[key] = [translate(str(part), f"{where}.{key}[{i}]") for i, part in enumerate(container[key])]
        variables = env(context, container.get("env") or [], translate, where)
        if variables:
            side["env"] = variables
        if container.get("envFrom"):
            side["envFrom"] = env_from(context, container["envFrom"], where)
        if container.get("workingDir"):
            side["workingDir"] = container["workingDir"]
        mounts = (main_mounts if container.get("mirrorVolumeMounts") is True else []) + (
            container.get("volumeMounts") or []
        )
        if mounts:
            side["volumeMounts"] = volume_mounts(context, mounts, where)
        side.update(container_settings(context, container, where))
        if container.get("resources"):
            side["resources"] = container["resources"]
        made = checked(context, models.SideContainer, side, where)
        if made is not None:
            result.append(made)
    return result


def pod_metadata(context: Context, metadata: dict[str, Any], path: str) -> dict[str, Any]:
    """The template's labels and annotations for the step's pods; KFP's own (pipelines.kubeflow.org/: its specs,
    caching, SDK version) are bookkeeping of KFP's, read elsewhere or meaningless to kubeline."""
    result: dict[str, Any] = {}
    for kind in ("labels", "annotations"):
        values = {}
        for key, value in sorted((metadata.get(kind) or {}).items()):
            if key.startswith(KFP_PREFIX):
                continue
            if key.startswith(_KUBELINE_PREFIX):
                context.warn(f"{path}.metadata.{kind}.{key}", f"{_KUBELINE_PREFIX} keys are kubeline's own: dropped")
                continue
            values[key] = str(value)
        if values:
            result[kind] = values
    return result
