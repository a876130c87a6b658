"""What a placeholder stands for at one point of a run: a parameter, a loop item, the run, a task's output.

A task's output is read from its producer's recorded state: from the instance of the producer's group
that the consumer runs in, or, for a producer inside a loop, as the list of its iterations' outputs. An
output of a skipped task skips its consumer (``SkippedInput``); one that cannot be had fails the
consumer without running it (``MissingInput``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubeline.api import models
from kubeline.api.limits import MAX_LOOP_ITEMS, MAX_VALUE_NESTING, deeper_than
from kubeline.engine import stepid
from kubeline.engine.scopes import Node, Scope, node_at
from kubeline.engine.state import RunOutcome, RunState, StepState, View
from kubeline.engine.templates import Ref, item_field, to_text, whole_ref
from kubeline.engine.volumes import volume_value


class SkippedInput(Exception):
    """An input comes from a skipped task: the consumer is skipped too."""


class MissingInput(Exception):
    """An input cannot be had (missing output, not a list…): the task fails without running."""


@dataclass(frozen=True)
class LoopItem:
    """The item of one enclosing loop iteration; ``name`` is the loop's itemName, if it has one."""

    name: str | None
    value: Any


@dataclass
class Context:
    """Where in the tree a node is decided: the group instances it runs in, its loop items (innermost last)."""

    prefixes: dict[int, str]  # id(scope) -> id of the group instance it runs in ("" at the top)
    items: tuple[LoopItem, ...] = ()
    may_start: bool = True


class Resolver:
    """Resolves references against the parameters, the recorded steps and the views decided so far."""

    def __init__(
        self,
        params: dict[str, Any],
        state: RunState,
        views: dict[str, View],
        volumes: dict[str, models.PipelineVolume] | None = None,
    ):
        self.params, self.state, self.views = params, state, views
        self.volumes = volumes or {}
        #: What {{run.status}} resolves to: the run's outcome once its DAG is over (for the exit handler).
        self.run_status: RunOutcome = "Running"

    def value(self, ref: Ref, scope: Scope, context: Context) -> Any:
        if ref.kind == "param":
            return self.params[ref.name]
        if ref.kind == "item":
            item = _loop_item(ref, context)
            return item_field(item, ref.fields) if ref.fields else item
        if ref.kind == "run":
            return self.run_status if ref.name == "status" else self.state.identity.get(ref.name, "")
        if ref.kind == "volume":
            return volume_value(ref, self.state.identity.get("name", ""), self.volumes, self.params)
        producer_id, producer, _ = self.producer(ref, scope, context)
        if isinstance(producer, list):
            return producer
        if ref.name not in producer.outputs:
            raise MissingInput(f"task {ref.task} finished without output {ref.name}")
        if ref.name in producer.stored_values:
            raise MissingInput(stored_value_problem(ref))
        return producer.outputs[ref.name]

    def text(self, ref: Ref, scope: Scope, context: Context) -> str:
        return to_text(self.value(ref, scope, context))

    def producer(self, ref: Ref, scope: Scope, context: Context) -> tuple[str, Any, str]:
        """The step that produced ``ref``: its id, its recorded state (for a loop, its values), the output's type."""
        home, relative = scope.visible[ref.task]
        producer_id = stepid.child(context.prefixes.get(id(home), ""), relative)
        view = self.views.get(producer_id)
        if view is None or view.phase == "Skipped":
            raise SkippedInput(f"skipped: its input {ref} comes from skipped task {ref.task}")
        target = node_at(home, relative)
        assert target is not None and target.component is not None
        output_type = next((o.type for o in target.component.outputs or [] if o.name == ref.name), "string")
        if target.is_loop:
            return producer_id, self._iteration_values(producer_id, ref.name), "list"
        step = self.state.steps.get(producer_id)
        if step is None or step.phase != "Succeeded":
            raise MissingInput(f"task {ref.task} has not succeeded")
        return producer_id, step, output_type

    def _iteration_values(self, loop_id: str, output: str) -> list[Any]:
        """The output of each iteration of a loop that succeeded with it, in order."""
        values = []
        index = 0
        while stepid.instance(loop_id, index) in self.views:
            step: StepState | None = self.state.steps.get(stepid.instance(loop_id, index))
            if step is not None and step.phase == "Succeeded" and output in step.outputs:
                values.append(_parse_value(step.outputs[output]))
            index += 1
        return values

    def items(self, node: Node, scope: Scope, context: Context) -> list[Any]:
        """The list a loop runs over: a literal, or a parameter's or output's value (JSON text is parsed)."""
        if isinstance(node.for_each, list):
            return node.for_each
        ref = whole_ref(node.for_each)
        assert ref is not None
        value = self.value(ref, scope, context)
        if isinstance(value, str):
            value = _json_list_text(ref, value)
        if not isinstance(value, list):
            raise MissingInput(f"forEach: {ref} is not a list: {to_text(value)[:200]!r}")
        if len(value) > MAX_LOOP_ITEMS:
            raise MissingInput(
                f"forEach: {ref} has {len(value):,} items; a loop runs at most {MAX_LOOP_ITEMS:,} (each is a step): "
                "give each step a batch of items"
            )
        return value


def _loop_item(ref: Ref, context: Context) -> Any:
    """The innermost loop's item for {{item}}; the item of the enclosing loop named so for {{items.NAME}}."""
    if not ref.name:
        if not context.items:
            raise MissingInput("{{item}} is only defined inside forEach")
        return context.items[-1].value
    named = next((item for item in reversed(context.items) if item.name == ref.name), None)
    if named is None:  # validation refuses it; a hand-made plan may still get here
        raise MissingInput(f"{{{{{ref}}}}}: no enclosing loop has itemName {ref.name!r}")
    return named.value


def stored_value_problem(ref: Ref) -> str:
    """Why a value kept in the artifact store cannot be used inline (in arguments, conditions or loops)."""
    return (
        f"{{{{{ref}}}}} is too large to pass inline (it was kept in the artifact store, over the 4 KiB a pod "
        f"reports): read it as a file instead (InputPath in the SDK, {{{{inputs.NAME.path}}}} in a component)"
    )


def _json_list_text(ref: Ref, text: str) -> Any:
    """The JSON value of a loop's text input, nested within bounds."""
    try:
        value = json.loads(text)
    except ValueError:
        raise MissingInput(f"forEach: {ref} is not a JSON list: {text[:200]!r}") from None
    except RecursionError:  # json's C decoder stops itself here, before the stack runs out
        value = None
    if value is None or deeper_than(value, MAX_VALUE_NESTING):
        raise MissingInput(
            f"forEach: {ref} nests deeper than {MAX_VALUE_NESTING} levels: loop over flat values or mappings"
        )
    return value


def _parse_value(text: str) -> Any:
    """A loop iteration's output as a JSON value when it is one, nested within bounds; else the text."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return text if deeper_than(value, MAX_VALUE_NESTING) else value
