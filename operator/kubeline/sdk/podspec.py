"""KFP ContainerOp pod settings (Kubernetes objects, as camelCase dicts) checked and turned into the Pipeline API's.

A step pod runs under Kubernetes' restricted Pod Security profile: what the profile forbids (host volumes,
privileged containers, root, privilege escalation, added capabilities) is a CompileError naming the field and
why, as is what kubeline's Pipeline API has no field for. Run-time values are inlined by the caller (dsl.py);
a field that cannot hold one is refused here.
"""

from __future__ import annotations

from typing import Any, TypeVar

from kubeline.api.names import is_dns_label, to_dns_label
from kubeline.sdk.components import CompileError

#: Volume kinds a step pod takes (the API's Volume); the others the restricted profile allows but kubeline does not.
VOLUME_KINDS = ("persistentVolumeClaim", "secret", "configMap", "emptyDir")
_PROFILE_ALLOWED = ("csi", "downwardAPI", "ephemeral", "projected")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
_RUNTIME_VALUE = "{{pipelineparam:"

T = TypeVar("T")


def _fields(where: str, given: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """``given`` with only the ``allowed`` keys (by camelCase name: the why of each refusal is the caller's)."""
    unknown = sorted(k for k, v in given.items() if v is not None and k not in allowed)
    if unknown:
        raise CompileError(
            f"{where}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not supported "
            f"(a step pod takes {', '.join(allowed)})"
        )
    return {k: v for k, v in given.items() if v is not None}


def fixed(where: str, value: T) -> T:
    """A setting kubeline fixes when compiling: a run-time value (a pipeline parameter, a task output) is refused."""
    if _RUNTIME_VALUE in repr(value):
        raise CompileError(
            f"{where} cannot be a run-time value (a pipeline parameter or a task output): kubeline fixes it when "
            "compiling; give it as text"
        )
    return value


def env_source(where: str, value_from: dict[str, Any]) -> dict[str, Any]:
    """An env variable's valueFrom: a key of a Secret or a ConfigMap, or a field of the pod."""
    source = _fields(
        where,
        value_from,
        ("secretKeyRef", "configMapKeyRef", "fieldRef"),
    )
    if len(source) != 1:
        raise CompileError(f"{where}: set exactly one of secretKeyRef, configMapKeyRef and fieldRef")
    kind, selector = next(iter(source.items()))
    if kind == "fieldRef":
        return {"fieldRef": {"fieldPath": fixed(f"{where}.fieldRef.fieldPath", selector.get("fieldPath"))}}
    keys = _fields(f"{where}.{kind}", selector, ("name", "key", "optional"))
    return {kind: fixed(f"{where}.{kind}", keys)}


def env_from_source(where: str, source: dict[str, Any]) -> dict[str, Any]:
    """An envFrom entry: every key of a Secret or a ConfigMap, with an optional prefix."""
    given = fixed(where, _fields(where, source, ("prefix", "secretRef", "configMapRef")))
    if ("secretRef" in given) == ("configMapRef" in given):
        raise CompileError(f"{where}: set exactly one of secret_ref and config_map_ref")
    for kind in ("secretRef", "configMapRef"):
        if kind in given:
            given[kind] = _fields(f"{where}.{kind}", given[kind], ("name", "optional"))
    return given


def volume_name(where: str, name: Any) -> str:
    """A volume's name: a DNS label that is not kubeline's (kubeline* names its own volumes)."""
    if not is_dns_label(name) or str(name).startswith("kubeline"):
        raise CompileError(
            f"{where}: volume name {name!r} must be a DNS label (e.g. {to_dns_label(str(name), fallback='data')!r}) "
            "not starting with 'kubeline' (kubeline's own volumes)"
        )
    return str(name)


def volume(where: str, given: dict[str, Any]) -> dict[str, Any]:
    """A pod volume of one of the kinds a step pod takes; claimName may hold a placeholder (inlined by the caller)."""
    name = volume_name(where, given.get("name"))
    kinds = [k for k, v in given.items() if k != "name" and v is not None]
    refused = [k for k in kinds if k not in VOLUME_KINDS]
    if refused:
        why = (
            "kubeline's step pods take persistentVolumeClaim, secret, configMap and emptyDir volumes"
            if refused[0] in _PROFILE_ALLOWED
            else "step pods run under Kubernetes' restricted Pod Security profile, which forbids it"
        )
        raise CompileError(
            f"{where}: volume {name!r} of kind {refused[0]} is not supported: {why}; share data through a "
            "PersistentVolumeClaim (dsl.VolumeOp or an existing claim) or a Secret or ConfigMap"
        )
    if len(kinds) != 1:
        raise CompileError(f"{where}: volume {name!r} must set one of {', '.join(VOLUME_KINDS)}")
    kind = kinds[0]
    source = dict(given[kind])
    if kind == "persistentVolumeClaim":
        source = _fields(f"{where}.{kind}", source, ("claimName", "readOnly"))
        fixed(f"{where}.{kind}.readOnly", source.get("readOnly"))
    else:
        fixed(f"{where}.{kind}", source)
    return {"name": name, kind: source}


def volume_mount(where: str, given: dict[str, Any]) -> dict[str, Any]:
    mount = fixed(where, _fields(where, given, ("name", "mountPath", "subPath", "readOnly")))
    if not str(mount.get("mountPath", "")).startswith("/"):
        raise CompileError(f"{where}: mount_path {mount.get('mountPath')!r} must be an absolute path, e.g. /mnt/data")
    return mount


def pull_policy(where: str, policy: Any) -> str:
    if policy not in PULL_POLICIES:
        raise CompileError(f"{where}: image pull policy {policy!r}: use one of {', '.join(PULL_POLICIES)}")
    return str(policy)


#: What the restricted profile forbids, by field: (the values it refuses, why).
_FORBIDDEN: dict[str, tuple[Any, str]] = {
    "privileged": (True, "privileged containers"),
    "allowPrivilegeEscalation": (True, "privilege escalation"),
    "runAsNonRoot": (False, "containers that may run as root"),
    "runAsUser": (0, "running as root (user 0)"),
}
_SECURITY_FIELDS = (
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "privileged",
    "capabilities",
    "seccompProfile",
)


def security_context(where: str, given: dict[str, Any]) -> dict[str, Any]:
    """The container's security context: merged over kubeline's restricted defaults, so it can only tighten them."""
    context = fixed(where, _fields(where, given, _SECURITY_FIELDS))
    for key, (value, what) in _FORBIDDEN.items():
        if key in context and context[key] == value and type(context[key]) is type(value):
            raise CompileError(
                f"{where}: {key}={context[key]!r} is refused: step pods run under Kubernetes' restricted Pod "
                f"Security profile, which forbids {what}; leave {key} out"
            )
    added = [c for c in (context.get("capabilities") or {}).get("add") or [] if c != "NET_BIND_SERVICE"]
    if added:
        raise CompileError(
            f"{where}: capabilities.add {added} is refused: the restricted Pod Security profile allows adding "
            "NET_BIND_SERVICE only"
        )
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp not in (None, "RuntimeDefault", "Localhost"):
        raise CompileError(
            f"{where}: seccompProfile type {seccomp!r} is refused: the restricted Pod Security profile requires "
            "RuntimeDefault or Localhost"
        )
    return context


#: Fields of a sidecar or init container (the API's SideContainer); the caller inlines run-time values.
SIDE_CONTAINER_FIELDS = (
    "name",
    "image",
    "command",
    "args",
    "env",
    "envFrom",
    "workingDir",
    "volumeMounts",
    "imagePullPolicy",
    "securityContext",
    "resources",
)


def side_container_fields(where: str, given: dict[str, Any]) -> dict[str, Any]:
    """A sidecar's or init container's fields, each checked as the main container's are (env left to the caller)."""
    container = _fields(where, given, SIDE_CONTAINER_FIELDS)
    if not is_dns_label(container.get("name")):
        raise CompileError(f"{where}: container name {container.get('name')!r} must be a DNS label, e.g. 'proxy'")
    if not container.get("image"):
        raise CompileError(f"{where}: container {container['name']!r} needs an image")
    fixed(f"{where}.image", container["image"])
    if "envFrom" in container:
        container["envFrom"] = [env_from_source(f"{where}.envFrom", e) for e in container["envFrom"]]
    if "volumeMounts" in container:
        container["volumeMounts"] = [volume_mount(f"{where}.volumeMounts", m) for m in container["volumeMounts"]]
    if "imagePullPolicy" in container:
        container["imagePullPolicy"] = pull_policy(where, container["imagePullPolicy"])
    if "securityContext" in container:
        container["securityContext"] = security_context(f"{where}.securityContext", container["securityContext"])
    if "resources" in container:
        container["resources"] = fixed(
            f"{where}.resources", _fields(f"{where}.resources", container["resources"], ("requests", "limits"))
        )
    return container
