"""Filling a component's container placeholders for one step; backends say where files live."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubeline.api import models
from kubeline.engine.state import StartStep
from kubeline.engine.templates import Ref, render
from kubeline.engine.values import FILE_INPUT_TYPES


@dataclass
class Rendered:
    command: list[str]
    args: list[str]
    env: dict[str, str]


def render_container(start: StartStep, input_path: Callable[[str], str], output_path: Callable[[str], str]) -> Rendered:
    """The step's command, args and env with ``{{inputs.*}}`` and ``{{outputs.*.path}}`` filled in."""
    artifact_inputs = {i.name for i in start.component.inputs or [] if i.type in FILE_INPUT_TYPES}

    def resolve(ref: Ref) -> str:
        if ref.kind == "output_path":
            return output_path(ref.name)
        if ref.kind == "input_path" or ref.name in artifact_inputs:
            return input_path(ref.name)
        return start.inputs.get(ref.name, "")

    container = start.component.container
    return Rendered(
        command=[render(part, resolve) for part in container.command or []],
        args=[render(part, resolve) for part in container.args or []],
        env={e.name: render(e.value, resolve) for e in container.env or []},
    )


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
