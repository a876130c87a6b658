"""Container templates as kubeline components: inputs, outputs, the container and its texts.

Each template becomes one component, made the first time a task runs it. Literal file paths in the container's
texts become the placeholders of the inputs and outputs they stand for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.api.names import to_dns_label, unique_label
from kubeline.engine.templates import substitute, whole_expression
from kubeline.engine.values import kfp_value_type
from kubeline.importers.kfp_v1 import pod, shapes
from kubeline.importers.kfp_v1.context import UNNAMED, Context
from kubeline.importers.kfp_v1.settings import template_settings
from kubeline.importers.kfp_v1.variables import (
    INPUT,
    INPUT_PATH,
    OUTPUT_PATH,
    TASK_OUTPUT,
    is_workflow_variable,
    placeholder,
    replace_path,
)

_TEMPLATE_FIELDS = {
    "name",
    "container",
    "dag",
    "inputs",
    "outputs",
    "metadata",
    "nodeSelector",
    "affinity",
    "tolerations",
    "activeDeadlineSeconds",
    "retryStrategy",
    "parallelism",
    "volumes",
    "sidecars",
    "initContainers",
}
_CONTAINER_FIELDS = {
    "image",
    "command",
    "args",
    "env",
    "envFrom",
    "resources",
    "workingDir",
    "imagePullPolicy",
    "securityContext",
    "volumeMounts",
}
#: The outputs the KFP UI reads (by the names KFP gives them), as kubeline's output types of the same meaning.
_KFP_UI_OUTPUTS = {"mlpipeline-metrics": "metrics", "mlpipeline-ui-metadata": "ui-metadata"}


@dataclass
class Component:
    """What a task needs from the component made of its container template, and the component itself."""

    name: str
    outputs: dict[str, str]  # Argo output (parameter or artifact) name -> kubeline output name
    inputs: list[dict[str, Any]]
    workflow_inputs: dict[str, str]  # synthetic input -> Argo workflow variable it stands for
    settings: dict[str, Any]  # scheduling, retries, timeout, caching for the tasks running it
    document: dict[str, Any]


def outputs_read_as_files(templates: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """(template, output artifact) pairs some task takes as an input artifact: these stay files."""
    pairs: set[tuple[str, str]] = set()
    for template in templates.values():
        tasks = [t for t in (template.get("dag") or {}).get("tasks") or [] if isinstance(t, dict)]
        task_templates = {t.get("name"): t.get("template") for t in tasks}
        for task in tasks:
            for artifact in (task.get("arguments") or {}).get("artifacts") or []:
                expression = whole_expression(str(artifact.get("from", "")))
                reference = TASK_OUTPUT.match(expression) if expression is not None else None
                producer = task_templates.get(reference["task"]) if reference else None
                if reference and producer is not None:
                    pairs.add((producer, reference["name"]))
    return pairs


def check_template_fields(context: Context, template: dict[str, Any], path: str) -> None:
    for key in sorted(set(template) - _TEMPLATE_FIELDS):
        context.warn(f"{path}.{key}", "not supported, dropped")


def component(context: Context, template: dict[str, Any]) -> Component:
    """The component of a container template, made once and shared by every task running the template."""
    if template["name"] in context.components:
        return context.components[template["name"]]
    path = f"templates[{template['name']}]"
    check_template_fields(context, template, path)
    spec = context.kfp_spec(template.get("metadata"), "component_spec", shapes.COMPONENT_SPEC, path)
    container = template["container"] if isinstance(template.get("container"), dict) else {}
    for key in sorted(set(container) - _CONTAINER_FIELDS):
        context.warn(f"{path}.container.{key}", "not supported, dropped")
    name = unique_label(to_dns_label(template["name"], fallback=UNNAMED), {c.name for c in context.components.values()})
    inputs, paths = _inputs(context, template, path)
    outputs, output_documents = _outputs(context, template, spec, path, paths)
    parameters = {p["name"] for p in (template.get("inputs") or {}).get("parameters") or []}
    texts = _ContainerTexts(context, parameters, paths, outputs)
    rendered = _container(context, container, texts, f"{path}.container")
    document = _document(name, spec.get("description"), output_documents, rendered)
    document.update(_pod(context, template, texts, path))
    inputs += [{"name": n} for n in texts.workflow_inputs]  # found while translating the container and pod
    if inputs:
        document["inputs"] = inputs
    _check_paths_used(context, document, paths, path)
    settings = template_settings(context, template, container, path)
    made = Component(name, outputs, inputs, texts.workflow_inputs, settings, document)
    context.components[template["name"]] = made
    return made


def _document(name: str, description: Any, outputs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {"name": name}
    if description:
        document["description"] = description
    if outputs:
        document["outputs"] = outputs
    document["container"] = container
    return document


def _inputs(context: Context, template: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Component inputs; input artifact paths -> their placeholders."""
    inputs: list[dict[str, Any]] = []
    paths: dict[str, str] = {}
    declared = template.get("inputs") or {}
    for parameter in declared.get("parameters") or []:
        item: dict[str, Any] = {"name": parameter["name"]}
        default = parameter.get("value", parameter.get("default"))
        if default is not None:
            item["default"] = str(default)
        for key in sorted(set(parameter) - {"name", "value", "default", "description"}):
            context.warn(f"{path}.inputs.parameters[{parameter['name']}].{key}", "not supported, dropped")
        inputs.append(item)
    for artifact in declared.get("artifacts") or []:
        where = f"{path}.inputs.artifacts[{artifact.get('name')}]"
        item = {"name": artifact["name"], "type": "artifact"}
        if isinstance(artifact.get("raw"), dict):
            item["default"] = str(artifact["raw"].get("data", ""))
        for key in sorted(set(artifact) - {"name", "path", "raw", "optional"}):
            context.warn(f"{where}.{key}", "artifact sources other than tasks and raw data are not supported: dropped")
        if artifact.get("optional"):
            item["optional"] = True
        if artifact.get("path"):
            paths[artifact["path"]] = placeholder(f"inputs.{artifact['name']}.path")
        else:
            context.error(f"{where}.path", "required")
        inputs.append(item)
    return inputs, paths


@dataclass
class _OutputFile:
    """The Argo outputs (parameters and artifacts) read from one file: one kubeline output."""

    argo: list[str] = field(default_factory=list)
    parameter: bool = False  # Argo passes it as a parameter


def _outputs(
    context: Context, template: dict[str, Any], spec: dict[str, Any], path: str, paths: dict[str, str]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Outputs by Argo name -> kubeline name, their documents; output paths are added to ``paths``.

    An Argo output parameter and artifact with the same file are one output, named after the first of them
    (without KFP's template-name prefix when that leaves a free identifier).
    """
    spec_types = {_normal(o.get("name", "")): o.get("type") for o in spec.get("outputs") or [] if isinstance(o, dict)}
    names: dict[str, str] = {}
    documents = []
    prefix = template["name"] + "-"
    for file, entry in _output_files(context, template.get("outputs") or {}, path).items():
        first = entry.argo[0]
        short = first[len(prefix) :] if first.startswith(prefix) else first
        name = short if re.match(models.IDENTIFIER, short) and short not in names.values() else first
        for argo_name in entry.argo:
            names[argo_name] = name
        read_as_file = any((template["name"], n) in context.read_as_files for n in entry.argo)
        type_ = _KFP_UI_OUTPUTS.get(first) or _output_type(
            spec_types.get(_normal(short)), entry.parameter, read_as_file, raw=not first.startswith(prefix)
        )
        documents.append({"name": name} if type_ == "string" else {"name": name, "type": type_})
        paths[file] = placeholder(f"outputs.{name}.path")
    return names, documents


def _output_files(context: Context, declared: dict[str, Any], path: str) -> dict[str, _OutputFile]:
    """The template's outputs by the file they are read from; those without a file are dropped."""
    by_file: dict[str, _OutputFile] = {}
    for parameter in declared.get("parameters") or []:
        where = f"{path}.outputs.parameters[{parameter.get('name')}]"
        value_from = parameter.get("valueFrom") or {}
        for key in sorted(set(value_from) - {"path"}) + sorted(set(parameter) - {"name", "valueFrom", "description"}):
            context.warn(f"{where}.{key}", "not supported, dropped")
        if not value_from.get("path"):
            context.warn(where, "only outputs read from a file (valueFrom.path) are supported: dropped")
            continue
        entry = by_file.setdefault(value_from["path"], _OutputFile(parameter=True))
        entry.argo.append(parameter["name"])
    for artifact in declared.get("artifacts") or []:
        where = f"{path}.outputs.artifacts[{artifact.get('name')}]"
        for key in sorted(set(artifact) - {"name", "path", "optional"}):
            context.warn(f"{where}.{key}", "not supported: dropped (kubeline keeps artifacts on the run's volume)")
        if not artifact.get("path"):
            context.error(f"{where}.path", "required")
            continue
        by_file.setdefault(artifact["path"], _OutputFile()).argo.append(artifact["name"])
    return by_file


def _output_type(kfp_type: Any, parameter: bool, file: bool, raw: bool) -> str:
    """A value (passed in the termination message) when Argo passes it as a parameter; else an artifact when a
    task reads it as a file (``file``), when it is one of a ContainerOp's ``output_artifact_paths`` (``raw``: KFP
    names those without the template-name prefix; often a folder) or when its KFP type is a file type (Model,
    CSV…); else a value, as KFP passes return values and ContainerOp file outputs."""
    if parameter or not (file or raw):
        return kfp_value_type(kfp_type) or ("string" if kfp_type is None or parameter else "artifact")
    return "artifact"


def _normal(name: str) -> str:
    """An output name as KFP's component spec and its workflow both spell it ('Output path' ~ 'output-path')."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class _ContainerTexts:
    """Translates a container's command, args and env values: Argo variables and literal file paths become
    placeholders; workflow variables become inputs of their own, found as they are met."""

    context: Context
    parameters: set[str]  # the template's input parameters
    paths: dict[str, str]  # file -> its placeholder
    outputs: dict[str, str]  # Argo output name -> kubeline output name
    workflow_inputs: dict[str, str] = field(default_factory=dict)  # synthetic input -> Argo workflow variable

    def translate(self, text: str, path: str) -> str:
        text = substitute(str(text), lambda expression: self._variable(expression, path))
        for file in sorted(self.paths, key=len, reverse=True):
            text = replace_path(text, file, self.paths[file])
        return text

    def _variable(self, expression: str, path: str) -> str | None:
        if (m := INPUT.match(expression)) and m["kind"] == "parameters" and m["name"] in self.parameters:
            return placeholder(f"inputs.{m['name']}")
        if m := INPUT_PATH.match(expression):
            return placeholder(f"inputs.{m['name']}.path")
        if m := OUTPUT_PATH.match(expression):
            return placeholder(f"outputs.{self.outputs.get(m['name'], m['name'])}.path")
        if expression == "pod.name":  # the name of the step's pod, which the backend knows
            return placeholder(expression)
        if is_workflow_variable(expression):
            name = to_dns_label(expression.replace(".", "-"), fallback=UNNAMED)
            self.workflow_inputs[name] = expression
            return placeholder(f"inputs.{name}")
        self.context.error(path, f"{placeholder(expression)} cannot be translated")
        return None


def _container(context: Context, container: dict[str, Any], texts: _ContainerTexts, path: str) -> dict[str, Any]:
    """The component's container: the image, its texts translated, the working directory."""
    rendered: dict[str, Any] = {"image": container.get("image") or ""}
    if not rendered["image"]:
        context.error(f"{path}.image", "required")
    for key in ("command", "args"):
        if container.get(key):
            rendered[key] = [texts.translate(part, f"{path}.{key}[{i}]") for i, part in enumerate(container[key])]
    variables = pod.env(context, container.get("env") or [], texts.translate, path)
    if variables:
        rendered["env"] = variables
    if container.get("envFrom"):
        rendered["envFrom"] = pod.env_from(context, container["envFrom"], path)
    if container.get("volumeMounts"):
        rendered["volumeMounts"] = pod.volume_mounts(context, container["volumeMounts"], path)
    rendered.update(pod.container_settings(context, container, path))
    if container.get("workingDir"):
        rendered["workingDir"] = container["workingDir"]
    return rendered


def _pod(context: Context, template: dict[str, Any], texts: _ContainerTexts, path: str) -> dict[str, Any]:
    """The component's volumes, sidecars, init containers and pod metadata."""
    result: dict[str, Any] = {}
    declared = (template.get("volumes") or []) + pod.mounted_workflow_volumes(context, template)
    volumes = pod.volumes(context, declared, texts.translate, path)
    if volumes:
        result["volumes"] = volumes
    for key, field_name in (("sidecars", "sidecars"), ("initContainers", "initContainers")):
        if template.get(key):
            main_mounts = (template.get("container") or {}).get("volumeMounts") or []
            result[field_name] = pod.side_containers(
                context, template[key], main_mounts, texts.translate, f"{path}.{key}"
            )
    metadata = pod.pod_metadata(context, template.get("metadata") or {}, path)
    if metadata:
        result["podMetadata"] = metadata
    return result


def _check_paths_used(context: Context, component: dict[str, Any], paths: dict[str, str], path: str) -> None:
    """Warn about files the component's containers never name: the step cannot be told where to write or read them."""
    texts = json.dumps(component)
    for file, file_placeholder in paths.items():
        if file_placeholder not in texts:
            context.warn(
                f"{path}.container",
                f"the file {file} does not appear in the command or args; the step must "
                f"use {file_placeholder} instead, or the run will not find it",
            )
