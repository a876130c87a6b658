"""Checks of what a pipeline declares, apart from the tasks using it: parameters and components.

Decides whether defaults have their declared types and are used as written (no placeholders but the run's
name, namespace and uid in a parameter's default, filled in when the run starts), whether a component's
command, args and env refer only to its own inputs and outputs, and whether its pod's volumes, mounts,
sidecars and init containers fit together beside kubeline's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeline.api import models
from kubeline.api.models import QUANTITY
from kubeline.api.names import label_value_problem, qualified_name_problem
from kubeline.api.problems import Issue
from kubeline.engine.errors import name_list
from kubeline.engine.templates import COMPONENT_SCOPE, RUN_VALUES, TASK_SCOPE, TemplateError, refs_in
from kubeline.engine.values import FILE_INPUT_TYPES, coerce
from kubeline.engine.volumes import ARTIFACTS_VOLUME, RESERVED_PREFIX, size_problem


def param_problems(params: Iterable[models.Param]) -> list[Issue]:
    issues = []
    for param in params:
        if param.default is not None:
            path = f"spec.params[{param.name}].default"
            issues += _default_problems(path, param.default, param.type, RUN_VALUES)
    return issues


def volume_problems(volumes: Iterable[models.PipelineVolume], params: Iterable[models.Param]) -> list[Issue]:
    """Duplicate volume names, and sizes that are neither a quantity nor a declared parameter."""
    declared = {param.name: param for param in params}
    seen: set[str] = set()
    issues = []
    for volume in volumes:
        if volume.name in seen:
            issues.append(Issue(f"spec.volumes[{volume.name}]", "duplicate volume name: give each volume its own"))
        elif volume.name == ARTIFACTS_VOLUME:
            message = f"{ARTIFACTS_VOLUME!r} is kubeline's own: its claim, RUN-artifacts, is the run's artifact volume; rename the volume"
            issues.append(Issue(f"spec.volumes[{volume.name}].name", message))
        elif volume.name.startswith(RESERVED_PREFIX):
            message = f"{volume.name!r}: names starting with kubeline are kubeline's own; rename the volume"
            issues.append(Issue(f"spec.volumes[{volume.name}].name", message))
        seen.add(volume.name)
        problem = size_problem(volume, declared)
        if problem:
            issues.append(Issue(f"spec.volumes[{volume.name}].size", problem))
    return issues


RESERVED_CONTAINERS = frozenset({"main"})
RESERVED_FOLDER = "/kubeline"

#: What a sidecar, an init container or a volume may refer to: input values and the pod's name (the files of
#: {{inputs.X.path}} and {{outputs.X.path}} are main's alone).
SIDE_SCOPE = frozenset({"input", "pod_name"})


def component_problems(component: models.Component) -> list[Issue]:
    path = f"spec.components[{component.name}]"
    issues = []
    for i in component.inputs or []:
        if i.default is not None and i.type not in FILE_INPUT_TYPES:
            issues += _default_problems(f"{path}.inputs[{i.name}].default", i.default, i.type)
    known = _Known(
        inputs={i.name for i in component.inputs or []},
        outputs={o.name for o in component.outputs or []},
        files={i.name for i in component.inputs or [] if i.type in FILE_INPUT_TYPES},
    )
    for where, text in _texts(component.container, "container"):
        issues += _reference_problems(f"{path}.{where}", text, known, COMPONENT_SCOPE)
    sides = [("sidecars", c) for c in component.sidecars or []]
    sides += [("initContainers", c) for c in component.init_containers or []]
    for field, side in sides:
        for where, text in _texts(side, f"{field}[{side.name}]"):
            issues += _reference_problems(f"{path}.{where}", text, known, SIDE_SCOPE)
    for volume in component.volumes or []:
        if volume.persistent_volume_claim is not None:
            where = f"{path}.volumes[{volume.name}].persistentVolumeClaim.claimName"
            issues += _reference_problems(where, volume.persistent_volume_claim.claim_name, known, SIDE_SCOPE)
    return issues + _pod_problems(component, path) + _metadata_problems(component, path)


@dataclass(frozen=True)
class _Known:
    """A component's input and output names, and its inputs that are files (artifacts)."""

    inputs: set[str]
    outputs: set[str]
    files: set[str]


def _texts(container: models.Container, where: str) -> list[tuple[str, str]]:
    """The texts of a container that may hold placeholders, by the path of their field."""
    texts = [(f"{where}.command", t) for t in container.command or []]
    texts += [(f"{where}.args", t) for t in container.args or []]
    return texts + [(f"{where}.env[{e.name}]", e.value) for e in container.env or []]


def _reference_problems(path: str, text: str, known: _Known, allowed: frozenset[str]) -> list[Issue]:
    try:
        refs = refs_in(text, COMPONENT_SCOPE)
    except TemplateError as error:
        return [Issue(path, str(error))]
    issues = []
    for ref in refs:
        if ref.kind not in allowed:
            message = (
                f"{{{{{ref}}}}} is a file of the step's main container: a sidecar, an init container or a "
                "volume may use input values ({{inputs.NAME}}) and {{pod.name}} only"
            )
            issues.append(Issue(path, message))
        elif ref.kind != "pod_name":
            names = known.outputs if ref.kind == "output_path" else known.inputs
            if ref.name not in names:
                kind = "output" if ref.kind == "output_path" else "input"
                message = f"{{{{{ref}}}}} names no {kind} of the component (its {kind}s: {name_list(names)})"
                issues.append(Issue(path, message))
            elif allowed == SIDE_SCOPE and ref.name in known.files:
                message = (
                    f"{{{{{ref}}}}} is an artifact, a file of the step's main container: a sidecar, an init "
                    "container or a volume may use input values only; pass a value input instead"
                )
                issues.append(Issue(path, message))
    return issues


def _pod_problems(component: models.Component, path: str) -> list[Issue]:
    """Volumes, mounts and containers: each mount names a volume of the component at a folder of its own;
    kubeline's own names (kubeline-*, main) and folder (/kubeline) stay kubeline's."""
    issues = _volume_problems(component, path)
    volumes = {volume.name for volume in component.volumes or []}
    containers: list[tuple[str, models.Container]] = [("container", component.container)]
    names: set[str] = set()
    for field, sides in (("sidecars", component.sidecars), ("initContainers", component.init_containers)):
        for side in sides or []:
            where = f"{field}[{side.name}]"
            containers.append((where, side))
            if side.name in RESERVED_CONTAINERS or side.name.startswith(RESERVED_PREFIX):
                issues.append(
                    Issue(f"{path}.{where}.name", f"{side.name!r} is kubeline's own container name; rename it")
                )
            elif side.name in names:
                issues.append(Issue(f"{path}.{where}.name", "duplicate container name in the step's pod"))
            names.add(side.name)
            issues += _requests_over_limits(f"{path}.{where}.resources", side.resources)
    for where, container in containers:
        issues += _mount_problems(f"{path}.{where}", container, volumes)
        issues += _env_name_problems(f"{path}.{where}", container)
    return issues


def _volume_problems(component: models.Component, path: str) -> list[Issue]:
    """Names of the pod's volumes, and the files of Secret and ConfigMap volumes: relative paths, valid modes."""
    issues = []
    volumes: set[str] = set()
    for volume in component.volumes or []:
        where = f"{path}.volumes[{volume.name}]"
        if volume.name.startswith(RESERVED_PREFIX):
            issues.append(Issue(where, f"{volume.name!r}: names starting with kubeline are kubeline's own; rename it"))
        elif volume.name in volumes:
            issues.append(Issue(where, "duplicate volume name: give each volume its own"))
        volumes.add(volume.name)
        for kind, source in (("secret", volume.secret), ("configMap", volume.config_map)):
            if source is None:
                continue
            issues += _mode_problems(f"{where}.{kind}.defaultMode", source.default_mode)
            for item in source.items or []:
                item_path = f"{where}.{kind}.items[{item.key}]"
                issues += _relative_path_problems(f"{item_path}.path", item.path)
                issues += _mode_problems(f"{item_path}.mode", item.mode)
    return issues


def _mount_problems(path: str, container: models.Container, volumes: set[str]) -> list[Issue]:
    """Each mount names a volume, at a folder no other mount of the container (nor kubeline) takes."""
    issues = []
    folders: set[str] = set()
    for mount in container.volume_mounts or []:
        mount_path = f"{path}.volumeMounts[{mount.name}]"
        if mount.name not in volumes:
            message = f"names no volume of the component (its volumes: {name_list(volumes)})"
            issues.append(Issue(mount_path, message))
        folder = mount.mount_path.rstrip("/")
        if folder == RESERVED_FOLDER or folder.startswith(RESERVED_FOLDER + "/"):
            message = f"{mount.mount_path}: {RESERVED_FOLDER} is kubeline's own folder in the pod; mount elsewhere"
            issues.append(Issue(f"{mount_path}.mountPath", message))
        elif folder in folders:
            message = f"{mount.mount_path}: another mount of this container uses that path; give each its own"
            issues.append(Issue(f"{mount_path}.mountPath", message))
        folders.add(folder)
        if mount.sub_path is not None:
            issues += _relative_path_problems(f"{mount_path}.subPath", mount.sub_path)
    return issues


#: A variable's name as Kubernetes takes it (and a shell can read it): no '=', no spaces.
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _env_name_problems(path: str, container: models.Container) -> list[Issue]:
    return [
        Issue(
            f"{path}.env[{variable.name}].name",
            f"{variable.name!r} is not a variable name: use letters, digits, '_', '-' and '.', not starting "
            "with a digit (e.g. MY_VAR)",
        )
        for variable in container.env or []
        if not ENV_NAME.match(variable.name)
    ]


def _relative_path_problems(path: str, text: str) -> list[Issue]:
    """A path inside a volume: relative, and never climbing out of it through '..'."""
    if text.startswith("/") or ".." in text.split("/"):
        return [Issue(path, f"{text!r}: write a path inside the volume, relative and without '..' (e.g. conf/a.txt)")]
    return []


MAX_MODE = 0o777


def _mode_problems(path: str, mode: int | None) -> list[Issue]:
    if mode is None or 0 <= mode <= MAX_MODE:
        return []
    return [Issue(path, f"{mode} is not a file mode: use 0 to 511 (0o777), e.g. 420 for 0o644")]


_SUFFIXES = {
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def _amount(quantity: models.Quantity) -> float | None:
    """A Kubernetes quantity as a number (2Gi -> 2147483648.0); None when it is not one."""
    text = str(quantity)
    if isinstance(quantity, bool) or not re.match(QUANTITY, text):
        return None
    number = text.rstrip("".join(_SUFFIXES))
    try:
        return float(number) * _SUFFIXES.get(text[len(number) :], 1)
    except (ValueError, OverflowError):
        return None


def _requests_over_limits(path: str, resources: models.Resources | None) -> list[Issue]:
    """A request above its limit: the API server refuses such a container."""
    if resources is None or not resources.requests or not resources.limits:
        return []
    issues = []
    for name, request in resources.requests.items():
        wanted, limit = _amount(request), _amount(resources.limits.get(name, ""))
        if wanted is not None and limit is not None and wanted > limit:
            message = f"requests {request} is over limits {resources.limits[name]}: request at most the limit"
            issues.append(Issue(f"{path}.requests.{name}", message))
    return issues


def _metadata_problems(component: models.Component, path: str) -> list[Issue]:
    """The pod's labels and annotations as the API server takes them: qualified keys, label values."""
    metadata = component.pod_metadata
    if metadata is None:
        return []
    issues = []
    for field, entries in (("labels", metadata.labels), ("annotations", metadata.annotations)):
        for key, value in (entries or {}).items():
            where = f"{path}.podMetadata.{field}[{key}]"
            problem = qualified_name_problem(key)
            if problem:
                issues.append(Issue(where, problem))
            problem = label_value_problem(value) if field == "labels" else None
            if problem:
                issues.append(Issue(where, problem))
    return issues


def _default_problems(path: str, default: Any, type_name: str, filled: frozenset[str] = frozenset()) -> list[Issue]:
    issues = []
    try:
        coerce(default, type_name)
    except ValueError as error:
        issues.append(Issue(path, str(error)))
    return issues + _placeholder_in_default(path, default, filled)


def _placeholder_in_default(path: str, default: Any, filled: frozenset[str]) -> list[Issue]:
    """A default is used as written but for the placeholders in ``filled``: others would reach the step unfilled."""
    try:
        refs = refs_in(default, TASK_SCOPE | COMPONENT_SCOPE) if isinstance(default, str) else []
    except TemplateError:
        return []  # text that merely looks like one, e.g. a template the step fills itself
    unfilled = [ref for ref in refs if str(ref) not in filled]
    if not unfilled:
        return []
    only = (
        f"; a parameter's default fills in only {', '.join('{{' + f + '}}' for f in sorted(filled))}" if filled else ""
    )
    message = (
        f"{{{{{unfilled[0]}}}}} in a default is not filled in (a default is used as written{only}): "
        "pass it as the task's argument instead"
    )
    return [Issue(path, message)]
