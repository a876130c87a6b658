"""Argo Workflows compiled by the KFP v1 SDK, translated into kubeline Pipelines.

Only the subset the KFP v1 compiler emits is translated: container templates become components, DAG
templates become groups (conditions and loops), Argo's ``{{...}}`` variables become kubeline
placeholders. Two kinds of problems are reported, each naming the template and field:

- warnings: a field kubeline does not carry over (volumes, sidecars, pod labels…); the rest of the
  pipeline still means what the workflow meant, so the field is dropped (``strict`` makes it an error);
- errors: something the pipeline depends on cannot be expressed (a resource template, an unknown
  variable); no pipeline is produced.

Argo passes every value as text, so component inputs are strings; output and parameter types come from
the component and pipeline specs KFP stores in annotations. Literal file paths in commands (KFP's
``/tmp/outputs/x/data``) become ``{{outputs.x.path}}`` so that steps running side by side never share a
file. The whole module is pure: documents in, documents out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.api.constants import API_VERSION, IMPORTED_FROM_ANNOTATION
from kubeline.api.durations import parse_duration
from kubeline.api.limits import MAX_GROUP_DEPTH, MAX_VALUE_NESTING, deeper_than
from kubeline.api.names import to_dns_label, unique_label
from kubeline.engine import conditions
from kubeline.engine.errors import Issue, PipelineInvalid
from kubeline.engine.plan import build, load_spec
from kubeline.engine.templates import TemplateError
from kubeline.engine.values import coerce, kfp_value_type
from kubeline.importers import shapes

_ARGO_VAR = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*?"
_TASK_OUTPUT = re.compile(rf"^tasks\.(?P<task>{_NAME})\.outputs\.(?P<kind>parameters|artifacts)\.(?P<name>{_NAME})$")
_INPUT = re.compile(rf"^inputs\.(?P<kind>parameters|artifacts)\.(?P<name>{_NAME})$")
_INPUT_PATH = re.compile(rf"^inputs\.artifacts\.(?P<name>{_NAME})\.path$")
_OUTPUT_PATH = re.compile(rf"^outputs\.(?:parameters|artifacts)\.(?P<name>{_NAME})\.path$")
_WORKFLOW_PARAM = re.compile(rf"^workflow\.parameters\.(?P<name>{_NAME})$")
_WORKFLOW_FIELD = re.compile(r"^workflow\.(?P<name>status|name|namespace|uid)$")
_ITEM = re.compile(r"^item(\.[A-Za-z0-9_-]+)*$")

KFP_PREFIX = "pipelines.kubeflow.org/"
#: The service account KFP names in every workflow; it exists only where KFP is installed.
KFP_SERVICE_ACCOUNT = "pipeline-runner"
#: Outputs the KFP UI reads as files.
_KFP_FILE_OUTPUTS = {"mlpipeline-ui-metadata", "mlpipeline-metrics"}

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
}
_CONTAINER_FIELDS = {"image", "command", "args", "env", "resources", "workingDir", "imagePullPolicy"}
_TASK_FIELDS = {"name", "template", "arguments", "dependencies", "depends", "when", "withItems", "withParam"}
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
}


@dataclass
class ImportResult:
    pipeline: dict[str, Any]
    warnings: list[str]


def import_workflow(document: dict[str, Any], name: str | None = None, strict: bool = False) -> ImportResult:
    """The Pipeline for a KFP v1 compiled Workflow; PipelineInvalid lists what cannot be translated."""
    translator = _Translator(document)
    pipeline = translator.pipeline(name) if not translator.errors else {}
    problems = translator.errors + (translator.warnings if strict else [])
    if problems:
        raise PipelineInvalid(problems)
    try:
        build(load_spec(pipeline["spec"]))
    except PipelineInvalid as invalid:  # a translation kubeline rejects: say it came from the import
        raise PipelineInvalid(
            [Issue(i.path, f"{i.message} (in the imported pipeline)") for i in invalid.issues]
        ) from None
    return ImportResult(pipeline, [str(w) for w in translator.warnings])


# --- pieces shared by the translator --------------------------------------------------------------


def dns_label(text: str) -> str:
    """A Kubernetes name from an Argo one (KFP's are already valid; hand-written ones may not be)."""
    return to_dns_label(text, fallback="x")


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _json_annotation(metadata: Any, key: str) -> Any:
    """The JSON KFP stores in an annotation, or None when absent or not JSON."""
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = (annotations or {}).get(key)
    try:
        return json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None


def _seconds(value: Any) -> str | None:
    try:
        return f"{int(value)}s"
    except (TypeError, ValueError):
        return None


def _duration(value: Any) -> str | None:
    """An Argo duration (``10s``, ``1m``, or seconds as a number) in kubeline's grammar."""
    text = f"{value}s" if isinstance(value, (int, float)) or str(value).isdigit() else str(value)
    try:
        parse_duration(text)
    except ValueError:
        return None
    return text


def replace_path(text: str, path: str, placeholder: str) -> str:
    """``text`` with each whole occurrence of the file ``path`` (also as a directory prefix) replaced."""
    return re.sub(rf"(?<![\w./-]){re.escape(path)}(?![\w.-])", lambda _: placeholder, text)


@dataclass
class _Component:
    """What a task needs from the component made of its container template."""

    name: str
    outputs: dict[str, str]  # Argo output (parameter or artifact) name -> kubeline output name
    inputs: list[dict[str, Any]]
    workflow_inputs: dict[str, str]  # synthetic input -> Argo workflow variable it stands for
    settings: dict[str, Any]  # scheduling, retries, timeout, caching for the tasks running it


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


class _Translator:
    def __init__(self, document: Any):
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        given = document if isinstance(document, dict) else {}
        kind = given.get("kind")
        self.found = repr(kind[:100]) if isinstance(kind, str) else "a document without a kind"
        self.is_workflow = kind == "Workflow" and str(given.get("apiVersion", "")).startswith("argoproj.io/")
        if self.is_workflow:
            self.errors = shapes.problems(given, shapes.WORKFLOW) or _repeated_names(given["spec"])
        # translate only a workflow of the shape the translator reads; pipeline() reports anything else
        self.document = given if self.is_workflow and not self.errors else {}
        #: the DAG templates being translated, outermost first: a template met again is a recursion
        self.expanding: list[str] = []
        #: group outputs being resolved (template, kind, name): one met again refers to itself
        self.resolving: list[tuple[str, str, str]] = []
        spec = self.document.get("spec")
        self.spec: dict[str, Any] = spec if isinstance(spec, dict) else {}
        self.templates: dict[str, dict[str, Any]] = {
            t["name"]: t for t in self.spec.get("templates") or [] if isinstance(t, dict) and "name" in t
        }
        self.components: dict[str, _Component] = {}  # by template name
        self.component_documents: dict[str, dict[str, Any]] = {}  # by template name
        self.params: dict[str, dict[str, Any]] = {}
        self.pull_policies: set[str] = set()
        self.read_as_files = self._read_as_files()

    def _read_as_files(self) -> set[tuple[str, str]]:
        """(template, output artifact) pairs some task takes as an input artifact: these stay files."""
        pairs = set()
        for template in self.templates.values():
            tasks = [t for t in (template.get("dag") or {}).get("tasks") or [] if isinstance(t, dict)]
            templates = {t.get("name"): t.get("template") for t in tasks}
            for task in tasks:
                for artifact in (task.get("arguments") or {}).get("artifacts") or []:
                    match = _ARGO_VAR.fullmatch(str(artifact.get("from", "")).strip())
                    reference = _TASK_OUTPUT.match(match.group(1)) if match else None
                    if reference:
                        pairs.add((templates.get(reference["task"]), reference["name"]))
        return pairs

    def error(self, path: str, message: str) -> None:
        self.errors.append(Issue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Issue(path, message))

    # -- the workflow ------------------------------------------------------------------------------

    def _kfp_spec(self, metadata: Any, key: str, shape: shapes.Mapping, path: str) -> dict[str, Any]:
        """A spec KFP keeps in an annotation (types, descriptions); one of the wrong shape is ignored, with a warning."""
        value = _json_annotation(metadata, KFP_PREFIX + key)
        if value is None:
            return {}
        issues = shapes.problems(value, shape, f"{path}.metadata.annotations.{KFP_PREFIX}{key}")
        for issue in issues:
            self.warn(issue.path, f"{issue.message}: the annotation is ignored")
        return value if isinstance(value, dict) and not issues else {}

    def pipeline(self, name: str | None) -> dict[str, Any]:
        if not self.is_workflow:
            self.error(
                "kind",
                f"expected an Argo Workflow compiled by the KFP v1 SDK, found {self.found} "
                "(a workflow has kind: Workflow and apiVersion: argoproj.io/v1alpha1)",
            )
            return {}
        metadata = self.document.get("metadata") or {}
        pipeline_spec = self._kfp_spec(metadata, "pipeline_spec", shapes.PIPELINE_SPEC, "")
        self._metadata(metadata)
        self._params(pipeline_spec)
        for key in sorted(set(self.spec) - _WORKFLOW_FIELDS):
            self.warn(f"spec.{key}", "not supported, dropped")
        entrypoint = self.spec.get("entrypoint")
        if entrypoint not in self.templates:
            self.error("spec.entrypoint", f"names no template: {entrypoint!r}")
            return {}
        tasks = self._entry_tasks(self.templates[entrypoint])
        spec: dict[str, Any] = {}
        if pipeline_spec.get("description"):
            spec["description"] = pipeline_spec["description"]
        if self.params:
            spec["params"] = list(self.params.values())
        exit_task = self._exit_task()
        spec["components"] = list(self.component_documents.values())
        spec["tasks"] = tasks
        if exit_task:
            spec["onExit"] = exit_task
        defaults = self._defaults()
        if defaults:
            spec["defaults"] = defaults
        if isinstance(self.spec.get("parallelism"), int) and self.spec["parallelism"] > 0:
            spec["parallelism"] = self.spec["parallelism"]
        if "activeDeadlineSeconds" in self.spec:
            spec["timeout"] = self._required(_seconds(self.spec["activeDeadlineSeconds"]), "spec.activeDeadlineSeconds")
        ttl = (self.spec.get("ttlStrategy") or {}).get(
            "secondsAfterCompletion", self.spec.get("ttlSecondsAfterFinished")
        )
        if ttl is not None:
            spec["ttlAfterFinished"] = self._required(_seconds(ttl), "spec.ttlStrategy")
        for key in sorted(set(self.spec.get("ttlStrategy") or {}) - {"secondsAfterCompletion"}):
            self.warn(f"spec.ttlStrategy.{key}", "not supported: dropped (kubeline keeps one TTL after a run finishes)")
        pipeline_name = dns_label(
            name
            or metadata.get("name")
            or str(metadata.get("generateName") or "").rstrip("-")
            or pipeline_spec.get("name")
            or entrypoint
        )
        result_metadata: dict[str, Any] = {"name": pipeline_name}
        version = (metadata.get("annotations") or {}).get(KFP_PREFIX + "kfp_sdk_version")
        if version:
            result_metadata["annotations"] = {IMPORTED_FROM_ANNOTATION: f"kfp {version}"}
        return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": result_metadata, "spec": spec}

    def _required(self, value: str | None, path: str) -> str:
        if value is None:
            self.error(path, "not a number of seconds")
        return value or "0s"

    def _metadata(self, metadata: dict[str, Any]) -> None:
        for kind in ("labels", "annotations"):
            for key in sorted(metadata.get(kind) or {}):
                if not key.startswith(KFP_PREFIX):
                    self.warn(f"metadata.{kind}.{key}", "not carried over to the Pipeline")

    def _params(self, pipeline_spec: dict[str, Any]) -> None:
        """Workflow arguments become params; KFP's pipeline spec annotation gives their types."""
        declared = {i.get("name"): i for i in pipeline_spec.get("inputs") or [] if isinstance(i, dict)}
        for index, parameter in enumerate((self.spec.get("arguments") or {}).get("parameters") or []):
            name = parameter.get("name")
            path = f"spec.arguments.parameters[{name or index}]"
            if not isinstance(name, str) or not re.match(models.IDENTIFIER, name):
                self.error(path, f"parameter name {name!r} cannot be used as {{{{params.NAME}}}}")
                continue
            for key in sorted(set(parameter) - {"name", "value", "default", "description"}):
                self.warn(f"{path}.{key}", "not supported, dropped")
            spec = declared.get(name, {})
            param: dict[str, Any] = {"name": name}
            type_ = kfp_value_type(spec.get("type")) or "string"
            value = parameter.get("value", parameter.get("default"))
            if value is not None:
                try:
                    value = coerce(value, type_)
                except ValueError:
                    type_, value = "string", str(value)
            if type_ != "string":
                param["type"] = type_
            if value is not None:
                param["default"] = value
            description = spec.get("description") or parameter.get("description")
            if description:
                param["description"] = description
            self.params[name] = param

    def _defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        self._scheduling(self.spec, "spec", defaults)
        secrets = [s for s in self.spec.get("imagePullSecrets") or [] if isinstance(s, dict) and s.get("name")]
        if secrets:
            defaults["imagePullSecrets"] = [{"name": s["name"]} for s in secrets]
        if len(self.pull_policies) == 1:
            defaults["imagePullPolicy"] = next(iter(self.pull_policies))
        elif self.pull_policies:
            self.warn(
                "templates[*].container.imagePullPolicy",
                f"templates use different pull policies ({', '.join(sorted(self.pull_policies))}); dropped",
            )
        account = self.spec.get("serviceAccountName")
        if account and account != KFP_SERVICE_ACCOUNT:
            defaults["serviceAccountName"] = account
        return defaults

    def _scheduling(self, source: dict[str, Any], path: str, target: dict[str, Any]) -> None:
        if source.get("nodeSelector"):
            target["nodeSelector"] = {str(k): str(v) for k, v in source["nodeSelector"].items()}
        if source.get("tolerations"):
            target["tolerations"] = [
                self._toleration(t, f"{path}.tolerations[{i}]") for i, t in enumerate(source["tolerations"])
            ]
        if source.get("affinity"):
            target["affinity"] = source["affinity"]

    def _toleration(self, toleration: dict[str, Any], path: str) -> dict[str, Any]:
        known = ("effect", "key", "operator", "tolerationSeconds", "value")
        for key in sorted(set(toleration) - set(known)):
            self.warn(f"{path}.{key}", "not supported, dropped")
        return {k: toleration[k] for k in known if k in toleration}

    # -- DAGs and tasks ----------------------------------------------------------------------------

    def _entry_tasks(self, template: dict[str, Any]) -> list[dict[str, Any]]:
        """The pipeline's tasks: the entrypoint DAG, its inputs bound to the params of the same names."""
        bindings = {name: f"{{{{params.{name}}}}}" for name in self.params}
        if "dag" in template:
            return self._dag(template, bindings)
        if "container" in template:  # a one-step workflow
            scope = _Scope(
                template["name"], {template["name"]: _Sibling(dns_label(template["name"]), template)}, bindings
            )
            return [
                self._step(
                    {"name": template["name"], "template": template["name"]},
                    scope,
                    template,
                    f"templates[{template['name']}]",
                )
            ]
        self.error(f"templates[{template['name']}]", "the entrypoint must be a DAG or container template")
        return []

    def _may_expand(self, template: str, path: str) -> bool:
        """False, with an error, when the DAG template is already being expanded (it calls itself, as KFP's
        graph_component makes it) or nested deeper than any pipeline kubeline runs."""
        if template in self.expanding:
            circle = " -> ".join(self.expanding[self.expanding.index(template) :] + [template])
            self.error(
                path,
                f"recursive DAG templates ({circle}): a template calls itself, which a kubeline "
                "pipeline cannot express; unroll the recursion into a fixed number of steps or loops",
            )
            return False
        if len(self.expanding) >= MAX_GROUP_DEPTH:
            self.error(path, f"DAG templates nested more than {MAX_GROUP_DEPTH} deep: flatten the pipeline")
            return False
        return True

    def _dag(self, template: dict[str, Any], bindings: dict[str, str]) -> list[dict[str, Any]]:
        self.expanding.append(template["name"])
        try:
            return self._dag_tasks(template, bindings)
        finally:
            self.expanding.pop()

    def _dag_tasks(self, template: dict[str, Any], bindings: dict[str, str]) -> list[dict[str, Any]]:
        path = f"templates[{template['name']}]"
        self._check_fields(template, path)
        dag = template.get("dag") or {}
        for key in sorted(set(dag) - {"tasks"}):
            self.warn(f"{path}.dag.{key}", "not supported, dropped")
        tasks = [t for t in dag.get("tasks") or [] if isinstance(t, dict) and t.get("name")]
        if not tasks:
            self.error(f"{path}.dag.tasks", "a DAG needs at least one task")
            return []
        siblings = self._siblings(tasks)
        scope = _Scope(template["name"], siblings, bindings)
        return [task for task in (self._task(t, scope) for t in tasks) if task is not None]

    def _siblings(self, tasks: list[dict[str, Any]]) -> dict[str, _Sibling]:
        """A DAG's tasks by Argo name, each with a kubeline name of its own ('a_b' and 'a-b' are numbered apart)."""
        siblings: dict[str, _Sibling] = {}
        taken: set[str] = set()
        for task in tasks:
            name = unique_label(dns_label(task["name"]), taken)
            taken.add(name)
            siblings[task["name"]] = _Sibling(name, self.templates.get(task.get("template"), {}))
        return siblings

    def _task(self, task: dict[str, Any], scope: _Scope) -> dict[str, Any] | None:
        path = f"templates[{scope.template}].dag.tasks[{task['name']}]"
        for key in sorted(set(task) - _TASK_FIELDS):
            if key in ("templateRef", "inline", "withSequence"):
                self.error(f"{path}.{key}", "not supported")
                return None
            self.warn(f"{path}.{key}", "not supported, dropped")
        template = self.templates.get(task.get("template"))
        if template is None:
            self.error(f"{path}.template", f"names no template: {task.get('template')!r}")
            return None
        if "container" in template:
            return self._step(task, scope, template, path)
        if "dag" in template:
            if not self._may_expand(template["name"], f"{path}.template"):
                return None
            return self._group(task, scope, template, path)
        kind = next((k for k in ("resource", "script", "steps", "suspend", "http", "data") if k in template), "unknown")
        self.error(
            f"templates[{template['name']}].{kind}",
            f"{kind} templates are not supported (task {task['name']!r} runs it); kubeline steps run containers",
        )
        return None

    def _common(self, task: dict[str, Any], scope: _Scope, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The task fields a step and a group share (name, loop, condition) and its translated arguments."""
        result: dict[str, Any] = {"name": scope.siblings[task["name"]].name}
        looped = "withItems" in task or "withParam" in task
        arguments: dict[str, Any] = {}
        given = task.get("arguments") or {}
        for key in sorted(set(given) - {"parameters", "artifacts"}):
            self.warn(f"{path}.arguments.{key}", "not supported, dropped")
        for parameter in given.get("parameters") or []:
            where = f"{path}.arguments.parameters[{parameter.get('name')}]"
            if "valueFrom" in parameter:
                self.error(f"{where}.valueFrom", "not supported: pass a value")
                continue
            arguments[parameter["name"]] = self._text(str(parameter.get("value", "")), scope, where, looped)
        for artifact in given.get("artifacts") or []:
            where = f"{path}.arguments.artifacts[{artifact.get('name')}]"
            if "from" in artifact:
                arguments[artifact["name"]] = self._text(str(artifact["from"]), scope, where, looped)
            elif isinstance(artifact.get("raw"), dict):
                arguments[artifact["name"]] = str(artifact["raw"].get("data", ""))
            else:
                self.error(where, "only artifacts from other tasks ('from') or raw data can be passed")
        if "withItems" in task:
            items = task["withItems"]
            result["forEach"] = self._items(items if isinstance(items, list) else [items], f"{path}.withItems")
        elif "withParam" in task:
            result["forEach"] = self._for_each(str(task["withParam"]), scope, f"{path}.withParam")
        if task.get("when"):
            result["when"] = self._when(str(task["when"]), scope, f"{path}.when")
        return result, arguments

    def _step(self, task: dict[str, Any], scope: _Scope, template: dict[str, Any], path: str) -> dict[str, Any]:
        component = self._component(template)
        result, given = self._common(task, scope, path)
        result["component"] = component.name
        arguments: dict[str, Any] = {}
        for spec in component.inputs:
            name = spec["name"]
            if name in component.workflow_inputs:
                arguments[name] = _workflow_value(component.workflow_inputs[name], on_exit=False)
            elif name in given:
                arguments[name] = given[name]
        for name in sorted(set(given) - {i["name"] for i in component.inputs}):
            self.warn(f"{path}.arguments.{name}", f"template {template['name']!r} has no input {name!r}: dropped")
        if arguments:
            result["arguments"] = arguments
        self._after(task, scope, result, path)
        result.update(component.settings)
        return _ordered(result)

    def _group(self, task: dict[str, Any], scope: _Scope, template: dict[str, Any], path: str) -> dict[str, Any]:
        result, given = self._common(task, scope, path)
        bindings = {}
        inputs = template.get("inputs") or {}
        for spec in (inputs.get("parameters") or []) + (inputs.get("artifacts") or []):
            name = spec.get("name")
            if name in given:
                bindings[name] = given[name]
            elif "value" in spec or "default" in spec:
                bindings[name] = str(spec.get("value", spec.get("default")))
            else:
                self.error(f"{path}.arguments", f"template {template['name']!r} needs input {name!r}")
        tasks = self._dag(template, bindings)
        self._after(task, scope, result, path)
        parallelism = template.get("parallelism")
        if isinstance(parallelism, int) and parallelism > 0:
            if "forEach" in result:
                result["parallelism"] = parallelism
            else:
                self.warn(
                    f"templates[{template['name']}].parallelism", "kubeline limits parallelism of loops only: dropped"
                )
        if tasks:
            result["dag"] = {"tasks": tasks}
        return _ordered(result)

    def _after(self, task: dict[str, Any], scope: _Scope, result: dict[str, Any], path: str) -> None:
        """Argo dependencies beyond those the task's data references already imply."""
        names = list(task.get("dependencies") or [])
        if task.get("depends"):
            names += self._depends(str(task["depends"]), f"{path}.depends")
        referenced = set(re.findall(r"\{\{tasks\.([a-z0-9-]+)\.outputs\.", json.dumps(result)))
        after = []
        for name in names:
            if name not in scope.siblings:
                self.error(f"{path}.dependencies", f"names no task of this DAG: {name!r}")
            elif scope.siblings[name].name not in referenced | set(after):
                after.append(scope.siblings[name].name)
        if after:
            result["after"] = after

    def _depends(self, expression: str, path: str) -> list[str]:
        """The tasks of a ``depends`` made only of ``A && B.Succeeded``: plain ordering, as kubeline has."""
        names = []
        for term in expression.split("&&"):
            match = re.fullmatch(r"\s*\(?\s*([A-Za-z0-9_.-]+?)(\.Succeeded)?\s*\)?\s*", term)
            if not match:
                self.error(path, f"only 'A && B.Succeeded' can be translated, not {expression!r}")
                return []
            names.append(match.group(1))
        return names

    def _for_each(self, text: str, scope: _Scope, path: str) -> Any:
        try:
            literal = json.loads(text)
        except (ValueError, RecursionError):
            literal = None
        if isinstance(literal, list):
            return self._items(literal, path)
        translated = self._text(text, scope, path, looped=True)
        if not _ARGO_VAR.fullmatch(translated.strip()):
            self.error(path, f"must be one reference to a list, found {text!r}")
        return translated

    def _items(self, items: list[Any], path: str) -> list[Any]:
        """Literal loop items, refused when nested deeper than any loop reads (writing them would recurse)."""
        if deeper_than(items, MAX_VALUE_NESTING):
            self.error(path, f"items nested more than {MAX_VALUE_NESTING} deep: loop over flat values or mappings")
            return []
        return items

    def _when(self, text: str, scope: _Scope, path: str) -> str:
        translated = self._text(text, scope, path, looped=False)
        try:
            conditions.parse(translated)
        except (conditions.ConditionError, TemplateError) as error:
            self.error(path, f"cannot translate the condition {text!r}: {error}")
        return translated

    def _text(self, text: str, scope: _Scope, path: str, looped: bool) -> str:
        """A task-level text (argument, condition, loop) with Argo variables as kubeline placeholders."""

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if _ITEM.match(expression):
                return f"{{{{{expression}}}}}"
            if m := _TASK_OUTPUT.match(expression):
                return self._task_output(m["task"], m["kind"], m["name"], scope, path)
            if m := _INPUT.match(expression):
                if m["name"] not in scope.bindings:
                    self.error(path, f"{{{{{expression}}}}}: template {scope.template!r} has no such input")
                    return match.group(0)
                value = scope.bindings[m["name"]]
                if looped and "{{item" in value:
                    self.error(
                        path,
                        "a loop inside a loop uses the outer loop's item: kubeline's {{item}} is the innermost one",
                    )
                return value
            if m := _WORKFLOW_PARAM.match(expression):
                return f"{{{{params.{m['name']}}}}}"
            if m := _WORKFLOW_FIELD.match(expression):
                return _workflow_value(expression, on_exit=False)
            self.error(path, f"{{{{{expression}}}}} cannot be translated")
            return match.group(0)

        return _ARGO_VAR.sub(replace, text)

    def _task_output(self, task: str, kind: str, name: str, scope: _Scope, path: str) -> str:
        """A reference to an output of a sibling task; for a group, to the inner task the group exposes."""
        sibling = scope.siblings.get(task)
        if sibling is None:
            self.error(path, f"{{{{tasks.{task}...}}}}: no task {task!r} in template {scope.template!r}")
            return ""
        template = sibling.template
        if "container" in template:
            outputs = self._component(template).outputs
            if name not in outputs:
                self.error(path, f"template {template['name']!r} has no output {name!r}")
                return ""
            return f"{{{{tasks.{sibling.name}.outputs.{outputs[name]}}}}}"
        declared = {o.get("name"): o for o in (template.get("outputs") or {}).get(kind) or []}
        source = declared.get(name, {})
        reference = (source.get("valueFrom") or {}).get("parameter") if kind == "parameters" else source.get("from")
        if not reference:
            self.error(path, f"template {template.get('name')!r} has no output {kind[:-1]} {name!r} taken from a task")
            return ""
        inner = self._siblings([t for t in (template.get("dag") or {}).get("tasks") or [] if t.get("name")])
        inner_scope = _Scope(template["name"], inner)
        where = f"templates[{template['name']}].outputs.{kind}[{name}]"
        key = (template["name"], kind, name)
        if key in self.resolving or len(self.resolving) >= MAX_GROUP_DEPTH:
            self.error(
                where, "refers to itself through the outputs of the DAGs inside it: take it from a container's output"
            )
            return ""
        self.resolving.append(key)
        try:
            return self._text(str(reference), inner_scope, where, False)
        finally:
            self.resolving.pop()

    # -- components --------------------------------------------------------------------------------

    def _component(self, template: dict[str, Any]) -> _Component:
        if template["name"] in self.components:
            return self.components[template["name"]]
        path = f"templates[{template['name']}]"
        self._check_fields(template, path)
        spec = self._kfp_spec(template.get("metadata"), "component_spec", shapes.COMPONENT_SPEC, path)
        container = template["container"] if isinstance(template.get("container"), dict) else {}
        for key in sorted(set(container) - _CONTAINER_FIELDS):
            self.warn(f"{path}.container.{key}", "not supported, dropped")
        if container.get("imagePullPolicy"):
            self.pull_policies.add(container["imagePullPolicy"])
        name = unique_label(dns_label(template["name"]), {c.name for c in self.components.values()})

        inputs, paths = self._inputs(template, path)
        outputs, output_documents = self._outputs(template, spec, container, path, paths)
        workflow_inputs: dict[str, str] = {}

        def translate(text: str, where: str) -> str:
            return self._container_text(
                str(text), template, f"{path}.container.{where}", paths, outputs, workflow_inputs
            )

        rendered: dict[str, Any] = {"image": container.get("image") or ""}
        if not rendered["image"]:
            self.error(f"{path}.container.image", "required")
        for key in ("command", "args"):
            if container.get(key):
                rendered[key] = [translate(part, f"{key}[{i}]") for i, part in enumerate(container[key])]
        env = []
        for variable in container.get("env") or []:
            if "valueFrom" in variable:
                self.warn(
                    f"{path}.container.env[{variable.get('name')}].valueFrom",
                    "values from secrets, config maps or fields are not supported, dropped",
                )
                continue
            env.append(
                {"name": variable["name"], "value": translate(variable.get("value", ""), f"env[{variable['name']}]")}
            )
        if env:
            rendered["env"] = env
        if container.get("workingDir"):
            rendered["workingDir"] = container["workingDir"]
        inputs += [{"name": n} for n in workflow_inputs]  # found while translating the container
        document: dict[str, Any] = {"name": name}
        if spec.get("description"):
            document["description"] = spec["description"]
        if inputs:
            document["inputs"] = inputs
        if output_documents:
            document["outputs"] = output_documents
        document["container"] = rendered
        self._check_paths_used(template, rendered, paths, path)
        component = _Component(name, outputs, inputs, workflow_inputs, self._settings(template, container, path))
        self.components[template["name"]] = component
        self.component_documents[template["name"]] = document
        return component

    def _inputs(self, template: dict[str, Any], path: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
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
                self.warn(f"{path}.inputs.parameters[{parameter['name']}].{key}", "not supported, dropped")
            inputs.append(item)
        for artifact in declared.get("artifacts") or []:
            where = f"{path}.inputs.artifacts[{artifact.get('name')}]"
            item = {"name": artifact["name"], "type": "artifact"}
            if isinstance(artifact.get("raw"), dict):
                item["default"] = str(artifact["raw"].get("data", ""))
            for key in sorted(set(artifact) - {"name", "path", "raw", "optional"}):
                self.warn(f"{where}.{key}", "artifact sources other than tasks and raw data are not supported: dropped")
            if artifact.get("optional"):
                item["optional"] = True
            if artifact.get("path"):
                paths[artifact["path"]] = f"{{{{inputs.{artifact['name']}.path}}}}"
            else:
                self.error(f"{where}.path", "required")
            inputs.append(item)
        return inputs, paths

    def _outputs(
        self,
        template: dict[str, Any],
        spec: dict[str, Any],
        container: dict[str, Any],
        path: str,
        paths: dict[str, str],
    ) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """Outputs by Argo name -> kubeline name, their documents; output paths are added to ``paths``.

        An Argo output parameter and artifact with the same file are one output. It is a value (passed in
        the termination message) when Argo passes it as a parameter; else an artifact when a task reads it
        as a file or its KFP type is a file type (Model, CSV…); else a value, as KFP passes return values
        and ContainerOp file outputs.
        """
        declared = template.get("outputs") or {}
        spec_types = {
            _normal(o.get("name", "")): o.get("type") for o in spec.get("outputs") or [] if isinstance(o, dict)
        }
        by_file: dict[str, dict[str, Any]] = {}
        names: dict[str, str] = {}
        for parameter in declared.get("parameters") or []:
            where = f"{path}.outputs.parameters[{parameter.get('name')}]"
            value_from = parameter.get("valueFrom") or {}
            for key in sorted(set(value_from) - {"path"}) + sorted(
                set(parameter) - {"name", "valueFrom", "description"}
            ):
                self.warn(f"{where}.{key}", "not supported, dropped")
            if not value_from.get("path"):
                self.warn(where, "only outputs read from a file (valueFrom.path) are supported: dropped")
                continue
            entry = by_file.setdefault(value_from["path"], {"argo": [], "parameter": True})
            entry["argo"].append(parameter["name"])
        for artifact in declared.get("artifacts") or []:
            where = f"{path}.outputs.artifacts[{artifact.get('name')}]"
            for key in sorted(set(artifact) - {"name", "path", "optional"}):
                self.warn(f"{where}.{key}", "not supported: dropped (kubeline keeps artifacts on the run's volume)")
            if not artifact.get("path"):
                self.error(f"{where}.path", "required")
                continue
            entry = by_file.setdefault(artifact["path"], {"argo": [], "parameter": False})
            entry["argo"].append(artifact["name"])
        documents = []
        prefix = template["name"] + "-"
        for file, entry in by_file.items():
            first = entry["argo"][0]
            short = first[len(prefix) :] if first.startswith(prefix) else first
            name = short if re.match(models.IDENTIFIER, short) and short not in names.values() else first
            for argo_name in entry["argo"]:
                names[argo_name] = name
            document: dict[str, Any] = {"name": name}
            kfp_type = spec_types.get(_normal(short))
            read_as_file = any((template["name"], n) in self.read_as_files for n in entry["argo"])
            if entry["parameter"] or not (read_as_file or name in _KFP_FILE_OUTPUTS):
                type_ = kfp_value_type(kfp_type) or ("string" if kfp_type is None or entry["parameter"] else "artifact")
            else:
                type_ = "artifact"
            if type_ != "string":
                document["type"] = type_
            documents.append(document)
            paths[file] = f"{{{{outputs.{name}.path}}}}"
        return names, documents

    def _container_text(
        self,
        text: str,
        template: dict[str, Any],
        path: str,
        paths: dict[str, str],
        outputs: dict[str, str],
        workflow_inputs: dict[str, str],
    ) -> str:
        """A command, argument or env value with Argo variables and literal file paths as placeholders."""
        inputs = template.get("inputs") or {}
        parameter_names = {p["name"] for p in inputs.get("parameters") or []}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if (m := _INPUT.match(expression)) and m["kind"] == "parameters" and m["name"] in parameter_names:
                return f"{{{{inputs.{m['name']}}}}}"
            if m := _INPUT_PATH.match(expression):
                return f"{{{{inputs.{m['name']}.path}}}}"
            if m := _OUTPUT_PATH.match(expression):
                return f"{{{{outputs.{outputs.get(m['name'], m['name'])}.path}}}}"
            if _WORKFLOW_FIELD.match(expression) or _WORKFLOW_PARAM.match(expression):
                name = dns_label(expression.replace(".", "-"))
                workflow_inputs[name] = expression
                return f"{{{{inputs.{name}}}}}"
            self.error(path, f"{{{{{expression}}}}} cannot be translated")
            return match.group(0)

        text = _ARGO_VAR.sub(replace, text)
        for file in sorted(paths, key=len, reverse=True):
            text = replace_path(text, file, paths[file])
        return text

    def _check_paths_used(
        self, template: dict[str, Any], container: dict[str, Any], paths: dict[str, str], path: str
    ) -> None:
        """Warn about files the container never names: the step cannot be told where to write or read them."""
        texts = json.dumps(container)
        for file, placeholder in paths.items():
            if placeholder not in texts:
                self.warn(
                    f"{path}.container",
                    f"the file {file} does not appear in the command or args; the step must "
                    f"use {placeholder} instead, or the run will not find it",
                )

    def _settings(self, template: dict[str, Any], container: dict[str, Any], path: str) -> dict[str, Any]:
        """Scheduling, retries, timeout and caching of the tasks that run this template."""
        settings: dict[str, Any] = {}
        resources = container.get("resources") or {}
        for key in sorted(set(resources) - {"requests", "limits"}):
            self.warn(f"{path}.container.resources.{key}", "not supported, dropped")
        kept = {k: {n: str(q) for n, q in resources[k].items()} for k in ("limits", "requests") if resources.get(k)}
        if kept:
            settings["resources"] = kept
        self._scheduling(template, path, settings)
        retry = template.get("retryStrategy")
        if isinstance(retry, dict):
            settings["retries"] = self._retries(retry, f"{path}.retryStrategy")
        if "activeDeadlineSeconds" in template:
            settings["timeout"] = self._required(
                _seconds(template["activeDeadlineSeconds"]), f"{path}.activeDeadlineSeconds"
            )
        metadata = template.get("metadata") or {}
        labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
        caching: dict[str, Any] = {}
        if str(labels.get(KFP_PREFIX + "enable_caching", "true")).lower() == "false":
            caching["enabled"] = False
        staleness = annotations.get(KFP_PREFIX + "max_cache_staleness")
        if staleness:
            if _duration(staleness):
                caching["maxStaleness"] = staleness
            else:
                self.warn(
                    f"{path}.metadata.annotations.{KFP_PREFIX}max_cache_staleness",
                    f"{staleness!r} is not a duration: dropped",
                )
        if caching:
            settings["caching"] = caching
        for kind, values in (("labels", labels), ("annotations", annotations)):
            for key in sorted(k for k in values if not k.startswith(KFP_PREFIX)):
                self.warn(f"{path}.metadata.{kind}.{key}", "pod labels and annotations are not carried over: dropped")
        return settings

    def _retries(self, retry: dict[str, Any], path: str) -> dict[str, Any]:
        try:
            limit = int(retry.get("limit", 0))
        except (TypeError, ValueError):
            self.error(f"{path}.limit", f"not a number: {retry.get('limit')!r}")
            limit = 0
        result: dict[str, Any] = {"limit": limit}
        if retry.get("retryPolicy") not in (None, "Always", "OnFailure"):
            self.warn(f"{path}.retryPolicy", f"{retry['retryPolicy']!r}: kubeline retries every failure")
        for key in sorted(set(retry) - {"limit", "backoff", "retryPolicy"}):
            self.warn(f"{path}.{key}", "not supported, dropped")
        backoff = retry.get("backoff")
        if isinstance(backoff, dict):
            translated: dict[str, Any] = {}
            for source, target in (("duration", "duration"), ("maxDuration", "maxDuration")):
                if source in backoff:
                    value = _duration(backoff[source])
                    if value is None:
                        self.warn(f"{path}.backoff.{source}", f"{backoff[source]!r} is not a duration: dropped")
                    else:
                        translated[target] = value
            if "factor" in backoff:
                try:
                    translated["factor"] = min(max(float(backoff["factor"]), 1.0), 10.0)
                except (TypeError, ValueError):
                    self.warn(f"{path}.backoff.factor", f"not a number: {backoff['factor']!r}: dropped")
            if translated:
                result["backoff"] = translated
        return result

    def _check_fields(self, template: dict[str, Any], path: str) -> None:
        for key in sorted(set(template) - _TEMPLATE_FIELDS):
            self.warn(f"{path}.{key}", "not supported, dropped")

    # -- exit handler ------------------------------------------------------------------------------

    def _exit_task(self) -> dict[str, Any] | None:
        """Argo's onExit template as the exit handler; its inputs can only come from the workflow's params."""
        name = self.spec.get("onExit")
        if not name:
            return None
        template = self.templates.get(name)
        if template is None or "container" not in template:
            self.error("spec.onExit", f"must name a container template, not {name!r}")
            return None
        component = self._component(template)
        arguments: dict[str, Any] = {}
        for spec in component.inputs:
            if spec["name"] in component.workflow_inputs:
                arguments[spec["name"]] = _workflow_value(component.workflow_inputs[spec["name"]], on_exit=True)
            elif spec["name"] in self.params and "default" not in spec:
                arguments[spec["name"]] = f"{{{{params.{spec['name']}}}}}"
        task: dict[str, Any] = {"name": dns_label(name), "component": component.name}
        if arguments:
            task["arguments"] = arguments
        for key in ("retries", "timeout", "resources", "nodeSelector", "tolerations", "affinity"):
            if key in component.settings:
                task[key] = component.settings[key]
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


def _workflow_value(expression: str, on_exit: bool) -> str:
    """The kubeline text for an Argo workflow variable; before the exit handler a workflow is Running."""
    if m := _WORKFLOW_PARAM.match(expression):
        return f"{{{{params.{m['name']}}}}}"
    field_name = expression.split(".", 1)[1]
    if field_name == "status" and not on_exit:
        return "Running"
    return f"{{{{run.{field_name}}}}}"


_TASK_ORDER = (
    "name",
    "component",
    "arguments",
    "after",
    "when",
    "forEach",
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


def _ordered(task: dict[str, Any]) -> dict[str, Any]:
    """Task fields in the order people read them, whatever order they were found in."""
    return {key: task[key] for key in _TASK_ORDER if key in task}
