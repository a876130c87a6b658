"""Filling a component's container placeholders for one step; backends say where files live."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubeline.api import models
from kubeline.api.names import subdomain_problem
from kubeline.engine.state import StartStep
from kubeline.engine.templates import Ref, render
from kubeline.engine.values import FILE_INPUT_TYPES


@dataclass
class Rendered:
    """A step's containers and volumes as the pod (or the local runner) gets them: placeholders filled in."""

    command: list[str]
    args: list[str]
    env: dict[str, str]  # variables with a value
    env_sources: list[models.EnvVar] = field(default_factory=list)  # variables read from a Secret, ConfigMap, pod
    env_from: list[models.EnvFromSource] = field(default_factory=list)
    volumes: list[models.Volume] = field(default_factory=list)
    volume_mounts: list[models.VolumeMount] = field(default_factory=list)
    sidecars: list[models.SideContainer] = field(default_factory=list)
    init_containers: list[models.SideContainer] = field(default_factory=list)


def render_container(
    start: StartStep, input_path: Callable[[str], str], output_path: Callable[[str], str], pod_name: str
) -> Rendered:
    """The step's containers and volumes with ``{{inputs.*}}``, ``{{outputs.*.path}}`` and ``{{pod.name}}``
    filled in (validation kept file placeholders to main's container)."""
    artifact_inputs = {i.name for i in start.component.inputs or [] if i.type in FILE_INPUT_TYPES}

    def resolve(ref: Ref) -> str:
        if ref.kind == "pod_name":
            return pod_name
        if ref.kind == "output_path":
            return output_path(ref.name)
        if ref.kind == "input_path" or ref.name in artifact_inputs:
            return input_path(ref.name)
        return start.inputs.get(ref.name, "")

    component = start.component
    container = component.container
    return Rendered(
        command=[render(part, resolve) for part in container.command or []],
        args=[render(part, resolve) for part in container.args or []],
        env={e.name: render(e.value, resolve) for e in container.env or [] if e.value_from is None},
        env_sources=[e for e in container.env or [] if e.value_from is not None],
        env_from=list(container.env_from or []),
        volumes=[_volume(volume, resolve) for volume in component.volumes or []],
        volume_mounts=list(container.volume_mounts or []),
        sidecars=[_side(side, resolve) for side in component.sidecars or []],
        init_containers=[_side(side, resolve) for side in component.init_containers or []],
    )


def _side(side: models.SideContainer, resolve: Callable[[Ref], str]) -> models.SideContainer:
    env = [e.model_copy(update={"value": render(e.value, resolve)}) for e in side.env or []]
    return side.model_copy(
        update={
            "command": [render(part, resolve) for part in side.command] if side.command is not None else None,
            "args": [render(part, resolve) for part in side.args] if side.args is not None else None,
            "env": env if side.env is not None else None,
        }
    )


def _volume(volume: models.Volume, resolve: Callable[[Ref], str]) -> models.Volume:
    claim = volume.persistent_volume_claim
    if claim is None:
        return volume
    rendered = claim.model_copy(update={"claim_name": render(claim.claim_name, resolve)})
    return volume.model_copy(update={"persistent_volume_claim": rendered})


def reads_as_file(component: models.Component, name: str) -> bool:
    """Whether the command reads input ``name`` from a file: an artifact input, or ``{{inputs.NAME.path}}``."""
    if any(i.name == name and i.type in FILE_INPUT_TYPES for i in component.inputs or []):
        return True
    found = False

    def note(ref: Ref) -> str:
        nonlocal found
        found = found or (ref.kind == "input_path" and ref.name == name)
        return ""

    container = component.container
    for part in [*(container.command or []), *(container.args or []), *(e.value for e in container.env or [])]:
        render(part, note)
    return found


#: What {{pod.name}} stands for when a claim's name is checked before the pod has one (a pod's name is valid).
_SOME_POD = "pod"


def claim_problems(component: models.Component, inputs: dict[str, str]) -> list[str]:
    """Why the claims the component's volumes name, given these input values, are not valid claim names (an
    empty input would otherwise send a pod the API server refuses, or mount every shared volume locally)."""
    problems = []
    for volume in component.volumes or []:
        claim = volume.persistent_volume_claim
        if claim is None:
            continue
        name = render(claim.claim_name, lambda ref: _SOME_POD if ref.kind == "pod_name" else inputs.get(ref.name, ""))
        problem = subdomain_problem(name)
        if problem:
            problems.append(
                f"volumes[{volume.name}].persistentVolumeClaim.claimName {claim.claim_name!r} {problem}; "
                "pass the name of an existing PersistentVolumeClaim"
            )
    return problems
