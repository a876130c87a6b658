"""The KFP v1 DSL: pipelines, tasks, conditions, loops and exit handlers, recorded for the compiler.

Calling a `@pipeline` function under the compiler records every task created in it, the groups
(`with Condition`, `with ParallelFor`, `with ExitHandler`) they sit in, and how their inputs are wired
(`task.output`, `task.outputs["name"]`, pipeline parameters, loop items).
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeline.api.limits import MAX_GROUP_DEPTH
from kubeline.api.names import numbered
from kubeline.sdk.components import IO, CompileError, ComponentSpec, dns_name, io_name, pythonic

RUN_ID_PLACEHOLDER = "{{run.name}}"
EXECUTION_ID_PLACEHOLDER = "{{run.name}}"
WORKFLOW_STATUS = "{{workflow.status}}"  # what KFP v1 exit handlers read; kubeline's {{run.status}}


_SERIALIZED = re.compile(r"\{\{pipelineparam:op=([^;]*);name=([^}]*)\}\}")


class PipelineParam:
    """A value known only at run time: a pipeline parameter (op_name None) or a task output."""

    def __init__(self, name: str, op_name: str | None = None, param_type: str | None = None, value: Any = None):
        self.name, self.op_name, self.param_type, self.value = name, op_name, param_type, value

    @property
    def pattern(self) -> str:
        return f"{{{{pipelineparam:op={self.op_name or ''};name={self.name}}}}}"

    def __str__(self) -> str:  # lets users embed it in f-strings, as with KFP
        return self.pattern

    def __repr__(self) -> str:
        return f"PipelineParam({self.op_name or 'params'}.{self.name})"

    def __hash__(self) -> int:
        return hash(self.pattern)

    def _compare(self, op: str, other: Any) -> ConditionOperator:
        return ConditionOperator(op, self, other)

    def __eq__(self, other: Any) -> ConditionOperator:  # type: ignore[override]
        return self._compare("==", other)

    def __ne__(self, other: Any) -> ConditionOperator:  # type: ignore[override]
        return self._compare("!=", other)

    def __lt__(self, other: Any) -> ConditionOperator:
        return self._compare("<", other)

    def __le__(self, other: Any) -> ConditionOperator:
        return self._compare("<=", other)

    def __gt__(self, other: Any) -> ConditionOperator:
        return self._compare(">", other)

    def __ge__(self, other: Any) -> ConditionOperator:
        return self._compare(">=", other)


class LoopArgument(PipelineParam):
    """The item of a ParallelFor; `item.field` reads a field of a dict item."""

    def __init__(self, loop: ParallelFor, fields: tuple[str, ...] = ()):
        super().__init__("item" + "".join(f".{f}" for f in fields), op_name="__loop__")
        self.loop, self.fields = loop, fields

    def __getattr__(self, name: str) -> LoopArgument:
        if name.startswith("_"):
            raise AttributeError(name)
        return LoopArgument(self.loop, (*self.fields, name))


@dataclass
class ConditionOperator:
    operator: str
    operand1: Any
    operand2: Any


# -- tasks --------------------------------------------------------------------------------------------------


class _Caching:
    def __init__(self) -> None:
        self.max_cache_staleness: str | None = None


class _ExecutionOptions:
    def __init__(self) -> None:
        self.caching_strategy = _Caching()


class ContainerOp:
    """A task: one step of the pipeline. Also usable directly, as in KFP: ContainerOp(name, image, ...)."""

    def __init__(
        self,
        name: str,
        image: str,
        command: Any = None,
        arguments: Any = None,
        file_outputs: dict[str, str] | None = None,
        **ignored: Any,
    ):
        for key in ignored:
            warnings.warn(f"ContainerOp({key}=...) is not supported by kubeline and is ignored", stacklevel=2)
        spec, wiring = _spec_from_container(name, image, _as_list(command), _as_list(arguments), file_outputs or {})
        self._init(spec, wiring)

    @classmethod
    def from_component(cls, spec: ComponentSpec, arguments: dict[str, Any]) -> ContainerOp:
        op = cls.__new__(cls)
        op._init(spec, arguments)
        return op

    def _init(self, spec: ComponentSpec, arguments: dict[str, Any]) -> None:
        pipeline = _current_pipeline()
        self.component_spec = spec
        self.arguments = arguments
        self.name = pipeline.unique_name(spec.name) if pipeline else spec.name
        self.dependent_names: list[str] = []
        self.resources: dict[str, dict[str, str]] = {}
        self.node_selector: dict[str, str] = {}
        self.tolerations: list[dict[str, Any]] = []
        self.affinity: dict[str, Any] | None = None
        self.retries: dict[str, Any] | None = None
        self.timeout: str | None = None
        self.caching_enabled: bool | None = None
        self.execution_options = _ExecutionOptions()
        self.display_name: str | None = None
        self.outputs = _Outputs(self.name, {o.name: PipelineParam(o.name, self.name, o.type) for o in spec.outputs})
        if pipeline:
            pipeline.add(self)

    @property
    def output(self) -> PipelineParam:
        """The task's only output (KFP's task.output)."""
        if len(self.outputs) != 1:
            names = ", ".join(self.outputs) or "none"
            raise CompileError(
                f"task {self.name!r} has {len(self.outputs)} outputs ({names}): use task.outputs['NAME']"
            )
        return next(iter(self.outputs.values()))

    def after(self, *tasks: ContainerOp) -> ContainerOp:
        for task in tasks:
            self.dependent_names.append(task.name)
        return self

    def _resource(self, kind: str, name: str, value: Any) -> ContainerOp:
        self.resources.setdefault(kind, {})[name] = str(value)
        return self

    def set_cpu_request(self, cpu: Any) -> ContainerOp:
        return self._resource("requests", "cpu", cpu)

    def set_cpu_limit(self, cpu: Any) -> ContainerOp:
        return self._resource("limits", "cpu", cpu)

    def set_memory_request(self, memory: Any) -> ContainerOp:
        return self._resource("requests", "memory", memory)

    def set_memory_limit(self, memory: Any) -> ContainerOp:
        return self._resource("limits", "memory", memory)

    def set_gpu_limit(self, gpu: Any, vendor: str = "nvidia") -> ContainerOp:
        return self._resource("limits", f"{vendor}.com/gpu" if "/" not in vendor else vendor, gpu)

    def add_resource_request(self, name: str, value: Any) -> ContainerOp:
        return self._resource("requests", name, value)

    def add_resource_limit(self, name: str, value: Any) -> ContainerOp:
        return self._resource("limits", name, value)

    def add_node_selector_constraint(self, label_name: str, value: str) -> ContainerOp:
        self.node_selector[label_name] = value
        return self

    def add_toleration(self, toleration: Any) -> ContainerOp:
        self.tolerations.append(_to_dict(toleration))
        return self

    def add_affinity(self, affinity: Any) -> ContainerOp:
        self.affinity = _to_dict(affinity)
        return self

    def set_retry(
        self,
        num_retries: int,
        policy: str | None = None,
        backoff_duration: str | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | None = None,
    ) -> ContainerOp:
        self.retries = {"limit": _whole(num_retries, "set_retry(num_retries)")}
        backoff = {
            k: v
            for k, v in (
                ("duration", backoff_duration),
                ("factor", backoff_factor),
                ("maxDuration", backoff_max_duration),
            )
            if v is not None
        }
        if backoff:
            self.retries["backoff"] = backoff
        return self

    def set_timeout(self, seconds: int) -> ContainerOp:
        self.timeout = f"{_whole(seconds, 'set_timeout(seconds)')}s"
        return self

    def set_caching_options(self, enable_caching: bool) -> ContainerOp:
        self.caching_enabled = bool(enable_caching)
        return self

    def set_display_name(self, name: str) -> ContainerOp:
        self.display_name = name
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("add_", "set_")):

            def unsupported(*_: Any, **__: Any) -> ContainerOp:
                warnings.warn(f"{name}() has no kubeline equivalent and is ignored (task {self.name!r})", stacklevel=2)
                return self

            return unsupported
        raise AttributeError(name)


class _Outputs(dict):  # type: ignore[type-arg]
    """task.outputs: a missing name is an error that says which outputs there are."""

    def __init__(self, task: str, outputs: dict[str, PipelineParam]):
        super().__init__(outputs)
        self.task = task

    def __missing__(self, name: str) -> PipelineParam:
        """An output asked for by the name the program gave it (a NamedTuple field `résultat`, a component
        YAML output `Output data`) is found under the name it became (`r_sultat`, `Output_data`), as in KFP."""
        same = [key for key in self if pythonic(key) == pythonic(str(name))]
        if len(same) == 1:
            return self[same[0]]
        raise CompileError(f"task {self.task!r} has no output {name!r} (its outputs: {', '.join(self) or 'none'})")


def _whole(value: Any, what: str) -> int:
    """A count or a number of seconds given to a setter: a whole number (or its text), never a boolean,
    which int() would silently read as 0 or 1, nor a fraction it would silently cut."""
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise CompileError(f"{what}: {value!r} is not a whole number; give one, e.g. 3")
    return int(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _to_dict(value: Any) -> dict[str, Any]:
    """kubernetes.client models (V1Toleration, V1Affinity…) or plain dicts, as camelCase dicts."""
    if isinstance(value, dict):
        return value
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(value)


def _spec_from_container(
    name: str, image: str, command: list[Any], arguments: list[Any], file_outputs: dict[str, str]
) -> tuple[ComponentSpec, dict[str, Any]]:
    """A raw ContainerOp as a component: run-time values become inputs, fixed output files placeholders."""
    inputs: dict[str, PipelineParam] = {}

    def text(part: Any) -> str:
        if isinstance(part, PipelineParam):
            part = part.pattern
        part = str(part)
        for match in _SERIALIZED.finditer(part):
            param = _find_param(match.group(1), match.group(2))
            input_name = io_name(f"{match.group(1) or 'param'}-{match.group(2)}".replace("__loop__", "loop"))
            inputs[input_name] = param
            part = part.replace(match.group(0), f"{{{{inputs.{input_name}}}}}")
        for output, path in file_outputs.items():
            part = part.replace(path, f"{{{{outputs.{io_name(output)}.path}}}}")
        return part

    rendered_command = [text(p) for p in command]
    rendered_args = [text(p) for p in arguments]
    spec = ComponentSpec(
        dns_name(name),
        [IO(n, "string") for n in inputs],
        [IO(io_name(o), "string") for o in file_outputs],
        image,
        rendered_command,
        rendered_args,
    )
    missing = [
        o
        for o, path in file_outputs.items()
        if not any(f"outputs.{io_name(o)}.path" in t for t in rendered_command + rendered_args)
    ]
    if missing:
        # the program writes to a fixed path kubeline does not see: copy it to the output's file at exit
        copies = " && ".join(
            f'mkdir -p "$(dirname "$KUBELINE_OUT_{i}")" && cp {file_outputs[o]} "$KUBELINE_OUT_{i}"'
            for i, o in enumerate(missing)
        )
        spec.env.update({f"KUBELINE_OUT_{i}": f"{{{{outputs.{io_name(o)}.path}}}}" for i, o in enumerate(missing)})
        spec.command = ["sh", "-c", f'"$@" && {copies}', "kubeline-container-op", *rendered_command]
    return spec, dict(inputs)


def _find_param(op: str, name: str) -> PipelineParam:
    pipeline = _current_pipeline()
    if pipeline is None:
        return PipelineParam(name, op or None)
    return pipeline.find_param(op, name)


class VolumeOp:
    """KFP's VolumeOp/pvolumes: not carried over. Steps pass files as artifacts (InputPath/OutputPath),
    which kubeline keeps on a volume the run's steps share; that covers what VolumeOp is mostly used for."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise CompileError(
            "dsl.VolumeOp is not supported: pass files between steps with OutputPath/InputPath; "
            "kubeline keeps them on a volume shared by the run's steps"
        )


PipelineVolume = VolumeOp


# -- groups --------------------------------------------------------------------------------------------------


@dataclass
class Group:
    kind: str  # "root" | "condition" | "loop" | "exit"
    name: str
    condition: ConditionOperator | None = None
    items: Any = None
    parallelism: int | None = None
    members: list[Any] = field(default_factory=list)  # ContainerOps and Groups, in order

    def __enter__(self) -> Any:
        pipeline = _current_pipeline()
        if pipeline is None:
            raise RuntimeError(f"dsl.{type(self).__name__} is only usable inside a @dsl.pipeline function")
        pipeline.open(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _current_pipeline().close(self)  # type: ignore[union-attr]


class Condition(Group):
    def __init__(self, condition: ConditionOperator, name: str | None = None):
        if not isinstance(condition, ConditionOperator):
            raise TypeError(
                "dsl.Condition needs a comparison of a task output or parameter, e.g. task.output == 'heads'"
            )
        super().__init__("condition", name or "", condition=condition)


class ParallelFor(Group):
    def __init__(self, loop_args: Any, parallelism: int | None = None):
        super().__init__("loop", "", items=loop_args, parallelism=parallelism)

    def __enter__(self) -> LoopArgument:
        super().__enter__()
        return LoopArgument(self)


class ExitHandler(Group):
    def __init__(self, exit_op: ContainerOp, name: str | None = None):
        if not isinstance(exit_op, ContainerOp):
            raise TypeError(
                f"dsl.ExitHandler needs a task (the result of calling a component), not {type(exit_op).__name__}"
            )
        super().__init__("exit", name or "")
        self.exit_op = exit_op


# -- pipelines -------------------------------------------------------------------------------------------------


class PipelineConf:
    """Pipeline-wide settings, as KFP's PipelineConf."""

    def __init__(self) -> None:
        self.default_node_selector: dict[str, str] = {}
        self.image_pull_secrets: list[dict[str, Any]] = []
        self.image_pull_policy: str | None = None
        self.timeout: int | None = None
        self.parallelism: int | None = None
        self.ttl_seconds_after_finished: int | None = None
        self.op_transformers: list[Callable[[ContainerOp], Any]] = []

    def set_default_pod_node_selector(self, label_name: str, value: str) -> PipelineConf:
        self.default_node_selector[label_name] = value
        return self

    def set_image_pull_secrets(self, image_pull_secrets: list[Any]) -> PipelineConf:
        self.image_pull_secrets = [_to_dict(s) for s in image_pull_secrets]
        return self

    def set_image_pull_policy(self, policy: str) -> PipelineConf:
        self.image_pull_policy = policy
        return self

    def set_timeout(self, seconds: int) -> PipelineConf:
        self.timeout = _whole(seconds, "PipelineConf.set_timeout(seconds)")
        return self

    def set_parallelism(self, max_num_pods: int) -> PipelineConf:
        self.parallelism = _whole(max_num_pods, "PipelineConf.set_parallelism(max_num_pods)")
        return self

    def set_ttl_seconds_after_finished(self, seconds: int) -> PipelineConf:
        self.ttl_seconds_after_finished = _whole(seconds, "PipelineConf.set_ttl_seconds_after_finished(seconds)")
        return self

    def add_op_transformer(self, transformer: Callable[[ContainerOp], Any]) -> PipelineConf:
        self.op_transformers.append(transformer)
        return self


def pipeline(name: Any = None, description: str | None = None, pipeline_root: str | None = None) -> Any:
    """Mark a function as a pipeline, as @kfp.dsl.pipeline does; `@dsl.pipeline` without parentheses too."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        wrapper._pipeline_name = name if isinstance(name, str) and name else func.__name__  # type: ignore[attr-defined]
        wrapper._pipeline_description = description or inspect.getdoc(func)  # type: ignore[attr-defined]
        wrapper._is_pipeline = True  # type: ignore[attr-defined]
        wrapper.pipeline_conf = PipelineConf()  # type: ignore[attr-defined]
        return wrapper

    if callable(name):  # @dsl.pipeline without parentheses: the function itself came as the name
        func, name = name, None
        return decorate(func)
    return decorate


def get_pipeline_conf() -> PipelineConf:
    """The PipelineConf of the pipeline being compiled (KFP's dsl.get_pipeline_conf())."""
    pipeline = _current_pipeline()
    if pipeline is None:
        raise RuntimeError("dsl.get_pipeline_conf() is only usable inside a @dsl.pipeline function")
    return pipeline.conf


class Recording:
    """What a pipeline function did, for the compiler."""

    def __init__(self, conf: PipelineConf):
        self.conf = conf
        self.root = Group("root", "root")
        self.stack = [self.root]
        self.ops: dict[str, ContainerOp] = {}
        self.params: dict[str, PipelineParam] = {}
        self.exit_op: ContainerOp | None = None
        self.group_counts: dict[str, int] = {}
        #: every task name given so far, the exit handler's op included (KFP numbers them all apart)
        self.names: set[str] = set()
        self.last_number: dict[str, int] = {}  # by base name: a program making 100,000 ops stays linear

    def unique_name(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3``… as KFP numbers ops; always a valid name of at most 63 characters."""
        n = self.last_number.get(base, 1)
        name = base if n == 1 else numbered(base, n)
        while name in self.names:
            n += 1
            name = numbered(base, n)
        self.last_number[base] = n
        self.names.add(name)
        return name

    def add(self, op: ContainerOp) -> None:
        self.ops[op.name] = op
        self.stack[-1].members.append(op)

    def open(self, group: Group) -> None:
        if len(self.stack) > MAX_GROUP_DEPTH:  # refused where the program opens the group
            raise CompileError(
                f"groups (dsl.Condition, dsl.ParallelFor, dsl.ExitHandler) nested more than {MAX_GROUP_DEPTH} "
                "deep: flatten the pipeline"
            )
        if isinstance(group, ExitHandler):
            if self.exit_op is not None:
                raise CompileError("a pipeline has one dsl.ExitHandler: put every task it guards inside that one")
            self.exit_op = group.exit_op
            for owner in [self.root, *self._groups(self.root)]:
                if group.exit_op in owner.members:
                    owner.members.remove(group.exit_op)
            self.ops.pop(group.exit_op.name, None)
        else:
            prefix = {"condition": "condition", "loop": "for-loop"}[group.kind]
            self.group_counts[prefix] = self.group_counts.get(prefix, 0) + 1
            group.name = dns_name(group.name) if group.name else f"{prefix}-{self.group_counts[prefix]}"
        self.stack[-1].members.append(group)
        self.stack.append(group)

    def close(self, group: Group) -> None:
        assert self.stack[-1] is group
        self.stack.pop()

    def _groups(self, group: Group) -> list[Group]:
        found = []
        for member in group.members:
            if isinstance(member, Group):
                found += [member, *self._groups(member)]
        return found

    def find_param(self, op: str, name: str) -> PipelineParam:
        if not op:
            return self.params.get(name) or PipelineParam(name)
        if op in self.ops:
            return self.ops[op].outputs.get(name) or PipelineParam(name, op)
        return PipelineParam(name, op)


_recordings: list[Recording] = []


def _current_pipeline() -> Recording | None:
    return _recordings[-1] if _recordings else None


def record(func: Callable[..., Any], conf: PipelineConf, params: dict[str, PipelineParam]) -> Recording:
    recording = Recording(conf)
    recording.params = params
    _recordings.append(recording)
    try:
        func(**params)
    finally:
        _recordings.pop()
    return recording
