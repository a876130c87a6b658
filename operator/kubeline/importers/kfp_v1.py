"""Argo Workflows compiled by the KFP v1 SDK -> kubeline Pipelines. Pure: a document in, a document out.

KFP v1 compiles each component into a container template and each group (the pipeline, a condition,
a loop, the exit handler's body) into a DAG template. Container templates become components; DAG
tasks become tasks, and nested DAG templates become groups, with `when`, `withItems`/`withParam` as
`when` and `forEach`. Values a DAG template receives as inputs are substituted by what its caller passes,
so `{{inputs.parameters.x}}` inside a group becomes `{{params.x}}`, `{{item}}` or a task output.
Literal file paths of outputs and artifact inputs become placeholders, so steps never share a path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubeline.api.models import API_VERSION
from kubeline.engine.errors import Issue, PipelineInvalid

_KFP_TYPES = {"Integer": "integer", "Float": "number", "Bool": "boolean", "Boolean": "boolean", "String": "string",
              "JsonArray": "list", "List": "list", "JsonObject": "object", "Dict": "object"}
_VALUE_TYPES = {None, "", "Integer", "Float", "Bool", "Boolean", "String", "JsonArray", "List", "JsonObject", "Dict"}
_INPUT_PARAM = re.compile(r"\{\{inputs\.parameters\.([^}]+)\}\}")
_TASK_PARAM = re.compile(r"\{\{tasks\.([^.}]+)\.outputs\.parameters\.([^}]+)\}\}")
_TASK_ARTIFACT = re.compile(r"\{\{tasks\.([^.}]+)\.outputs\.artifacts\.([^}]+)\}\}")
_WORKFLOW = {"{{workflow.status}}": "{{run.status}}", "{{workflow.name}}": "{{run.name}}",
             "{{workflow.namespace}}": "{{run.namespace}}", "{{workflow.uid}}": "{{run.uid}}"}
_TEMPLATE_FIELDS = {"name", "metadata", "inputs", "outputs", "container", "dag", "nodeSelector", "tolerations", "affinity",
                    "retryStrategy", "activeDeadlineSeconds", "parallelism"}
_CONTAINER_FIELDS = {"image", "command", "args", "env", "resources", "imagePullPolicy", "name"}
_WORKFLOW_FIELDS = {"entrypoint", "templates", "arguments", "serviceAccountName", "onExit", "nodeSelector", "tolerations",
                    "affinity", "imagePullSecrets", "activeDeadlineSeconds", "parallelism", "ttlStrategy",
                    "ttlSecondsAfterFinished", "podGC"}
#: The service account KFP's own installation provides; a kubeline cluster has no such account.
_KFP_SERVICE_ACCOUNT = "pipeline-runner"


@dataclass
class ImportResult:
    pipeline: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def import_workflow(document: Any, name: str | None = None, strict: bool = False) -> ImportResult:
    """The Pipeline for a KFP v1 Workflow; with ``strict``, anything not carried over is an error."""
    if not isinstance(document, dict) or document.get("kind") != "Workflow":
        kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
        raise PipelineInvalid([Issue("kind", f"expected an Argo Workflow compiled by the KFP v1 SDK, found {kind!r}")])
    importer = _Importer(document)
    pipeline = importer.pipeline(name)
    if strict and importer.warnings:
        raise PipelineInvalid([Issue("", f"not carried over (--strict): {w}") for w in importer.warnings])
    return ImportResult(pipeline, importer.warnings)


class _Importer:
    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.spec = document.get("spec") or {}
        self.templates = {t["name"]: t for t in self.spec.get("templates") or [] if isinstance(t, dict) and "name" in t}
        self.warnings: list[str] = []
        self.components: dict[str, dict[str, Any]] = {}
        self.artifact_outputs = self._outputs_consumed_as_artifacts()

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}")

    # -- the whole pipeline ---------------------------------------------------------------------------------

    def pipeline(self, name: str | None) -> dict[str, Any]:
        metadata = self.document.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        pipeline_spec = _json(annotations.get("pipelines.kubeflow.org/pipeline_spec"))
        name = name or pipeline_spec.get("name") or (metadata.get("generateName") or metadata.get("name") or "imported").rstrip("-")
        entry = self.templates.get(self.spec.get("entrypoint", ""))
        if entry is None or "dag" not in entry:
            raise PipelineInvalid([Issue("spec.entrypoint", "the entrypoint must name a DAG template (KFP v1 compiles pipelines to DAGs)")])
        for key in self.spec:
            if key not in _WORKFLOW_FIELDS:
                self.warn("workflow", f"field {key} is not supported, ignored")
        params = self._params(pipeline_spec)
        bindings = {p["name"]: f"{{{{params.{p['name']}}}}}" for p in params}
        spec: dict[str, Any] = {}
        if pipeline_spec.get("description"):
            spec["description"] = pipeline_spec["description"]
        if params:
            spec["params"] = params
        tasks = self._dag(entry, bindings)
        exit_task = self._exit(self.spec["onExit"]) if self.spec.get("onExit") else None
        spec["components"] = list(self.components.values())
        spec["tasks"] = tasks
        if exit_task:
            spec["onExit"] = exit_task
        defaults = self._defaults()
        if defaults:
            spec["defaults"] = defaults
        if self.spec.get("parallelism"):
            spec["parallelism"] = int(self.spec["parallelism"])
        if self.spec.get("activeDeadlineSeconds"):
            spec["timeout"] = f"{int(self.spec['activeDeadlineSeconds'])}s"
        ttl = (self.spec.get("ttlStrategy") or {}).get("secondsAfterCompletion", self.spec.get("ttlSecondsAfterFinished"))
        if ttl is not None:
            spec["ttlAfterFinished"] = f"{int(ttl)}s"
        return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": _dns(name)}, "spec": spec}

    def _params(self, pipeline_spec: dict[str, Any]) -> list[dict[str, Any]]:
        types = {i.get("name"): _KFP_TYPES.get(str(i.get("type")), "string") for i in pipeline_spec.get("inputs") or []}
        params = []
        for parameter in (self.spec.get("arguments") or {}).get("parameters") or []:
            document: dict[str, Any] = {"name": parameter["name"], "type": types.get(parameter["name"], "string")}
            if "value" in parameter:
                document["default"] = parameter["value"]
            params.append(document)
        return params

    def _defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        for key in ("nodeSelector", "tolerations", "affinity", "imagePullSecrets"):
            if self.spec.get(key):
                defaults[key] = self.spec[key]
        account = self.spec.get("serviceAccountName")
        if account and account != _KFP_SERVICE_ACCOUNT:
            defaults["serviceAccountName"] = account
        return defaults

    # -- DAGs and tasks -----------------------------------------------------------------------------------

    def _dag(self, template: dict[str, Any], bindings: dict[str, str]) -> list[dict[str, Any]]:
        if template.get("parallelism") and not template.get("_loop"):
            self.warn(f"template {template['name']}", "parallelism of a DAG that is not a loop body is not supported, ignored")
        return [self._task(task, bindings, template["name"]) for task in (template.get("dag") or {}).get("tasks") or []]

    def _task(self, task: dict[str, Any], bindings: dict[str, str], dag: str) -> dict[str, Any]:
        where = f"template {dag}, task {task['name']}"
        target = self.templates.get(task.get("template", ""))
        if target is None:
            raise PipelineInvalid([Issue(where, f"uses template {task.get('template')!r}, which the workflow does not define")])
        arguments = {p["name"]: self._text(str(p.get("value", "")), bindings) for p in (task.get("arguments") or {}).get("parameters") or []}
        artifacts = {a["name"]: self._artifact_ref(a, where) for a in (task.get("arguments") or {}).get("artifacts") or []}
        document: dict[str, Any] = {"name": task["name"]}
        after = list(task.get("dependencies") or [])
        if task.get("depends"):
            after += self._depends(task["depends"], where)
        for key in task:
            if key not in ("name", "template", "arguments", "dependencies", "depends", "when", "withItems", "withParam"):
                self.warn(where, f"field {key} is not supported, ignored")
        if "dag" in target:
            if "withItems" in task or "withParam" in task:
                target = {**target, "_loop": True}
                if target.get("parallelism"):
                    document["parallelism"] = int(target["parallelism"])
            inner = {name: arguments.get(name, "") for name in _input_names(target)}
            document["dag"] = {"tasks": self._dag(target, inner)}
        elif "container" in target:
            component, extra = self._component(target)
            document["component"] = component
            passed = {**arguments, **artifacts, **extra}
            if passed:
                document["arguments"] = {k: passed[k] for k in sorted(passed)}
            document.update(self._step_settings(target))
        else:
            raise PipelineInvalid([Issue(where, f"template {target['name']!r} is neither a container nor a DAG (script, resource and steps templates are not supported)")])
        if after:
            document["after"] = sorted(set(after))
        if task.get("when"):
            document["when"] = self._text(task["when"], bindings)
        if "withItems" in task:
            document["forEach"] = task["withItems"]
        elif "withParam" in task:
            document["forEach"] = self._text(task["withParam"], bindings)
        return _ordered(document)

    def _depends(self, expression: str, where: str) -> list[str]:
        names = re.findall(r"([A-Za-z0-9-]+)(?:\.(Succeeded|Failed|Skipped|Errored|Completed|Daemoned|AnySucceeded|AllFailed))?", expression)
        if "||" in expression or "!" in expression or any(state not in ("", "Succeeded") for _, state in names):
            self.warn(where, f"depends {expression!r} is read as 'after all of these tasks'")
        return [name for name, _ in names if name]

    def _artifact_ref(self, argument: dict[str, Any], where: str) -> str:
        match = _TASK_ARTIFACT.fullmatch(str(argument.get("from", "")))
        if match is None:
            raise PipelineInvalid([Issue(where, f"artifact {argument.get('name')!r} comes from {argument.get('from')!r}; only task outputs are supported")])
        return f"{{{{tasks.{match.group(1)}.outputs.{match.group(2)}}}}}"

    def _text(self, text: str, bindings: dict[str, str]) -> str:
        """A task-level text with Argo's references turned into kubeline's."""
        text = _INPUT_PARAM.sub(lambda m: bindings.get(m.group(1), m.group(0)), text)
        text = _TASK_PARAM.sub(lambda m: f"{{{{tasks.{m.group(1)}.outputs.{m.group(2)}}}}}", text)
        for argo, kubeline in _WORKFLOW.items():
            text = text.replace(argo, kubeline)
        return text

    def _exit(self, template_name: str) -> dict[str, Any]:
        template = self.templates.get(template_name)
        if template is None or "container" not in template:
            raise PipelineInvalid([Issue("spec.onExit", f"the exit handler {template_name!r} must be a container template")])
        component, extra = self._component(template)
        document: dict[str, Any] = {"name": template_name, "component": component}
        if extra:
            document["arguments"] = extra
        settings = self._step_settings(template)
        for key in ("retries", "timeout", "resources", "nodeSelector", "tolerations", "affinity"):
            if key in settings:
                document[key] = settings[key]
        return document

    # -- components ---------------------------------------------------------------------------------------

    def _component(self, template: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The component of a container template, and the arguments its workflow references need."""
        name = _dns(template["name"])
        container = template["container"]
        where = f"template {template['name']}"
        for key in container:
            if key not in _CONTAINER_FIELDS:
                self.warn(where, f"container field {key} is not supported, ignored")
        for key in template:
            if key not in _TEMPLATE_FIELDS:
                self.warn(where, f"field {key} is not supported, ignored")
        inputs = [{"name": p["name"], "type": "string"} for p in (template.get("inputs") or {}).get("parameters") or []]
        replacements = {f"{{{{inputs.parameters.{p['name']}}}}}": f"{{{{inputs.{p['name']}}}}}" for p in inputs}
        for artifact in (template.get("inputs") or {}).get("artifacts") or []:
            inputs.append({"name": artifact["name"], "type": "artifact"})
            if artifact.get("path"):
                replacements[artifact["path"]] = f"{{{{inputs.{artifact['name']}.path}}}}"
        outputs, paths = [], {}
        for parameter in (template.get("outputs") or {}).get("parameters") or []:
            path = (parameter.get("valueFrom") or {}).get("path")
            if path:
                kind = "artifact" if (template["name"], parameter["name"]) in self.artifact_outputs else "string"
                outputs.append({"name": parameter["name"], "type": kind})
                paths[path] = parameter["name"]
        for artifact in (template.get("outputs") or {}).get("artifacts") or []:
            if artifact.get("path") in paths or artifact["name"] in {o["name"] for o in outputs}:
                continue
            value = (template["name"], artifact["name"]) not in self.artifact_outputs and self._value_type(template, artifact["name"])
            outputs.append({"name": artifact["name"], "type": "string" if value else "artifact"})
            paths[artifact["path"]] = artifact["name"]
        replacements.update({path: f"{{{{outputs.{output}.path}}}}" for path, output in paths.items()})
        extra: dict[str, str] = {}
        for argo, kubeline in _WORKFLOW.items():
            uses = any(argo in str(part) for part in [*(container.get("command") or []), *(container.get("args") or [])])
            if uses:
                input_name = "workflow_" + argo.strip("{}").split(".")[1]
                inputs.append({"name": input_name, "type": "string"})
                replacements[argo] = f"{{{{inputs.{input_name}}}}}"
                extra[input_name] = kubeline
        converted: dict[str, Any] = {"image": container["image"]}
        for key in ("command", "args"):
            if container.get(key):
                converted[key] = [self._replace(str(part), replacements, where) for part in container[key]]
        env = [{"name": e["name"], "value": self._replace(str(e.get("value", "")), replacements, where)}
               for e in container.get("env") or [] if "valueFrom" not in e]
        if len(env) != len(container.get("env") or []):
            self.warn(where, "env entries with valueFrom are not supported, ignored")
        if env:
            converted["env"] = env
        document: dict[str, Any] = {"name": name}
        if inputs:
            document["inputs"] = inputs
        if outputs:
            document["outputs"] = outputs
        document["container"] = converted
        self.components[name] = document
        return name, extra

    def _replace(self, text: str, replacements: dict[str, str], where: str) -> str:
        for old in sorted(replacements, key=len, reverse=True):
            text = text.replace(old, replacements[old])
        for leftover in re.findall(r"\{\{(?!inputs\.|outputs\.)[^}]*\}\}", text):
            self.warn(where, f"{leftover} has no kubeline equivalent in a container, left as is")
        return text

    def _value_type(self, template: dict[str, Any], output: str) -> bool:
        """Whether an output nobody reads as a file is a small value (a number, text, JSON), by its KFP type."""
        spec = _json(((template.get("metadata") or {}).get("annotations") or {}).get("pipelines.kubeflow.org/component_spec"))
        short = output[len(template["name"]) + 1:] if output.startswith(template["name"] + "-") else output
        declared = {o.get("name"): o.get("type") for o in spec.get("outputs") or []}
        kind = declared.get(short)
        return (kind if isinstance(kind, str) or kind is None else "complex") in _VALUE_TYPES

    def _step_settings(self, template: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        resources = (template.get("container") or {}).get("resources")
        if resources:
            settings["resources"] = {k: {n: str(v) for n, v in values.items()} for k, values in resources.items() if values}
        for key in ("nodeSelector", "tolerations", "affinity"):
            if template.get(key):
                settings[key] = template[key]
        retry = template.get("retryStrategy")
        if retry:
            retries: dict[str, Any] = {"limit": int(retry.get("limit", 0))}
            backoff = retry.get("backoff") or {}
            if backoff:
                retries["backoff"] = {k: (float(v) if k == "factor" else _duration(v)) for k, v in backoff.items()
                                      if k in ("duration", "factor", "maxDuration")}
            settings["retries"] = retries
        if template.get("activeDeadlineSeconds"):
            settings["timeout"] = f"{int(template['activeDeadlineSeconds'])}s"
        metadata = template.get("metadata") or {}
        labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
        caching: dict[str, Any] = {}
        if str(labels.get("pipelines.kubeflow.org/enable_caching", "true")).lower() == "false":
            caching["enabled"] = False
        staleness = annotations.get("pipelines.kubeflow.org/max_cache_staleness")
        if staleness:
            caching["maxStaleness"] = staleness
        if caching:
            settings["caching"] = caching
        return settings

    def _outputs_consumed_as_artifacts(self) -> set[tuple[str, str]]:
        """(template, output) pairs some task takes as a file: these stay artifacts."""
        task_templates: dict[str, str] = {}
        consumed: set[tuple[str, str]] = set()
        for template in self.templates.values():
            for task in (template.get("dag") or {}).get("tasks") or []:
                task_templates[task["name"]] = task.get("template", "")
        for template in self.templates.values():
            for task in (template.get("dag") or {}).get("tasks") or []:
                for artifact in (task.get("arguments") or {}).get("artifacts") or []:
                    match = _TASK_ARTIFACT.fullmatch(str(artifact.get("from", "")))
                    if match:
                        consumed.add((task_templates.get(match.group(1), ""), match.group(2)))
        return consumed


def _input_names(template: dict[str, Any]) -> list[str]:
    return [p["name"] for p in (template.get("inputs") or {}).get("parameters") or []]


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _duration(value: Any) -> str:
    text = str(value)
    return f"{text}s" if text.isdigit() else text


def _dns(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63] or "imported"


def _ordered(task: dict[str, Any]) -> dict[str, Any]:
    order = ["name", "component", "dag", "arguments", "after", "when", "forEach", "parallelism", "caching", "retries",
             "timeout", "resources", "nodeSelector", "tolerations", "affinity"]
    return {key: task[key] for key in order if key in task}
