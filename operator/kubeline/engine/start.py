"""A step's start: its inputs as text, the artifacts it reads, its cache key and settings, as a ``StartStep``.

An input is the task's argument with its placeholders resolved, or else the component's default; a
typed input must parse as its type, or the step fails without running. An artifact input fed by a
task's artifact output reads the location that task recorded, and the cache key takes the producer's
own cache key (its lineage) for it rather than the location.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.engine.cachekey import cache_key
from kubeline.engine.container import claim_problems, reads_as_file
from kubeline.engine.resolution import Context, MissingInput, Resolver
from kubeline.engine.scopes import Node, Scope
from kubeline.engine.state import StartStep
from kubeline.engine.templates import Ref, render, to_text, whole_ref
from kubeline.engine.values import FILE_INPUT_TYPES, FILE_OUTPUT_TYPES, coerce


@dataclass
class _Inputs:
    texts: dict[str, str] = field(default_factory=dict)  # input name -> text
    artifacts: dict[str, str] = field(default_factory=dict)  # artifact input name -> recorded location
    lineage: dict[str, str] = field(default_factory=dict)  # artifact input name -> producer's key/output


def start_step(node: Node, step_id: str, attempt: int, scope: Scope, context: Context, resolver: Resolver) -> StartStep:
    """Attempt ``attempt`` of the task ``node`` as step ``step_id``, its inputs resolved in ``scope``."""
    component = node.component
    assert component is not None
    inputs = _inputs(component, node.arguments(), _Where(scope, context, resolver))
    problems = claim_problems(component, inputs.texts)
    if problems:
        raise MissingInput("; ".join(problems))
    settings = node.settings
    return StartStep(
        id=step_id,
        task=node.name,
        component=component,
        attempt=attempt,
        inputs=inputs.texts,
        artifacts=inputs.artifacts,
        cache_key=cache_key(component, inputs.texts, inputs.lineage),
        caching_enabled=settings.caching_enabled,
        max_staleness=settings.max_staleness,
        timeout=settings.timeout,
        scheduling=settings.scheduling,
    )


@dataclass
class _Where:
    """Where the task's placeholders are resolved."""

    scope: Scope
    context: Context
    resolver: Resolver


def _inputs(component: models.Component, arguments: dict[str, Any], where: _Where) -> _Inputs:
    found = _Inputs()
    for spec in component.inputs or []:
        if spec.name not in arguments:
            if spec.default is not None:
                found.texts[spec.name] = to_text(coerce(spec.default, spec.type))
            continue
        value = arguments[spec.name]
        ref = whole_ref(value) if isinstance(value, str) else None
        if ref is not None and ref.kind == "task_output" and reads_as_file(component, spec.name):
            if _read_artifact(found, spec.name, ref, where):
                continue
        found.texts[spec.name] = _text(spec, value, where)
    return found


def _read_artifact(found: _Inputs, name: str, ref: Ref, where: _Where) -> bool:
    """Record the stored object ``ref`` names for input ``name`` (an artifact, or a value too large to report
    inline); False when its output is an ordinary value, passed as text."""
    producer_id, producer, output_type = where.resolver.producer(ref, where.scope, where.context)
    stored_value = not isinstance(producer, list) and ref.name in producer.stored_values
    if output_type not in FILE_OUTPUT_TYPES and not stored_value:
        return False
    location = producer.outputs.get(ref.name)
    if location is None:
        raise MissingInput(f"task {ref.task} recorded no artifact {ref.name}")
    found.artifacts[name] = location
    found.lineage[name] = f"{producer.cache_key or producer_id}/{ref.name}"
    return True


def _text(spec: models.Input, value: Any, where: _Where) -> str:
    """An input's text, its placeholders resolved; it must parse as the input's type."""
    if isinstance(value, str):
        text = render(value, lambda ref: where.resolver.text(ref, where.scope, where.context))
    else:
        text = to_text(value)
    if spec.type != "string" and spec.type not in FILE_INPUT_TYPES:
        try:
            coerce(text, spec.type)
        except ValueError as error:
            raise MissingInput(f"input {spec.name}: {error}") from None
    return text
