"""Filling a component's container placeholders for one step; backends say where files live."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubeline.engine.state import StartStep
from kubeline.engine.templates import Ref, render


@dataclass
class Rendered:
    command: list[str]
    args: list[str]
    env: dict[str, str]


def render_container(start: StartStep, input_path: Callable[[str], str], output_path: Callable[[str], str]) -> Rendered:
    """The step's command, args and env with ``{{inputs.*}}`` and ``{{outputs.*.path}}`` filled in."""
    artifact_inputs = {i.name for i in start.component.inputs or [] if i.type == "artifact"}

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
