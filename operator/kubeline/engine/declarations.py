"""Checks of what a pipeline declares, apart from the tasks using it: parameters and components.

Decides whether defaults have their declared types and are used as written (no placeholders but the run's
name, namespace and uid in a parameter's default, filled in when the run starts), whether a component's
command, args and env refer only to its own inputs and outputs, and whether its pod's volumes, mounts,
sidecars and init containers fit together beside kubeline's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeline.api import models
from kubeline.api.problems import Issue
from kubeline.engine.errors import name_list
from kubeline.engine.templates import COMPONENT_SCOPE, RUN_VALUES, TASK_SCOPE, TemplateError, refs_in
from kubeline.engine.values import FILE_INPUT_TYPES, coerce
from kubeline.engine.volumes import size_problem


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
        seen.add(volume.name)
        problem = size_problem(volume, declared)
        if problem:
            issues.append(Issue(f"spec.volumes[{volume.name}].size", problem))
    return issues


#: Names and folders of kubeline's own in a step's pod: a user's volume or container may not take them.
RESERVED_PREFIX = "kubeline"
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
    inputs = {i.name for i in component.inputs or []}
    outputs = {o.name for o in component.outputs or []}
    for where, text in _texts(component.container, "container"):
        issues += _reference_problems(f"{path}.{where}", text, inputs, outputs, COMPONENT_SCOPE)
    sides = [("sidecars", c) for c in component.sidecars or []]
    sides += [("initContainers", c) for c in component.init_containers or []]
    for field, side in sides:
        for where, text in _texts(side, f"{field}[{side.name}]"):
            issues += _reference_problems(f"{path}.{where}", text, inputs, outputs, SIDE_SCOPE)
    for volume in component.volumes or []:
        if volume.persistent_volume_claim is not None:
            where = f"{path}.volumes[{volume.name}].persistentVolumeClaim.claimName"
            issues += _reference_problems(where, volume.persistent_volume_claim.claim_name, inputs, outputs, SIDE_SCOPE)
    return issues + _pod_problems(component, path)


def _texts(container: models.Container, where: str) -> list[tuple[str, str]]:
    """The texts of a container that may hold placeholders, by the path of their field."""
    texts = [(f"{where}.command", t) for t in container.command or []]
    texts += [(f"{where}.args", t) for t in container.args or []]
    return texts + [(f"{where}.env[{e.name}]", e.value) for e in container.env or []]


def _reference_problems(
    path: str, text: str, inputs: set[str], outputs: set[str], allowed: frozenset[str]
) -> list[Issue]:
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
            known = outputs if ref.kind == "output_path" else inputs
            if ref.name not in known:
                kind = "output" if ref.kind == "output_path" else "input"
                message = f"{{{{{ref}}}}} names no {kind} of the component (its {kind}s: {name_list(known)})"
                issues.append(Issue(path, message))
    return issues


def _pod_problems(component: models.Component, path: str) -> list[Issue]:
    """Volumes, mounts and container names: each mount names a volume of the component; kubeline's own
    names (kubeline-*, main) and folder (/kubeline) stay kubeline's."""
    issues = []
    volumes: set[str] = set()
    for volume in component.volumes or []:
        where = f"{path}.volumes[{volume.name}]"
        if volume.name.startswith(RESERVED_PREFIX):
            issues.append(Issue(where, f"{volume.name!r}: names starting with kubeline are kubeline's own; rename it"))
        elif volume.name in volumes:
            issues.append(Issue(where, "duplicate volume name: give each volume its own"))
        volumes.add(volume.name)
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
    for where, container in containers:
        for mount in container.volume_mounts or []:
            mount_path = f"{path}.{where}.volumeMounts[{mount.name}]"
            if mount.name not in volumes:
                message = f"names no volume of the component (its volumes: {name_list(volumes)})"
                issues.append(Issue(mount_path, message))
            folder = mount.mount_path.rstrip("/")
            if folder == RESERVED_FOLDER or folder.startswith(RESERVED_FOLDER + "/"):
                message = f"{mount.mount_path}: {RESERVED_FOLDER} is kubeline's own folder in the pod; mount elsewhere"
                issues.append(Issue(f"{mount_path}.mountPath", message))
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
