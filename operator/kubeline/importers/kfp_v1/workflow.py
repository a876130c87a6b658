"""The workflow as a whole: its kind and shape, its arguments as params, its own fields (entrypoint, exit handler,
parallelism, timeout, TTL) and the Pipeline's name and metadata."""

from __future__ import annotations

import re
from typing import Any

from kubeline.api import models
from kubeline.api.constants import (
    API_VERSION,
    DESCRIPTION_ANNOTATION,
    DISPLAY_NAME_ANNOTATION,
    IMPORTED_FROM_ANNOTATION,
)
from kubeline.api.names import to_dns_label
from kubeline.api.problems import Issue
from kubeline.engine.templates import substitute
from kubeline.engine.values import coerce, kfp_value_type
from kubeline.importers.kfp_v1 import shapes
from kubeline.importers.kfp_v1.components import component, outputs_read_as_files
from kubeline.importers.kfp_v1.context import KFP_PREFIX, UNNAMED, Context
from kubeline.importers.kfp_v1.dag import entry_tasks
from kubeline.importers.kfp_v1.settings import defaults, seconds
from kubeline.importers.kfp_v1.variables import placeholder, workflow_value

_WORKFLOW_FIELDS = {
    "entrypoint",
    "templates",
    "arguments",
    "onExit",
    "serviceAccountName",
    "nodeSelector",
    "affinity",
    "tolerations",
    "imagePullSecrets",
    "parallelism",
    "activeDeadlineSeconds",
    "ttlStrategy",
    "ttlSecondsAfterFinished",
    "volumes",  # given to the components whose containers mount them
}
#: The workflow fields a param's default may hold, which a Run knows when it binds its arguments.
_RUN_FIELDS = ("workflow.name", "workflow.namespace", "workflow.uid")
#: The settings of its component an exit handler carries over.
_EXIT_TASK_SETTINGS = ("retries", "timeout", "resources", "nodeSelector", "tolerations", "affinity")


def translate(document: Any, name: str | None) -> tuple[dict[str, Any], Context]:
    """The Pipeline (empty when there are errors) and the context holding the problems found."""
    given = document if isinstance(document, dict) else {}
    kind = given.get("kind")
    if kind != "Workflow" or not str(given.get("apiVersion", "")).startswith("argoproj.io/"):
        found = repr(kind[:100]) if isinstance(kind, str) else "a document without a kind"
        context = Context(spec={}, templates={})
        context.error(
            "kind",
            f"expected an Argo Workflow compiled by the KFP v1 SDK, found {found} "
            "(a workflow has kind: Workflow and apiVersion: argoproj.io/v1alpha1)",
        )
        return {}, context
    problems = shapes.problems(given, shapes.WORKFLOW) or _repeated_names(given["spec"])
    if problems:  # translate only a workflow of the shape the translation reads
        return {}, Context(spec={}, templates={}, errors=problems)
    spec = given["spec"]
    templates = {t["name"]: t for t in spec.get("templates") or [] if isinstance(t, dict) and "name" in t}
    context = Context(spec=spec, templates=templates, read_as_files=outputs_read_as_files(templates))
    return _pipeline(context, given.get("metadata") or {}, name), context


def _pipeline(context: Context, metadata: dict[str, Any], name: str | None) -> dict[str, Any]:
    pipeline_spec = context.kfp_spec(metadata, "pipeline_spec", shapes.PIPELINE_SPEC, "")
    for kind in ("labels", "annotations"):
        for key in sorted(metadata.get(kind) or {}):
            if not key.startswith(KFP_PREFIX):
                context.warn(f"metadata.{kind}.{key}", "not carried over to the Pipeline")
    _params(context, pipeline_spec)
    for key in sorted(set(context.spec) - _WORKFLOW_FIELDS):
        context.warn(f"spec.{key}", "not supported, dropped")
    entrypoint = context.spec.get("entrypoint")
    if entrypoint not in context.templates:
        context.error("spec.entrypoint", f"names no template: {entrypoint!r}")
        return {}
    spec = _spec(context, pipeline_spec, entry_tasks(context, context.templates[entrypoint]))
    pipeline_name = to_dns_label(
        name
        or metadata.get("name")
        or str(metadata.get("generateName") or "").rstrip("-")
        or pipeline_spec.get("name")
        or entrypoint,
        fallback=UNNAMED,
    )
    result_metadata: dict[str, Any] = {"name": pipeline_name}
    annotations = _annotations(pipeline_spec, pipeline_name, (metadata.get("annotations") or {}))
    if annotations:
        result_metadata["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": result_metadata, "spec": spec}


def _annotations(pipeline_spec: dict[str, Any], name: str, given: dict[str, Any]) -> dict[str, str]:
    """The pipeline's name as KFP shows it and its description, as the SDK's compiler keeps them, and the
    KFP version that compiled it."""
    annotations = {}
    display = pipeline_spec.get("name")
    if isinstance(display, str) and display and display != name:
        annotations[DISPLAY_NAME_ANNOTATION] = display
    description = pipeline_spec.get("description")
    if isinstance(description, str) and description:
        annotations[DESCRIPTION_ANNOTATION] = description
    version = given.get(KFP_PREFIX + "kfp_sdk_version")
    if version:
        annotations[IMPORTED_FROM_ANNOTATION] = f"kfp {version}"
    return annotations


def _spec(context: Context, pipeline_spec: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The Pipeline's spec around its tasks: description, params, components, exit handler, workflow fields."""
    workflow = context.spec
    spec: dict[str, Any] = {}
    if pipeline_spec.get("description"):
        spec["description"] = pipeline_spec["description"]
    if context.params:
        spec["params"] = list(context.params.values())
    exit_task = _exit_task(context)
    spec["components"] = [c.document for c in context.components.values()]
    spec["tasks"] = tasks
    if context.pipeline_volumes:
        spec["volumes"] = context.pipeline_volumes
    if exit_task:
        spec["onExit"] = exit_task
    task_defaults = defaults(context)
    if task_defaults:
        spec["defaults"] = task_defaults
    if isinstance(workflow.get("parallelism"), int) and workflow["parallelism"] > 0:
        spec["parallelism"] = workflow["parallelism"]
    if "activeDeadlineSeconds" in workflow:
        spec["timeout"] = seconds(context, workflow["activeDeadlineSeconds"], "spec.activeDeadlineSeconds")
    ttl = (workflow.get("ttlStrategy") or {}).get("secondsAfterCompletion", workflow.get("ttlSecondsAfterFinished"))
    if ttl is not None:
        spec["ttlAfterFinished"] = seconds(context, ttl, "spec.ttlStrategy")
    for key in sorted(set(workflow.get("ttlStrategy") or {}) - {"secondsAfterCompletion"}):
        context.warn(f"spec.ttlStrategy.{key}", "not supported: dropped (kubeline keeps one TTL after a run finishes)")
    return spec


def _params(context: Context, pipeline_spec: dict[str, Any]) -> None:
    """Workflow arguments become params; KFP's pipeline spec annotation gives their types."""
    declared = {i.get("name"): i for i in pipeline_spec.get("inputs") or [] if isinstance(i, dict)}
    for index, parameter in enumerate((context.spec.get("arguments") or {}).get("parameters") or []):
        name = parameter.get("name")
        path = f"spec.arguments.parameters[{name or index}]"
        if not isinstance(name, str) or not re.match(models.IDENTIFIER, name):
            context.error(path, f"parameter name {name!r} cannot be used as {{{{params.NAME}}}}")
            continue
        for key in sorted(set(parameter) - {"name", "value", "default", "description"}):
            context.warn(f"{path}.{key}", "not supported, dropped")
        value = parameter.get("value", parameter.get("default"))
        if isinstance(value, str):
            value = _run_fields(context, value, f"{path}.value")
        context.params[name] = _param(name, value, parameter, declared.get(name, {}))


def _run_fields(context: Context, text: str, path: str) -> str:
    """A param's default with the run's name, namespace and id (KFP's RUN_ID_PLACEHOLDER is ``{{workflow.uid}}``)
    as the ``{{run.*}}`` placeholders a Run resolves when it binds its arguments."""

    def field(expression: str) -> str | None:
        if expression in _RUN_FIELDS:
            return workflow_value(expression, on_exit=False)
        context.error(
            path, f"{placeholder(expression)} cannot be translated: a default may use the run's name, namespace and uid"
        )
        return None

    return substitute(text, field)


def _param(name: str, value: Any, parameter: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """A param of the type KFP declared, defaulting to the argument's ``value`` (as text when not of that type)."""
    param: dict[str, Any] = {"name": name}
    type_ = kfp_value_type(declared.get("type")) or "string"
    if value is not None:
        try:
            value = coerce(value, type_)
        except ValueError:
            type_, value = "string", str(value)
    if type_ != "string":
        param["type"] = type_
    if value is not None:
        param["default"] = value
    description = declared.get("description") or parameter.get("description")
    if description:
        param["description"] = description
    return param


def _exit_task(context: Context) -> dict[str, Any] | None:
    """Argo's onExit template as the exit handler; its inputs can only come from the workflow's params."""
    name = context.spec.get("onExit")
    if not name:
        return None
    template = context.templates.get(name)
    if template is None or "container" not in template:
        context.error("spec.onExit", f"must name a container template, not {name!r}")
        return None
    made = component(context, template)
    arguments: dict[str, Any] = {}
    for spec in made.inputs:
        if spec["name"] in made.workflow_inputs:
            arguments[spec["name"]] = workflow_value(made.workflow_inputs[spec["name"]], on_exit=True)
        elif spec["name"] in context.params and "default" not in spec:
            arguments[spec["name"]] = placeholder(f"params.{spec['name']}")
    task: dict[str, Any] = {"name": to_dns_label(name, fallback=UNNAMED), "component": made.name}
    if arguments:
        task["arguments"] = arguments
    for key in _EXIT_TASK_SETTINGS:
        if key in made.settings:
            task[key] = made.settings[key]
    return task


def _repeated_names(spec: dict[str, Any]) -> list[Issue]:
    """Argo refuses a workflow naming two templates, two tasks of a DAG or two parameters alike; reading one
    of them would silently drop the other."""
    lists = [
        ("spec.templates", spec.get("templates")),
        ("spec.arguments.parameters", (spec.get("arguments") or {}).get("parameters")),
    ]
    for template in spec.get("templates") or []:
        where = f"templates[{template.get('name')}]"
        lists.append((f"{where}.dag.tasks", (template.get("dag") or {}).get("tasks")))
        for side in ("inputs", "outputs"):
            for kind in ("parameters", "artifacts"):
                lists.append((f"{where}.{side}.{kind}", (template.get(side) or {}).get(kind)))
    issues = []
    for path, items in lists:
        names = [item.get("name") for item in items or [] if isinstance(item, dict)]
        for name in sorted({n for n in names if names.count(n) > 1}, key=str):
            issues.append(
                Issue(
                    f"{path}[{name}]",
                    f"the name {name!r} is used {names.count(name)} times: "
                    "give each its own name (Argo refuses this workflow too)",
                )
            )
    return issues
