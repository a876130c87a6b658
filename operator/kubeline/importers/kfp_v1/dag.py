"""DAG templates as kubeline tasks: steps (container templates) and groups (DAG templates, as KFP compiles
conditions and loops), their arguments, loops, conditions and dependencies.

A task's texts name its DAG's inputs and its sibling tasks' outputs; ``_task_text`` turns them into what the
kubeline task reads: the value the enclosing group binds the input to, the sibling's (or, for a group, the inner
task's) output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.api.limits import MAX_GROUP_DEPTH, MAX_VALUE_NESTING, deeper_than
from kubeline.api.names import to_dns_label, unique_label
from kubeline.engine import conditions
from kubeline.engine.templates import TemplateError, substitute, whole_expression
from kubeline.importers.kfp_v1.components import check_template_fields, component
from kubeline.importers.kfp_v1.context import UNNAMED, Context
from kubeline.importers.kfp_v1.variables import (
    INPUT,
    ITEM,
    TASK_OUTPUT,
    is_workflow_variable,
    placeholder,
    referenced_tasks,
    workflow_value,
)
from kubeline.importers.kfp_v1.volume_op import add_volume, is_volume_op, volume_output

_TASK_FIELDS = {"name", "template", "arguments", "dependencies", "depends", "when", "withItems", "withParam"}
_TASK_ORDER = (
    "name",
    "component",
    "arguments",
    "after",
    "when",
    "forEach",
    "itemName",
    "parallelism",
    "caching",
    "retries",
    "timeout",
    "resources",
    "nodeSelector",
    "tolerations",
    "affinity",
    "dag",
)


@dataclass
class _Sibling:
    """A task of the DAG being translated, as other tasks of that DAG see it."""

    name: str  # kubeline task name
    template: dict[str, Any]


@dataclass
class _Scope:
    """Where a task's texts are translated: its DAG's tasks and what the DAG's inputs are bound to."""

    template: str
    siblings: dict[str, _Sibling]
    bindings: dict[str, str] = field(default_factory=dict)
    loops: tuple[str, ...] = ()  # the item names of the named loops around the DAG


def entry_tasks(context: Context, template: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's tasks: the entrypoint DAG, its inputs bound to the params of the same names."""
    bindings = {name: placeholder(f"params.{name}") for name in context.params}
    path = f"templates[{template['name']}]"
    if "dag" in template:
        return _dag(context, template, bindings)
    if "container" in template:  # a one-step workflow
        sibling = _Sibling(to_dns_label(template["name"], fallback=UNNAMED), template)
        scope = _Scope(template["name"], {template["name"]: sibling}, bindings)
        return [_step(context, {"name": template["name"], "template": template["name"]}, scope, template, path)]
    context.error(path, "the entrypoint must be a DAG or container template")
    return []


def _may_expand(context: Context, template: str, path: str) -> bool:
    """False, with an error, when the DAG template is already being expanded (it calls itself, as KFP's
    graph_component makes it) or nested deeper than any pipeline kubeline runs."""
    if template in context.expanding:
        circle = " -> ".join(context.expanding[context.expanding.index(template) :] + [template])
        context.error(
            path,
            f"recursive DAG templates ({circle}): a template calls itself, which a kubeline "
            "pipeline cannot express; unroll the recursion into a fixed number of steps or loops",
        )
        return False
    if len(context.expanding) >= MAX_GROUP_DEPTH:
        context.error(path, f"DAG templates nested more than {MAX_GROUP_DEPTH} deep: flatten the pipeline")
        return False
    return True


def _dag(
    context: Context, template: dict[str, Any], bindings: dict[str, str], loops: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The tasks of a DAG template whose inputs are bound to ``bindings``, inside the named loops ``loops``."""
    context.expanding.append(template["name"])
    try:
        path = f"templates[{template['name']}]"
        check_template_fields(context, template, path)
        dag = template.get("dag") or {}
        for key in sorted(set(dag) - {"tasks"}):
            context.warn(f"{path}.dag.{key}", "not supported, dropped")
        tasks = [t for t in dag.get("tasks") or [] if isinstance(t, dict) and t.get("name")]
        if not tasks:
            context.error(f"{path}.dag.tasks", "a DAG needs at least one task")
            return []
        scope = _Scope(template["name"], _siblings(context, tasks), bindings, loops)
        volumes_first = sorted(tasks, key=lambda t: not is_volume_op(_template_of(context, t) or {}))
        translated = {t["name"]: _task(context, t, scope) for t in volumes_first}  # outputs of VolumeOps are read
        return [task for task in (translated[t["name"]] for t in tasks) if task is not None]
    finally:
        context.expanding.pop()


def _siblings(context: Context, tasks: list[dict[str, Any]]) -> dict[str, _Sibling]:
    """A DAG's tasks by Argo name, each with a kubeline name of its own ('a_b' and 'a-b' are numbered apart)."""
    siblings: dict[str, _Sibling] = {}
    taken: set[str] = set()
    for task in tasks:
        name = unique_label(to_dns_label(task["name"], fallback=UNNAMED), taken)
        taken.add(name)
        siblings[task["name"]] = _Sibling(name, _template_of(context, task) or {})
    return siblings


def _template_of(context: Context, task: dict[str, Any]) -> dict[str, Any] | None:
    name = task.get("template")
    return context.templates.get(name) if isinstance(name, str) else None


def _task(context: Context, task: dict[str, Any], scope: _Scope) -> dict[str, Any] | None:
    path = f"templates[{scope.template}].dag.tasks[{task['name']}]"
    for key in sorted(set(task) - _TASK_FIELDS):
        if key in ("templateRef", "inline", "withSequence"):
            context.error(f"{path}.{key}", "not supported")
            return None
        context.warn(f"{path}.{key}", "not supported, dropped")
    template = _template_of(context, task)
    if template is None:
        context.error(f"{path}.template", f"names no template: {task.get('template')!r}")
        return None
    if "container" in template:
        return _step(context, task, scope, template, path)
    if "dag" in template:
        if not _may_expand(context, template["name"], f"{path}.template"):
            return None
        return _group(context, task, scope, template, path)
    if is_volume_op(template):
        _volume_op(context, task, scope, template, path)
        return None
    kind = next((k for k in ("script", "steps", "suspend", "http", "data") if k in template), "unknown")
    context.error(
        f"templates[{template['name']}].{kind}",
        f"{kind} templates are not supported (task {task['name']!r} runs it); kubeline steps run containers",
    )
    return None


def _step(context: Context, task: dict[str, Any], scope: _Scope, template: dict[str, Any], path: str) -> dict[str, Any]:
    """A task running a container template."""
    made = component(context, template)
    result, given = _common(context, task, scope, path)
    result["component"] = made.name
    arguments: dict[str, Any] = {}
    for spec in made.inputs:
        name = spec["name"]
        if name in made.workflow_inputs:
            arguments[name] = workflow_value(made.workflow_inputs[name], on_exit=False)
        elif name in given:
            arguments[name] = given[name]
    for name in sorted(set(given) - {i["name"] for i in made.inputs}):
        context.warn(f"{path}.arguments.{name}", f"template {template['name']!r} has no input {name!r}: dropped")
    if arguments:
        result["arguments"] = arguments
    _after(context, task, scope, result, path)
    result.update(made.settings)
    return _ordered(result)


def _volume_op(context: Context, task: dict[str, Any], scope: _Scope, template: dict[str, Any], path: str) -> None:
    """A task making a volume (KFP's VolumeOp): a pipeline volume, made before any step, whatever the task's
    condition or loop."""
    for key in ("when", "withItems", "withParam"):
        if key in task:
            context.warn(f"{path}.{key}", "a VolumeOp's volume is made once per run, before any step: dropped")
    add_volume(context, template, _arguments(context, task, scope, path), path)


def _group(
    context: Context, task: dict[str, Any], scope: _Scope, template: dict[str, Any], path: str
) -> dict[str, Any]:
    """A task running a DAG template: a group of the template's tasks, its inputs bound to the task's arguments."""
    result, given = _common(context, task, scope, path)
    loops = scope.loops
    if "forEach" in result and _has_inner_loop(context, template, set()):
        result["itemName"] = _item_name(result["name"], loops)
        loops = (*loops, result["itemName"])
        given = {name: _named_item(value, result["itemName"]) for name, value in given.items()}
    bindings = {}
    inputs = template.get("inputs") or {}
    for spec in (inputs.get("parameters") or []) + (inputs.get("artifacts") or []):
        name = spec.get("name")
        if name in given:
            bindings[name] = given[name]
        elif "value" in spec or "default" in spec:
            bindings[name] = str(spec.get("value", spec.get("default")))
        else:
            context.error(f"{path}.arguments", f"template {template['name']!r} needs input {name!r}")
    tasks = _dag(context, template, bindings, loops)
    _after(context, task, scope, result, path)
    parallelism = template.get("parallelism")
    if isinstance(parallelism, int) and parallelism > 0:
        if "forEach" in result:
            result["parallelism"] = parallelism
        else:
            context.warn(
                f"templates[{template['name']}].parallelism", "kubeline limits parallelism of loops only: dropped"
            )
    if tasks:
        result["dag"] = {"tasks": tasks}
    return _ordered(result)


def _has_inner_loop(context: Context, template: dict[str, Any], seen: set[str]) -> bool:
    """Whether a task of the DAG template, or of the DAGs it runs, loops: its body then names the outer item."""
    seen.add(template["name"])
    for task in (template.get("dag") or {}).get("tasks") or []:
        if "withItems" in task or "withParam" in task:
            return True
        inner = _template_of(context, task)
        if inner and "dag" in inner and inner["name"] not in seen and _has_inner_loop(context, inner, seen):
            return True
    return False


def _item_name(task_name: str, taken: tuple[str, ...]) -> str:
    """A name for a loop's item ({{items.NAME}}), after its task, unique among the loops around it."""
    base = task_name if re.match(models.IDENTIFIER, task_name) else f"loop-{task_name}"
    return unique_label(base, list(taken))


def _named_item(text: str, item_name: str) -> str:
    """``text`` with the loop's ``{{item...}}`` as ``{{items.NAME...}}``: the form loops nested inside still read."""
    return substitute(text, lambda e: placeholder(f"items.{item_name}{e[len('item') :]}") if ITEM.match(e) else None)


def _common(context: Context, task: dict[str, Any], scope: _Scope, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task fields a step and a group share (name, loop, condition) and its translated arguments."""
    result: dict[str, Any] = {"name": scope.siblings[task["name"]].name}
    arguments = _arguments(context, task, scope, path)
    if "withItems" in task:
        if isinstance(task["withItems"], list):
            result["forEach"] = _items(context, task["withItems"], f"{path}.withItems")
        else:
            context.error(f"{path}.withItems", f"must be a list of items, not {json.dumps(task['withItems'])[:100]}")
    elif "withParam" in task:
        result["forEach"] = _for_each(context, str(task["withParam"]), scope, f"{path}.withParam")
    if task.get("when"):
        result["when"] = _when(context, str(task["when"]), scope, f"{path}.when")
    return result, arguments


def _arguments(context: Context, task: dict[str, Any], scope: _Scope, path: str) -> dict[str, Any]:
    """The task's parameters and artifacts by name, translated."""
    arguments: dict[str, Any] = {}
    given = task.get("arguments") or {}
    for key in sorted(set(given) - {"parameters", "artifacts"}):
        context.warn(f"{path}.arguments.{key}", "not supported, dropped")
    for parameter in given.get("parameters") or []:
        where = f"{path}.arguments.parameters[{parameter.get('name')}]"
        if "valueFrom" in parameter:
            context.error(f"{where}.valueFrom", "not supported: pass a value")
            continue
        if parameter.get("value") is None:
            context.warn(where, "has no value: not passed (the input's default applies, if it has one)")
            continue
        arguments[parameter["name"]] = _task_text(context, str(parameter["value"]), scope, where)
    for artifact in given.get("artifacts") or []:
        where = f"{path}.arguments.artifacts[{artifact.get('name')}]"
        if "from" in artifact:
            arguments[artifact["name"]] = _task_text(context, str(artifact["from"]), scope, where)
        elif isinstance(artifact.get("raw"), dict):
            arguments[artifact["name"]] = str(artifact["raw"].get("data", ""))
        else:
            context.error(where, "only artifacts from other tasks ('from') or raw data can be passed")
    return arguments


def _after(context: Context, task: dict[str, Any], scope: _Scope, result: dict[str, Any], path: str) -> None:
    """Argo dependencies beyond those the task's data references already imply."""
    names = list(task.get("dependencies") or [])
    if task.get("depends"):
        names += _depends(context, str(task["depends"]), f"{path}.depends")
    referenced = referenced_tasks(json.dumps(result))
    after: list[str] = []
    for name in names:
        if name not in scope.siblings:
            context.error(f"{path}.dependencies", f"names no task of this DAG: {name!r}")
        elif is_volume_op(scope.siblings[name].template):
            continue  # its volume exists before any step starts
        elif scope.siblings[name].name not in referenced | set(after):
            after.append(scope.siblings[name].name)
    if after:
        result["after"] = after


def _depends(context: Context, expression: str, path: str) -> list[str]:
    """The tasks of a ``depends`` made only of ``A && B.Succeeded``: plain ordering, as kubeline has."""
    names = []
    for term in expression.split("&&"):
        match = re.fullmatch(r"\s*\(?\s*([A-Za-z0-9_.-]+?)(\.Succeeded)?\s*\)?\s*", term)
        if not match:
            context.error(path, f"only 'A && B.Succeeded' can be translated, not {expression!r}")
            return []
        names.append(match.group(1))
    return names


def _for_each(context: Context, text: str, scope: _Scope, path: str) -> Any:
    """A ``withParam`` loop: literal JSON items, or one reference to a list."""
    try:
        literal = json.loads(text)
    except (ValueError, RecursionError):
        literal = None
    if isinstance(literal, list):
        return _items(context, literal, path)
    translated = _task_text(context, text, scope, path)
    if whole_expression(translated) is None:
        context.error(path, f"must be one reference to a list, found {text!r}")
    return translated


def _items(context: Context, items: list[Any], path: str) -> list[Any]:
    """Literal loop items, refused when nested deeper than any loop reads (writing them would recurse)."""
    if deeper_than(items, MAX_VALUE_NESTING):
        context.error(path, f"items nested more than {MAX_VALUE_NESTING} deep: loop over flat values or mappings")
        return []
    return items


def _when(context: Context, text: str, scope: _Scope, path: str) -> str:
    translated = _task_text(context, text, scope, path)
    try:
        conditions.parse(translated)
    except (conditions.ConditionError, TemplateError) as error:
        context.error(path, f"cannot translate the condition {text!r}: {error}")
    return translated


def _task_text(context: Context, text: str, scope: _Scope, path: str) -> str:
    """A task-level text (argument, condition, loop) with Argo variables as kubeline placeholders."""
    return substitute(text, lambda expression: _task_variable(context, expression, scope, path))


def _task_variable(context: Context, expression: str, scope: _Scope, path: str) -> str | None:
    """What one Argo variable of a task-level text becomes; None (kept as written) with an error when nothing."""
    if ITEM.match(expression):
        return placeholder(expression)
    if m := TASK_OUTPUT.match(expression):
        return _task_output(context, m["task"], m["kind"], m["name"], scope, path)
    if m := INPUT.match(expression):
        if m["name"] not in scope.bindings:
            context.error(path, f"{placeholder(expression)}: template {scope.template!r} has no such input")
            return None
        return scope.bindings[m["name"]]
    if is_workflow_variable(expression):
        return workflow_value(expression, on_exit=False)
    context.error(path, f"{placeholder(expression)} cannot be translated")
    return None


def _task_output(context: Context, task: str, kind: str, name: str, scope: _Scope, path: str) -> str:
    """A reference to an output of a sibling task; for a group, to the inner task the group exposes."""
    sibling = scope.siblings.get(task)
    if sibling is None:
        context.error(path, f"{{{{tasks.{task}...}}}}: no task {task!r} in template {scope.template!r}")
        return ""
    template = sibling.template
    if is_volume_op(template):
        return volume_output(context, template, name, path)
    if "container" not in template:
        return _group_output(context, template, kind, name, path)
    outputs = component(context, template).outputs
    if name not in outputs:
        context.error(path, f"template {template['name']!r} has no output {name!r}")
        return ""
    return placeholder(f"tasks.{sibling.name}.outputs.{outputs[name]}")


def _group_output(context: Context, template: dict[str, Any], kind: str, name: str, path: str) -> str:
    """An output of a DAG template: the reference it is taken from, translated among the DAG's own tasks."""
    declared = {o.get("name"): o for o in (template.get("outputs") or {}).get(kind) or []}
    source = declared.get(name, {})
    reference = (source.get("valueFrom") or {}).get("parameter") if kind == "parameters" else source.get("from")
    if not reference:
        context.error(path, f"template {template.get('name')!r} has no output {kind[:-1]} {name!r} taken from a task")
        return ""
    inner = _siblings(context, [t for t in (template.get("dag") or {}).get("tasks") or [] if t.get("name")])
    where = f"templates[{template['name']}].outputs.{kind}[{name}]"
    key = (template["name"], kind, name)
    if key in context.resolving or len(context.resolving) >= MAX_GROUP_DEPTH:
        context.error(
            where, "refers to itself through the outputs of the DAGs inside it: take it from a container's output"
        )
        return ""
    context.resolving.append(key)
    try:
        return _task_text(context, str(reference), _Scope(template["name"], inner), where)
    finally:
        context.resolving.pop()


def _ordered(task: dict[str, Any]) -> dict[str, Any]:
    """Task fields in the order people read them, whatever order they were found in."""
    return {key: task[key] for key in _TASK_ORDER if key in task}
