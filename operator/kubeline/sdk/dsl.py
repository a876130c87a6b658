"""The KFP v1 DSL: pipelines, tasks, conditions, loops and exit handlers, recorded for the compiler.

Calling a `@pipeline` function under the compiler records every task created in it, the groups
(`with Condition`, `with ParallelFor`, `with ExitHandler`) they sit in, and how their inputs are wired
(`task.output`, `task.outputs["name"]`, pipeline parameters, loop items).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

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

    def __eq__(self, other: Any) -> ConditionOperator:  # type: ignore[override]  # a dsl.Condition, as in KFP
        return self._compare("==", other)

    def __ne__(self, other: Any) -> ConditionOperator:  # type: ignore[override]  # a dsl.Condition, as in KFP
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

    def __init__(self, loop: Group, fields: tuple[str, ...] = ()):
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
    __slots__ = ("max_cache_staleness",)  # a misspelt setting is an AttributeError, not a silent no-op

    def __init__(self) -> None:
        self.max_cache_staleness: str | None = None


class _ExecutionOptions:
    __slots__ = ("caching_strategy",)

    def __init__(self) -> None:
        self.caching_strategy = _Caching()


#: KFP v1's pod label and annotation that set a step's caching; the only pod metadata kubeline can honour.
KFP_ENABLE_CACHING_LABEL = "pipelines.kubeflow.org/enable_caching"
KFP_MAX_CACHE_STALENESS_ANNOTATION = "pipelines.kubeflow.org/max_cache_staleness"

#: Retry policies that mean what kubeline does: retry every failed attempt.
_RETRY_POLICIES = (None, "Always", "OnFailure")

_VOLUMES = (
    "pass files between steps with OutputPath/InputPath instead: kubeline keeps them on a volume shared by "
    "the run's steps"
)
_ONE_CONTAINER = "a kubeline step runs one container: run the extra program in a step of its own"
_CONTAINER_ONLY = (
    "a kubeline step's container has only an image, command, args, env and resources: "
    "set what the program needs in the image or through its arguments"
)


def _refused(call: str, instead: str) -> Callable[..., NoReturn]:
    """A KFP v1 method kubeline cannot honour: calling it is a CompileError saying what to do instead."""

    def refuse(self: ContainerOp, *args: Any, **kwargs: Any) -> NoReturn:
        raise CompileError(f"task {self.name!r}: {call}() is not supported: {instead}")

    refuse.__name__ = refuse.__qualname__ = call
    return refuse


class ContainerOp:
    """A task: one step of the pipeline. Also usable directly, as in KFP: ContainerOp(name, image, ...).

    Every KFP v1 method is here: those kubeline honours change the compiled task, the others raise a
    CompileError saying what to do instead; any other name is an AttributeError, as in KFP."""

    def __init__(
        self,
        name: str,
        image: str,
        command: Any = None,
        arguments: Any = None,
        init_containers: list[Any] | None = None,
        sidecars: list[Any] | None = None,
        container_kwargs: dict[str, Any] | None = None,
        artifact_argument_paths: list[Any] | None = None,
        file_outputs: dict[str, str] | None = None,
        output_artifact_paths: dict[str, str] | None = None,
        is_exit_handler: bool = False,  # deprecated in KFP v1, where it has no effect either
        pvolumes: dict[str, Any] | None = None,
    ):
        for given, keyword, instead in (
            (init_containers, "init_containers", _ONE_CONTAINER),
            (sidecars, "sidecars", _ONE_CONTAINER),
            (artifact_argument_paths, "artifact_argument_paths", _VOLUMES),
            (pvolumes, "pvolumes", _VOLUMES),
            ({k: v for k, v in (container_kwargs or {}).items() if k != "env"}, "container_kwargs", _CONTAINER_ONLY),
        ):
            if given:
                raise CompileError(f"ContainerOp {name!r}: {keyword}=... is not supported: {instead}")
        outputs = {**(output_artifact_paths or {}), **(file_outputs or {})}  # KFP's deprecated name for the same
        spec, wiring = _spec_from_container(name, image, _as_list(command), _as_list(arguments), outputs)
        self._init(spec, wiring)
        for variable in (container_kwargs or {}).get("env") or []:
            self.add_env_variable(variable)

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

    def apply(self, mod_func: Callable[[ContainerOp], Any]) -> ContainerOp:
        """Run a modifier on the task (KFP's extension methods, e.g. kfp.onprem helpers)."""
        return mod_func(self) or self

    def after(self, *tasks: ContainerOp) -> ContainerOp:
        for task in tasks:
            self.dependent_names.append(task.name)
        return self

    # -- resources

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

    def set_ephemeral_storage_request(self, size: Any) -> ContainerOp:
        return self._resource("requests", "ephemeral-storage", size)

    def set_ephemeral_storage_limit(self, size: Any) -> ContainerOp:
        return self._resource("limits", "ephemeral-storage", size)

    def set_gpu_limit(self, gpu: Any, vendor: str = "nvidia") -> ContainerOp:
        return self._resource("limits", f"{vendor}.com/gpu" if "/" not in vendor else vendor, gpu)

    def add_resource_request(self, resource_name: str, value: Any) -> ContainerOp:
        return self._resource("requests", resource_name, value)

    def add_resource_limit(self, resource_name: str, value: Any) -> ContainerOp:
        return self._resource("limits", resource_name, value)

    def get_resource_request(self, resource_name: str) -> str | None:
        return self.resources.get("requests", {}).get(resource_name)

    def get_resource_limit(self, resource_name: str) -> str | None:
        return self.resources.get("limits", {}).get(resource_name)

    # -- placement

    def add_node_selector_constraint(self, label_name: str, value: str) -> ContainerOp:
        self.node_selector[label_name] = value
        return self

    def add_toleration(self, tolerations: Any) -> ContainerOp:
        self.tolerations.append(_to_dict(tolerations))
        return self

    def add_affinity(self, affinity: Any) -> ContainerOp:
        self.affinity = _to_dict(affinity)
        return self

    # -- environment

    def add_env_variable(self, env_variable: Any) -> ContainerOp:
        """A kubernetes V1EnvVar (or its dict) with a value; run-time values in it become inputs of the task."""
        variable = _to_dict(env_variable)
        if variable.get("valueFrom") is not None or not isinstance(variable.get("name"), str):
            raise CompileError(
                f"task {self.name!r}: add_env_variable() takes a name and a value; kubeline does not read "
                "values from secrets, config maps or fields: pass the value as a pipeline parameter"
            )
        return self.set_env_variable(variable["name"], variable.get("value") or "")

    def set_env_variable(self, name: str, value: Any) -> ContainerOp:
        inputs: dict[str, PipelineParam] = {}
        text = _inline_params(value, inputs)
        existing = {i.name for i in self.component_spec.inputs}
        clash = [n for n in inputs if n in existing and str(self.arguments.get(n)) != str(inputs[n])]
        if clash:
            raise CompileError(
                f"task {self.name!r}: env variable {name!r} needs an input {clash[0]!r}, which the component "
                "already has for another value: rename that input"
            )
        self.component_spec = replace(
            self.component_spec,
            inputs=[
                *self.component_spec.inputs,
                *(IO(n, "string", required=True) for n in inputs if n not in existing),
            ],
            env={**self.component_spec.env, name: text},
        )
        self.arguments = {**self.arguments, **inputs}
        return self

    # -- retries, timeout, caching, display name

    def set_retry(
        self,
        num_retries: int,
        policy: str | None = None,
        backoff_duration: str | None = None,
        backoff_factor: float | None = None,
        backoff_max_duration: str | None = None,
    ) -> ContainerOp:
        if policy not in _RETRY_POLICIES:
            raise CompileError(
                f"task {self.name!r}: set_retry(policy={policy!r}) is not supported: kubeline retries every "
                "failed attempt, as policy 'Always' or 'OnFailure'; leave the policy out"
            )
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
        """The name people see for the task (the UI); the task's name stays its id in placeholders and status."""
        self.display_name = str(name)
        return self

    def add_pod_label(self, name: str, value: str) -> ContainerOp:
        """Only KFP's caching label is honoured: `pipelines.kubeflow.org/enable_caching: "false"` turns caching off."""
        if name != KFP_ENABLE_CACHING_LABEL or str(value).lower() not in ("true", "false"):
            raise CompileError(
                f"task {self.name!r}: add_pod_label({name!r}) is not supported: kubeline puts no labels of the "
                "program's on step pods; to name the task for people use set_display_name()"
            )
        return self.set_caching_options(str(value).lower() == "true")

    def add_pod_annotation(self, name: str, value: str) -> ContainerOp:
        """Only KFP's caching annotation is honoured: `pipelines.kubeflow.org/max_cache_staleness` (P0D: never reuse)."""
        if name != KFP_MAX_CACHE_STALENESS_ANNOTATION:
            raise CompileError(
                f"task {self.name!r}: add_pod_annotation({name!r}) is not supported: kubeline puts no annotations "
                "of the program's on step pods; to name the task for people use set_display_name()"
            )
        self.execution_options.caching_strategy.max_cache_staleness = str(value)
        return self

    # -- what kubeline cannot honour

    add_volume = _refused("add_volume", _VOLUMES)
    add_pvolumes = _refused("add_pvolumes", _VOLUMES)
    add_volume_mount = _refused("add_volume_mount", _VOLUMES)
    add_volume_devices = _refused("add_volume_devices", _VOLUMES)
    add_init_container = _refused("add_init_container", _ONE_CONTAINER)
    add_sidecar = _refused("add_sidecar", _ONE_CONTAINER)
    set_image_pull_policy = _refused(
        "set_image_pull_policy",
        "the pull policy is the pipeline's: call dsl.get_pipeline_conf().set_image_pull_policy() in the pipeline",
    )
    add_env_from = _refused("add_env_from", "set each variable with add_env_variable(V1EnvVar(name, value))")
    set_termination_message_path = _refused(
        "set_termination_message_path", "kubeline reads the step's outputs from its termination message"
    )
    set_termination_message_policy = _refused(
        "set_termination_message_policy", "kubeline reads the step's outputs from its termination message"
    )
    add_port = _refused("add_port", _CONTAINER_ONLY)
    set_security_context = _refused("set_security_context", _CONTAINER_ONLY)
    set_stdin = _refused("set_stdin", _CONTAINER_ONLY)
    set_stdin_once = _refused("set_stdin_once", _CONTAINER_ONLY)
    set_tty = _refused("set_tty", _CONTAINER_ONLY)
    set_readiness_probe = _refused("set_readiness_probe", _CONTAINER_ONLY)
    set_liveness_probe = _refused("set_liveness_probe", _CONTAINER_ONLY)
    set_lifecycle = _refused("set_lifecycle", _CONTAINER_ONLY)


class _Outputs(dict[str, PipelineParam]):
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

    serialized = ApiClient().sanitize_for_serialization(value)  # type: ignore[no-untyped-call]  # not annotated
    if not isinstance(serialized, dict):
        raise CompileError(f"expected a Kubernetes object or a dict, not {type(value).__name__}")
    return serialized


def _spec_from_container(
    name: str, image: str, command: list[Any], arguments: list[Any], file_outputs: dict[str, str]
) -> tuple[ComponentSpec, dict[str, Any]]:
    """A raw ContainerOp as a component: run-time values become inputs, fixed output files placeholders."""
    inputs: dict[str, PipelineParam] = {}

    def text(part: Any) -> str:
        rendered = _inline_params(part, inputs)
        for output, path in file_outputs.items():
            rendered = rendered.replace(path, f"{{{{outputs.{io_name(output)}.path}}}}")
        return rendered

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


def _inline_params(part: Any, inputs: dict[str, PipelineParam]) -> str:
    """``part`` as text, each run-time value in it (a PipelineParam, or one an f-string serialized) replaced by
    the placeholder of an input; the inputs it takes are added to ``inputs``."""
    text = part.pattern if isinstance(part, PipelineParam) else str(part)
    for match in _SERIALIZED.finditer(text):
        input_name = io_name(f"{match.group(1) or 'param'}-{match.group(2)}".replace("__loop__", "loop"))
        inputs[input_name] = _find_param(match.group(1), match.group(2))
        text = text.replace(match.group(0), f"{{{{inputs.{input_name}}}}}")
    return text


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
        pipeline = _current_pipeline()
        assert pipeline is not None, "a group closes inside the pipeline that opened it"
        pipeline.close(self)


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
    if pipeline_root is not None:
        raise CompileError(
            "@dsl.pipeline(pipeline_root=...) is not supported: kubeline keeps a run's artifacts on the run's "
            "own volume; leave pipeline_root out"
        )

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        wrapper.__dict__.update(  # what the compiler and the loader read back
            _pipeline_name=name if isinstance(name, str) and name else func.__name__,
            _pipeline_description=description or inspect.getdoc(func),
            _is_pipeline=True,
            pipeline_conf=PipelineConf(),
        )
        return wrapper

    if callable(name):  # @dsl.pipeline without parentheses: the function itself came as the name
        func, name = name, None
        return decorate(func)
    return decorate


def python_component(
    name: str,
    description: str | None = None,
    base_image: str | None = None,
    target_component_file: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """KFP's deprecated decorator of a component function: the name, description, base image and component
    file that create_component_from_func (func_to_container_op) then uses; the function itself is unchanged."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func.__dict__.update(
            {
                key: value
                for key, value in (
                    ("_component_human_name", name),
                    ("_component_description", description),
                    ("_component_base_image", base_image),
                    ("_component_target_component_file", target_component_file),
                )
                if value
            }
        )
        return func

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
        """The value an f-string serialized: a parameter, a task output, or the item of the loop being recorded."""
        if not op:
            return self.params.get(name) or PipelineParam(name)
        loop = next((group for group in reversed(self.stack) if isinstance(group, ParallelFor)), None)
        if op == "__loop__" and loop is not None:
            return LoopArgument(loop, tuple(name.split(".")[1:]))
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
