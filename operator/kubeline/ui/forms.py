"""The form that starts a run (or clones one with edited parameters), built from a pipeline's typed params.

The form's text goes through the engine's own binding (``engine.run.bind_arguments``, what ``kubeline run -p``
and ``kubeline submit`` use), so the UI accepts exactly what the CLI accepts and says the same thing about
the rest, next to the field at fault. An empty field means "not given": the parameter's default applies,
computed for the new run (a default may name ``{{run.name}}``), and a required parameter says it needs one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeline.api.problems import PipelineInvalid
from kubeline.engine.plan import Plan, build, load_spec
from kubeline.engine.run import bind_arguments

#: Form fields of parameters are named ``param.NAME``, apart from the form's own fields (its CSRF token).
FIELD_PREFIX = "param."
_WIDGETS = {"boolean": "select", "list": "textarea", "object": "textarea"}
_INPUT_MODES = {"integer": "numeric", "number": "decimal"}


@dataclass(frozen=True)
class FormField:
    """One parameter's input: ``widget`` is text, select (booleans) or textarea (JSON lists and objects)."""

    name: str
    input_name: str
    type: str
    widget: str
    input_mode: str
    value: str
    placeholder: str
    required: bool
    description: str
    problem: str


@dataclass(frozen=True)
class RunForm:
    fields: list[FormField]
    problems: list[str]  # what belongs to no field: the pipeline itself, volume sizes, unknown parameters


def plan_of(spec: Mapping[str, Any]) -> Plan:
    """The engine's plan of a pipeline spec (or Pipeline document); PipelineInvalid lists its problems."""
    return build(load_spec(dict(spec)))


def run_form(
    spec: Mapping[str, Any], values: Mapping[str, Any] | None = None, problems: Mapping[str, str] | None = None
) -> RunForm:
    """The form for ``spec``'s parameters, filled with ``values`` (a submitted form's text by parameter name,
    or a run's arguments to clone it) and showing ``problems`` (from ``parse_form``) beside their fields."""
    values, problems = values or {}, dict(problems or {})
    try:
        plan = plan_of(spec)
    except PipelineInvalid as error:
        return RunForm([], [f"the pipeline is not valid: {issue}" for issue in error.issues])
    fields = []
    for name, param in plan.params.items():
        default = "" if param.default is None else _text(param.default)
        fields.append(
            FormField(
                name=name,
                input_name=FIELD_PREFIX + name,
                type=param.type,
                widget=_WIDGETS.get(param.type, "text"),
                input_mode=_INPUT_MODES.get(param.type, "text"),
                value=_text(values[name]) if name in values and values[name] is not None else "",
                placeholder=f"default: {default}" if param.default is not None else f"required {param.type}",
                required=param.default is None,
                description=param.description or "",
                problem=problems.pop(name, ""),
            )
        )
    return RunForm(fields, [f"{name}: {text}" if name else text for name, text in problems.items()])


def form_values(form: Mapping[str, str]) -> dict[str, str]:
    """A submitted form's parameter text by parameter name (its other fields left out)."""
    return {key[len(FIELD_PREFIX) :]: value for key, value in form.items() if key.startswith(FIELD_PREFIX)}


def parse_form(spec: Mapping[str, Any], form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The run's arguments (typed, the parameters given only) from a submitted form, and the problems by
    parameter name ("" for those of no parameter); arguments are empty when there is a problem."""
    try:
        plan = plan_of(spec)
    except PipelineInvalid as error:
        return {}, {"": "the pipeline is not valid: " + "; ".join(str(issue) for issue in error.issues)}
    arguments: dict[str, str] = {}
    for name, text in form_values(form).items():
        param = plan.params.get(name)
        given = text != "" if param is not None and param.type == "string" else text.strip() != ""
        if given:
            arguments[name] = text
    try:
        bound = bind_arguments(plan, arguments)
    except ValueError as error:
        return {}, _problems_by_field(str(error), plan)
    return {name: bound[name] for name in arguments}, {}


def _problems_by_field(text: str, plan: Plan) -> dict[str, str]:
    """The engine's problems (``arguments.NAME: message`` lines) by the field they belong to."""
    problems: dict[str, list[str]] = {}
    for line in text.splitlines():
        field, _, message = line.partition(": ")
        name = field.removeprefix("arguments.")
        key = name if field.startswith("arguments.") and name in plan.params else ""
        problems.setdefault(key, []).append(message if key else line)
    return {key: "; ".join(messages) for key, messages in problems.items()}


def arguments_to_clone(run: Mapping[str, Any]) -> dict[str, Any]:
    """What a run asked for (``spec.arguments``), to start another like it: its defaults are computed
    anew for the clone (``status.arguments`` when the run has no spec arguments, e.g. a local run's record)."""
    spec, status = run.get("spec"), run.get("status")
    asked = spec.get("arguments") if isinstance(spec, Mapping) else None
    if isinstance(asked, Mapping) and asked:
        return dict(asked)
    bound = status.get("arguments") if isinstance(status, Mapping) else None
    return dict(bound) if isinstance(bound, Mapping) else {}


def _text(value: Any) -> str:
    """A value as the user types it: text as is, the rest as JSON (``true``, ``3``, ``[1, 2]``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
