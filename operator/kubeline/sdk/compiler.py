"""From a recorded @dsl.pipeline function to a kubeline Pipeline document (deterministic YAML)."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kubeline.api import models
from kubeline.api.constants import API_VERSION, DESCRIPTION_ANNOTATION, DISPLAY_NAME_ANNOTATION
from kubeline.api.limits import MAX_VALUE_NESTING, deeper_than
from kubeline.api.names import numbered, to_dns_label
from kubeline.api.yamlio import dump
from kubeline.engine.plan import build, load_spec
from kubeline.engine.values import FILE_INPUT_TYPES
from kubeline.sdk.components import CompileError, ComponentSpec, resolve_conditionals, type_name
from kubeline.sdk.dsl import (
    _SERIALIZED,
    ConditionOperator,
    ContainerOp,
    Group,
    LoopArgument,
    PipelineConf,
    PipelineParam,
    Recording,
    VolumeParam,
    loop_argument,
    record,
    with_run_values,
)

#: What an exit handler may carry of a task (no after, when, forEach or caching): the API model's fields.
_EXIT_TASK_FIELDS = frozenset(field.alias or name for name, field in models.ExitTask.model_fields.items())


class Compiler:
    """kfp.compiler.Compiler's interface: compile(pipeline_func, package_path, pipeline_conf=None)."""

    def compile(
        self,
        pipeline_func: Callable[..., Any],
        package_path: str,
        type_check: bool = True,
        pipeline_conf: PipelineConf | None = None,
    ) -> None:
        """``type_check=False`` is refused: kubeline checks every argument against its input's type when it
        validates a pipeline, here and on the cluster, so the check cannot be turned off."""
        if not type_check:
            raise CompileError(
                "Compiler().compile(type_check=False) is not supported: kubeline always checks that arguments fit "
                "their inputs' types (the cluster checks every Pipeline the same way); fix the types the error "
                "names, or declare the input a string"
            )
        Path(package_path).write_text(dump(compile_pipeline(pipeline_func, pipeline_conf)))


def compile_pipeline(func: Callable[..., Any], conf: PipelineConf | None = None) -> dict[str, Any]:
    """The Pipeline document; raises CompileError, or PipelineInvalid naming each problem's field."""
    conf = conf or getattr(func, "pipeline_conf", None) or PipelineConf()
    params = _parameters(func)
    recording = record(func, conf, {name: p for name, (p, _) in params.items()})
    for transformer in conf.op_transformers:
        for op in list(recording.ops.values()):
            transformer(op)
    builder = _Builder(recording)
    tasks = builder.tasks(recording.root, [])
    spec: dict[str, Any] = {}
    description = getattr(func, "_pipeline_description", None)
    if description:
        spec["description"] = description.splitlines()[0]
    typed = builder.infer_param_types(
        {name: (p.param_type, annotated) for name, (p, annotated) in params.items()}, tasks
    )
    if params:
        spec["params"] = [_param(name, typed[name], param.value) for name, (param, _) in params.items()]
    if recording.volume_ops:
        spec["volumes"] = [
            {**op.document, "size": builder.value(op.document["size"], [], op.name)}
            for op in recording.volume_ops.values()
        ]
    spec["components"] = builder.components
    spec["tasks"] = tasks
    if recording.exit_op is not None:
        exit_task = builder.task(recording.exit_op, [])
        spec["onExit"] = {k: v for k, v in exit_task.items() if k in _EXIT_TASK_FIELDS}
    defaults: dict[str, Any] = {}
    if conf.default_node_selector:
        defaults["nodeSelector"] = dict(conf.default_node_selector)
    if conf.image_pull_secrets:
        defaults["imagePullSecrets"] = conf.image_pull_secrets
    if conf.image_pull_policy:
        defaults["imagePullPolicy"] = conf.image_pull_policy
    if defaults:
        spec["defaults"] = defaults
    if conf.parallelism:
        spec["parallelism"] = conf.parallelism
    if conf.timeout:
        spec["timeout"] = f"{conf.timeout}s"
    if conf.ttl_seconds_after_finished is not None:
        spec["ttlAfterFinished"] = f"{conf.ttl_seconds_after_finished}s"
    document = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": _metadata(func, description), "spec": spec}
    build(load_spec(json.loads(json.dumps(spec))))  # the engine's validation: every problem, named
    return document


def _metadata(func: Callable[..., Any], description: str | None) -> dict[str, Any]:
    """A valid name derived from the pipeline's name as KFP derives it ('My pipeline' -> 'my-pipeline');
    the name as written and the whole description are kept as annotations (for `kubeline get` and the UI),
    so a display name never reaches a path or a label."""
    display = getattr(func, "_pipeline_name", None) or func.__name__
    metadata: dict[str, Any] = {"name": to_dns_label(display)}
    annotations = {}
    if display != metadata["name"]:
        annotations[DISPLAY_NAME_ANNOTATION] = display
    if description:
        annotations[DESCRIPTION_ANNOTATION] = description
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def _parameters(func: Callable[..., Any]) -> dict[str, tuple[PipelineParam, bool]]:
    hints = typing.get_type_hints(func)
    params = {}
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise CompileError(
                f"the pipeline function {func.__name__}() takes {'*' if parameter.kind == parameter.VAR_POSITIONAL else '**'}"
                f"{parameter.name}: a pipeline's parameters are each named; list them one by one"
            )
        annotation = hints.get(parameter.name)
        default = None if parameter.default is inspect.Parameter.empty else parameter.default
        if isinstance(default, (list, tuple, dict)) and deeper_than(default, MAX_VALUE_NESTING):
            raise CompileError(f"parameter {parameter.name!r}: a default nested more than {MAX_VALUE_NESTING} deep")
        unfit = _not_json(default)
        if unfit:
            raise CompileError(
                f"parameter {parameter.name!r}: its default holds {unfit}, which a pipeline parameter "
                "cannot hold: use text, a number, a boolean, a list or a dict with text keys"
            )
        if isinstance(default, tuple):
            default = json.loads(json.dumps(default))  # a tuple is a list to JSON, as KFP passes it
        kind = (
            type_name(annotation)
            if annotation is not None
            else (type_name(type(default)) if default is not None else "string")
        )
        params[parameter.name] = (PipelineParam(parameter.name, None, kind, default), annotation is not None)
    return params


def _not_json(value: Any) -> str | None:
    """The first part of a default that JSON cannot hold (bytes, a set, a key that is not text), in words."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            bad_keys = [key for key in current if not isinstance(key, str)]
            if bad_keys:
                return f"the key {bad_keys[0]!r} ({type(bad_keys[0]).__name__}, not text)"
            pending.extend(current.values())
        elif isinstance(current, (list, tuple)):
            pending.extend(current)
        elif current is not None and not isinstance(current, (str, int, float, bool)):
            return f"{_short_repr(current)} ({type(current).__name__})"
    return None


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def _param(name: str, kind: str, default: Any) -> dict[str, Any]:
    """A parameter; {{run.name}} (dsl.RUN_ID_PLACEHOLDER) and Argo's {{workflow.uid}} in a text default
    take the run's values when it starts."""
    document: dict[str, Any] = {"name": name, "type": kind}
    if default is not None:
        document["default"] = with_run_values(default) if isinstance(default, str) else default
    return document


class _Builder:
    def __init__(self, recording: Recording):
        self.recording = recording
        self.components: list[dict[str, Any]] = []
        #: loops whose item is read from a loop nested in them: they get an itemName
        self.named_loops: set[str] = set()

    def component_name(self, spec: ComponentSpec) -> str:
        document = spec.to_dict()
        base: str = document["name"]
        name, n = base, 1
        while True:
            existing = next((c for c in self.components if c["name"] == name), None)
            if existing is None:
                self.components.append({**document, "name": name})
                return name
            if {**existing, "name": base} == document:
                return name
            n += 1
            name = numbered(base, n)

    def tasks(self, group: Group, loops: list[Group]) -> list[dict[str, Any]]:
        result = []
        for member in group.members:
            if isinstance(member, ContainerOp):
                result.append(self.task(member, loops))
            elif member.kind == "exit":
                result += self.tasks(member, loops)
            elif member.kind == "condition":
                result.append(
                    {
                        "name": member.name,
                        "when": self.condition(member.condition, loops, member.name),
                        "dag": {"tasks": self.tasks(member, loops)},
                    }
                )
            else:
                document: dict[str, Any] = {"name": member.name, "forEach": self.items(member, loops)}
                body = self.tasks(member, [*loops, member])
                if member.item_name in self.named_loops:
                    document["itemName"] = member.item_name
                if member.parallelism:
                    document["parallelism"] = member.parallelism
                document["dag"] = {"tasks": body}
                result.append(document)
        return result

    def task(self, op: ContainerOp, loops: list[Group]) -> dict[str, Any]:
        present = {name for name, value in op.arguments.items() if value is not None}
        spec = _with_pod_names(resolve_conditionals(op.component_spec, present), op.arguments)
        document: dict[str, Any] = {"name": op.name, "component": self.component_name(spec)}
        if op.display_name is not None:
            document["displayName"] = op.display_name
        arguments = {}
        inputs = {i.name for i in spec.inputs}
        for name, value in op.arguments.items():
            if value is None or _names_the_pod(value):
                continue
            if name not in inputs:
                raise CompileError(f"task {op.name!r}: component {spec.name!r} has no input {name!r}")
            arguments[name] = self.value(value, loops, op.name)
        if arguments:
            document["arguments"] = arguments
        if op.dependent_names:
            document["after"] = sorted(set(op.dependent_names))
        if op.resources:
            document["resources"] = {
                kind: dict(sorted(values.items())) for kind, values in sorted(op.resources.items())
            }
        if op.node_selector:
            document["nodeSelector"] = dict(op.node_selector)
        if op.tolerations:
            document["tolerations"] = op.tolerations
        if op.affinity:
            document["affinity"] = op.affinity
        caching: dict[str, Any] = {}
        if op.caching_enabled is not None:
            caching["enabled"] = op.caching_enabled
        if op.execution_options.caching_strategy.max_cache_staleness:
            caching["maxStaleness"] = op.execution_options.caching_strategy.max_cache_staleness
        if caching:
            document["caching"] = caching
        if op.retries:
            document["retries"] = op.retries
        if op.timeout:
            document["timeout"] = op.timeout
        return document

    def value(self, value: Any, loops: list[Group], task: str) -> Any:
        if isinstance(value, (PipelineParam, ConditionOperator)) or (isinstance(value, str) and "{{" in value):
            return self.text(value, loops, task)
        if isinstance(value, (list, dict)) and deeper_than(value, MAX_VALUE_NESTING):
            raise CompileError(
                f"task {task!r}: an argument nested more than {MAX_VALUE_NESTING} deep: pass flat values or mappings"
            )
        if isinstance(value, (bool, int, float, str, list, dict)):
            return value
        raise CompileError(f"task {task!r}: cannot pass a {type(value).__name__} ({value!r}) as an argument")

    def ref(self, param: PipelineParam, loops: list[Group], task: str) -> str:
        if isinstance(param, LoopArgument):
            if param.loop not in loops:
                raise CompileError(
                    f"task {task!r} uses the item of ParallelFor {param.loop.name!r} outside that loop: use a "
                    "loop's item only inside its `with dsl.ParallelFor(...)` block"
                )
            if param.loop is loops[-1]:
                return "{{" + ".".join(("item", *param.fields)) + "}}"
            self.named_loops.add(param.loop.item_name)
            return "{{" + ".".join(("items", param.loop.item_name, *param.fields)) + "}}"
        if param.op_name is None:
            return f"{{{{params.{param.name}}}}}"
        if isinstance(param, VolumeParam):
            return f"{{{{volumes.{param.volume}.{param.name}}}}}"
        producer = self.recording.ops.get(param.op_name)
        if producer is None and (self.recording.exit_op is None or self.recording.exit_op.name != param.op_name):
            raise CompileError(f"task {task!r} reads an output of {param.op_name!r}, which is not in this pipeline")
        return f"{{{{tasks.{param.op_name}.outputs.{param.name}}}}}"

    def text(self, value: Any, loops: list[Group], task: str) -> str:
        if isinstance(value, PipelineParam):
            return self.ref(value, loops, task)
        text = with_run_values(str(value))
        for match in list(_SERIALIZED.finditer(text)):
            param = (
                loop_argument(match.group(2), loops)
                if match.group(1) == "__loop__"
                else self.recording.find_param(match.group(1), match.group(2))
            )
            text = text.replace(match.group(0), self.ref(param, loops, task))
        return text

    def condition(self, condition: ConditionOperator | None, loops: list[Group], group: str) -> str:
        assert condition is not None

        def operand(value: Any) -> str:
            text = self.text(value, loops, group) if isinstance(value, PipelineParam) else str(value)
            if isinstance(value, bool):
                text = "true" if value else "false"
            return f"'{text}'" if "'" not in text else f'"{text}"'

        return f"{operand(condition.operand1)} {condition.operator} {operand(condition.operand2)}"

    def items(self, loop: Group, loops: list[Group]) -> Any:
        if isinstance(loop.items, PipelineParam):
            return self.ref(loop.items, loops, loop.name)
        if isinstance(loop.items, (list, tuple)):
            if deeper_than(list(loop.items), MAX_VALUE_NESTING):
                raise CompileError(
                    f"ParallelFor {loop.name!r}: items nested more than {MAX_VALUE_NESTING} deep: loop over "
                    "flat values or mappings"
                )
            return list(loop.items)
        raise CompileError(f"ParallelFor {loop.name!r}: loop over a list or a task output, not {loop.items!r}")

    def infer_param_types(
        self, params: dict[str, tuple[str | None, bool]], tasks: list[dict[str, Any]]
    ) -> dict[str, str]:
        """A parameter without a type annotation takes the type of the inputs it feeds, when they agree
        (KFP v1 does not check untyped parameters; kubeline's validation does)."""
        component_inputs = {c["name"]: {i["name"]: i["type"] for i in c.get("inputs", [])} for c in self.components}
        feeds: dict[str, set[str]] = {name: set() for name in params}

        def walk(task_list: list[dict[str, Any]]) -> None:
            for task in task_list:
                if "dag" in task:
                    walk(task["dag"]["tasks"])
                    continue
                inputs = component_inputs.get(task["component"], {})
                for name, value in (task.get("arguments") or {}).items():
                    if isinstance(value, str) and value.startswith("{{params.") and value.endswith("}}"):
                        param = value[len("{{params.") : -2]
                        if param in feeds and inputs.get(name) not in (None, "string", *FILE_INPUT_TYPES):
                            feeds[param].add(inputs[name])

        walk(tasks)
        result = {}
        for name, (kind, annotated) in params.items():
            inferred = feeds[name]
            result[name] = inferred.pop() if not annotated and len(inferred) == 1 else (kind or "string")
        return result


_POD_NAME = "{{pod.name}}"


def _names_the_pod(value: Any) -> bool:
    """A text argument holding ``{{pod.name}}`` (as KFP programs pass it), known only when the step's pod starts."""
    return isinstance(value, str) and _POD_NAME in value


def _with_pod_names(spec: ComponentSpec, arguments: dict[str, Any]) -> ComponentSpec:
    """The component with each argument naming the pod written into its command, args and env in place of the
    input (which it loses): the pod name is known only there, not among a task's arguments."""
    inlined = {name: value for name, value in arguments.items() if _names_the_pod(value)}
    if not inlined:
        return spec

    def inline(text: str) -> str:
        for name, value in inlined.items():
            text = text.replace(f"{{{{inputs.{name}}}}}", value)
        return text

    return replace(
        spec,
        inputs=[i for i in spec.inputs if i.name not in inlined],
        command=[inline(part) for part in spec.command],
        args=[inline(part) for part in spec.args],
        env={k: inline(v) if isinstance(v, str) else v for k, v in spec.env.items()},
    )
