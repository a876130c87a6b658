"""The KFP v1 DSL: pipelines, tasks, conditions, loops and exit handlers, recorded for the compiler.

Calling a `@pipeline` function under the compiler records every task created in it, the groups
(`with Condition`, `with ParallelFor`, `with ExitHandler`) they sit in, and how their inputs are wired
(`task.output`, `task.outputs["name"]`, pipeline parameters, loop items).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, NoReturn

from kubeline.api.limits import MAX_GROUP_DEPTH
from kubeline.api.names import numbered, to_dns_label
from kubeline.engine.volumes import free_volume_name
from kubeline.sdk import podspec
from kubeline.sdk.components import (
    IO,
    CompileError,
    ComponentSpec,
    dns_name,
    env_entry,
    io_name,
    kfp_output,
    output_name,
    pythonic,
)

RUN_ID_PLACEHOLDER = "{{run.name}}"
EXECUTION_ID_PLACEHOLDER = "{{run.name}}"
WORKFLOW_STATUS = "{{workflow.status}}"  # what KFP v1 exit handlers read; kubeline's {{run.status}}
#: Argo's run values as KFP v1 programs write them (in arguments and parameter defaults), and kubeline's.
ARGO_RUN_VALUES = {
    WORKFLOW_STATUS: "{{run.status}}",
    "{{workflow.uid}}": "{{run.uid}}",
    "{{workflow.name}}": "{{run.name}}",
    "{{workflow.namespace}}": "{{run.namespace}}",
}


def with_run_values(text: str) -> str:
    """``text`` with Argo's {{workflow.uid}}, {{workflow.name}}… written as kubeline's {{run.uid}}, {{run.name}}…"""
    for argo, kubeline in ARGO_RUN_VALUES.items():
        text = text.replace(argo, kubeline)
    return text


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
    """The item of a ParallelFor; `item.field` reads a field of a dict item.

    Its text (in an f-string, str()) names its loop's item, `{{pipelineparam:op=__loop__;name=loop-item-1.field}}`,
    so that an outer loop's item used inside an inner loop still reads the outer item."""

    def __init__(self, loop: Group, fields: tuple[str, ...] = ()):
        super().__init__(".".join((loop.item_name, *fields)), op_name="__loop__")
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

_CONTAINER_ONLY = (
    "a kubeline step's container has an image, command, args, env, envFrom, volume mounts, a working "
    "directory, an image pull policy, a security context and resources: set what the program needs in the "
    "image or through its arguments"
)
#: container_kwargs of a ContainerOp (V1Container's keywords) and the method that honours each
_CONTAINER_KWARGS = {
    "env": "add_env_variable",
    "env_from": "add_env_from",
    "volume_mounts": "add_volume_mount",
    "image_pull_policy": "set_image_pull_policy",
    "security_context": "set_security_context",
    "working_dir": "set_working_dir",
    "resources": "set_resources",
}


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
        for keyword, value in (("name", name), ("image", image)):
            if not isinstance(value, str):
                raise CompileError(
                    f"ContainerOp(name={name!r}): {keyword} must be text, not {type(value).__name__} {value!r}: "
                    f"give the step's {keyword} as a string"
                )
        unknown = sorted(set(container_kwargs or {}) - set(_CONTAINER_KWARGS))
        if unknown:
            raise CompileError(
                f"ContainerOp {name!r}: container_kwargs {', '.join(unknown)} not supported: {_CONTAINER_ONLY} "
                f"(container_kwargs takes {', '.join(_CONTAINER_KWARGS)})"
            )
        outputs = {**(output_artifact_paths or {}), **(file_outputs or {})}
        spec, wiring = _spec_from_container(
            name, image, _as_list(command), _as_list(arguments), outputs, list(artifact_argument_paths or [])
        )
        # output_artifact_paths are files only (often folders), never values, as KFP passes them
        artifacts = {output_name(o) for o in set(output_artifact_paths or {}) - set(file_outputs or {})}
        spec.outputs = [
            replace(o, type="artifact") if o.name in artifacts and o.type == "string" else o for o in spec.outputs
        ]
        self._init(spec, wiring)
        for keyword, value in (container_kwargs or {}).items():
            method = getattr(self, _CONTAINER_KWARGS[keyword])
            for one in value if isinstance(value, (list, tuple)) else [value]:
                method(one)
        for container in init_containers or []:
            self.add_init_container(container)
        for sidecar in sidecars or []:
            self.add_sidecar(sidecar)
        self.add_pvolumes(pvolumes)

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
        #: KFP's op.pvolumes (mount path -> PipelineVolume) and op.pvolume (the only one, else None)
        self.pvolumes: dict[str, PipelineVolume] = {}
        self.pvolume: PipelineVolume | None = None
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

    @property
    def container(self) -> ContainerOp:
        """KFP's op.container: its methods (add_env_variable, add_volume_mount…) are the task's own."""
        return self

    def after(self, *tasks: ContainerOp | VolumeOp) -> ContainerOp:
        """Run after ``tasks``. A VolumeOp is accepted and needs no waiting: the Run creates its volumes
        before its first step."""
        for task in tasks:
            if not isinstance(task, VolumeOp):
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
        self.tolerations.append(podspec.fixed(f"task {self.name!r}: add_toleration()", k8s_dict(tolerations)))
        return self

    def add_affinity(self, affinity: Any) -> ContainerOp:
        self.affinity = podspec.fixed(f"task {self.name!r}: add_affinity()", k8s_dict(affinity))
        return self

    # -- environment

    def add_env_variable(self, env_variable: Any) -> ContainerOp:
        """A kubernetes V1EnvVar (or its dict): a value, whose run-time values become inputs of the task, or a
        valueFrom (a key of a Secret or ConfigMap, a field of the pod)."""
        name, value = self._env(f"task {self.name!r}: add_env_variable()", k8s_dict(env_variable))
        self.component_spec = replace(self.component_spec, env={**self.component_spec.env, name: value})
        return self

    def set_env_variable(self, name: str, value: Any) -> ContainerOp:
        text = self._inline(value, f"env variable {name!r}")
        self.component_spec = replace(self.component_spec, env={**self.component_spec.env, name: text})
        return self

    def add_env_from(self, env_from: Any) -> ContainerOp:
        """A kubernetes V1EnvFromSource: every key of a Secret or ConfigMap as a variable."""
        source = podspec.env_from_source(f"task {self.name!r}: add_env_from()", k8s_dict(env_from))
        self.component_spec = replace(self.component_spec, env_from=[*self.component_spec.env_from, source])
        return self

    def _env(self, where: str, variable: dict[str, Any]) -> tuple[str, str | dict[str, Any]]:
        name = variable.get("name")
        if not isinstance(name, str) or not name:
            raise CompileError(f"{where}: an env variable needs a name")
        if variable.get("valueFrom") is not None:
            if variable.get("value"):
                raise CompileError(f"{where}: env variable {name!r} sets value and value_from: keep one")
            return name, podspec.env_source(f"{where}: env variable {name!r} value_from", variable["valueFrom"])
        return name, self._inline(variable.get("value") or "", f"env variable {name!r}")

    def _inline(self, value: Any, what: str) -> str:
        """``value`` as text, each run-time value in it an input of the task's component (as KFP passes them)."""
        inputs: dict[str, PipelineParam] = {}
        text = _inline_params(value, inputs)
        existing = {i.name for i in self.component_spec.inputs}
        clash = [n for n in inputs if n in existing and str(self.arguments.get(n)) != str(inputs[n])]
        if clash:
            raise CompileError(
                f"task {self.name!r}: {what} needs an input {clash[0]!r}, which the component "
                "already has for another value: rename that input"
            )
        self.component_spec = replace(
            self.component_spec,
            inputs=[
                *self.component_spec.inputs,
                *(IO(n, "string", required=True) for n in inputs if n not in existing),
            ],
        )
        self.arguments = {**self.arguments, **inputs}
        return text

    # -- the container's own settings

    def set_image_pull_policy(self, image_pull_policy: str) -> ContainerOp:
        policy = podspec.pull_policy(f"task {self.name!r}: set_image_pull_policy()", image_pull_policy)
        self.component_spec = replace(self.component_spec, image_pull_policy=policy)
        return self

    def set_security_context(self, security_context: Any) -> ContainerOp:
        """A kubernetes V1SecurityContext, within the restricted Pod Security profile (what it forbids is refused)."""
        context = podspec.security_context(f"task {self.name!r}: set_security_context()", k8s_dict(security_context))
        self.component_spec = replace(self.component_spec, security_context=context)
        return self

    def set_working_dir(self, working_dir: str) -> ContainerOp:
        """container_kwargs={"working_dir": ...}: where the command starts."""
        directory = podspec.fixed(f"task {self.name!r}: working_dir", working_dir)
        self.component_spec = replace(self.component_spec, working_dir=str(directory))
        return self

    def set_resources(self, resources: Any) -> ContainerOp:
        """container_kwargs={"resources": V1ResourceRequirements(...)}: the task's requests and limits."""
        given = k8s_dict(resources)
        for kind in ("requests", "limits"):
            for name, value in (given.get(kind) or {}).items():
                self._resource(kind, name, value)
        return self

    # -- volumes

    def add_volume(self, volume: Any) -> ContainerOp:
        """A kubernetes V1Volume (or a PipelineVolume) of the kinds a step pod takes: persistentVolumeClaim,
        secret, configMap, emptyDir. A claim name may be a run-time value (a parameter, vop.outputs["name"])."""
        where = f"task {self.name!r}: add_volume()"
        checked = podspec.volume(where, volume.as_dict() if isinstance(volume, PipelineVolume) else k8s_dict(volume))
        claim = checked.get("persistentVolumeClaim")
        if claim is not None:
            claim["claimName"] = self._inline(claim.get("claimName") or "", f"volume {checked['name']!r}")
        same = [v for v in self.component_spec.volumes if v["name"] == checked["name"]]
        if same and same[0] != checked:
            raise CompileError(f"{where}: the task has another volume named {checked['name']!r}: name each apart")
        if not same:
            self.component_spec = replace(self.component_spec, volumes=[*self.component_spec.volumes, checked])
        return self

    def add_volume_mount(self, volume_mount: Any) -> ContainerOp:
        """A kubernetes V1VolumeMount of one of the task's volumes (add it with add_volume)."""
        mount = podspec.volume_mount(f"task {self.name!r}: add_volume_mount()", k8s_dict(volume_mount))
        taken = [m for m in self.component_spec.volume_mounts if m["mountPath"] == mount["mountPath"]]
        if taken and taken[0] != mount:
            raise CompileError(
                f"task {self.name!r}: add_volume_mount(): {mount['mountPath']} is already the mount path of "
                f"volume {taken[0]['name']!r}: mount each volume at a path of its own"
            )
        if not taken:
            self.component_spec = replace(
                self.component_spec, volume_mounts=[*self.component_spec.volume_mounts, mount]
            )
        return self

    def add_pvolumes(self, pvolumes: dict[str, Any] | None = None) -> ContainerOp:
        """Mount volumes by path ({"/mnt": vop.volume}); the task waits for the tasks that wrote to them
        (task.pvolume of an earlier task), and its own op.pvolumes carry it to the tasks that mount them next."""
        for mount_path, given in (pvolumes or {}).items():
            pvolume = given if isinstance(given, PipelineVolume) else PipelineVolume(volume=given)
            self.dependent_names.extend(pvolume.dependent_names)
            pvolume = pvolume.after(self)
            self.pvolumes[mount_path] = pvolume
            self.add_volume(pvolume)
            self.add_volume_mount({"name": pvolume.name, "mountPath": mount_path})
        self.pvolume = next(iter(self.pvolumes.values())) if len(self.pvolumes) == 1 else None
        return self

    # -- more containers in the step's pod

    def add_sidecar(self, sidecar: Any) -> ContainerOp:
        """A dsl.Sidecar (or V1Container): runs beside the step and is stopped when the step ends."""
        container = self._side_container(f"task {self.name!r}: add_sidecar()", sidecar)
        self.component_spec = replace(self.component_spec, sidecars=[*self.component_spec.sidecars, container])
        return self

    def add_init_container(self, init_container: Any) -> ContainerOp:
        """A dsl.UserContainer (or V1Container): runs to completion before the step, in the order added."""
        container = self._side_container(f"task {self.name!r}: add_init_container()", init_container)
        self.component_spec = replace(
            self.component_spec, init_containers=[*self.component_spec.init_containers, container]
        )
        return self

    def _side_container(self, where: str, given: Any) -> dict[str, Any]:
        fields = given.as_dict() if isinstance(given, UserContainer) else k8s_dict(given)
        mirror = fields.pop("mirrorVolumeMounts", None)
        container = podspec.side_container_fields(where, fields)
        where = f"{where} {container['name']!r}"
        for key in ("command", "args"):
            if key in container:
                container[key] = [self._inline(p, f"container {container['name']!r}") for p in _as_list(container[key])]
        if "env" in container:
            container["env"] = [env_entry(*self._env(where, k8s_dict(v))) for v in container["env"]]
        if mirror:  # KFP's mirror_volume_mounts: the main container's mounts too (known once the task is built)
            container["mirrorVolumeMounts"] = True
        return container

    # -- pod labels and annotations

    def add_pod_label(self, name: str, value: str) -> ContainerOp:
        """A label on the step's pods; KFP's caching label `pipelines.kubeflow.org/enable_caching` sets caching."""
        if name == KFP_ENABLE_CACHING_LABEL and str(value).lower() in ("true", "false"):
            return self.set_caching_options(str(value).lower() == "true")
        labels = {**self.component_spec.pod_labels, **_pod_metadata(self.name, "add_pod_label", name, value)}
        self.component_spec = replace(self.component_spec, pod_labels=labels)
        return self

    def add_pod_annotation(self, name: str, value: str) -> ContainerOp:
        """An annotation on the step's pods; KFP's `pipelines.kubeflow.org/max_cache_staleness` sets caching."""
        if name == KFP_MAX_CACHE_STALENESS_ANNOTATION:
            self.execution_options.caching_strategy.max_cache_staleness = str(value)
            return self
        annotations = {
            **self.component_spec.pod_annotations,
            **_pod_metadata(self.name, "add_pod_annotation", name, value),
        }
        self.component_spec = replace(self.component_spec, pod_annotations=annotations)
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

    # -- what kubeline cannot honour

    add_volume_devices = _refused(
        "add_volume_devices", "a step pod mounts volumes as folders (add_volume, add_pvolumes), not block devices"
    )
    set_termination_message_path = _refused(
        "set_termination_message_path", "kubeline reads the step's outputs from its termination message"
    )
    set_termination_message_policy = _refused(
        "set_termination_message_policy", "kubeline reads the step's outputs from its termination message"
    )
    add_port = _refused("add_port", _CONTAINER_ONLY)
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


def k8s_dict(value: Any) -> dict[str, Any]:
    """kubernetes.client models (V1Toleration, V1EnvVar…) or plain dicts, as camelCase dicts; a run-time value
    inside (a PipelineParam) becomes its serialized text, which the caller turns into an input or refuses."""
    plain = _plain(value)
    if not isinstance(plain, dict):
        raise CompileError(f"expected a Kubernetes object or a dict, not {type(value).__name__}")
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, PipelineParam):
        return value.pattern
    if isinstance(value, dict):
        return {key: _plain(v) for key, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    attributes = getattr(type(value), "attribute_map", None)  # how every kubernetes.client model names its fields
    if isinstance(attributes, dict):
        return {
            key: _plain(getattr(value, name)) for name, key in attributes.items() if getattr(value, name) is not None
        }
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise CompileError(f"expected a Kubernetes object, a dict or a value, not {type(value).__name__} ({value!r})")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _pod_metadata(task: str, call: str, key: Any, value: Any) -> dict[str, str]:
    """A label or annotation of the program's for the step's pods: fixed text, never one of kubeline's keys."""
    where = f"task {task!r}: {call}({key!r})"
    if not isinstance(key, str) or not key or key.split("/")[0].endswith("kubeline.dev"):
        raise CompileError(f"{where}: keys under kubeline.dev/ are kubeline's own (and a key is text): choose another")
    return {key: str(podspec.fixed(where, value))}


class InputArgumentPath:
    """KFP's dsl.InputArgumentPath: a task output passed as a file. In a ContainerOp's command or arguments it is
    the file's path; in ``artifact_argument_paths`` with ``path`` given, the file is put at that path first."""

    def __init__(self, argument: Any, input: str | None = None, path: str | None = None):
        self.argument, self.input, self.path = argument, input, path


def _artifact_input(where: str, given: Any, inputs: dict[str, PipelineParam], files: set[str]) -> str:
    """The input an InputArgumentPath becomes (a file), added to ``inputs`` and ``files``."""
    if not isinstance(given, InputArgumentPath):
        raise CompileError(f"{where}: artifact_argument_paths takes dsl.InputArgumentPath(task.outputs['NAME'], ...)")
    if not isinstance(given.argument, PipelineParam):
        raise CompileError(
            f"{where}: InputArgumentPath({given.argument!r}) passes a constant: kubeline passes files only from task "
            "outputs; write the text to a file in the step instead"
        )
    param = given.argument
    name = io_name(given.input or (f"{param.op_name}-{param.name}" if param.op_name else param.name))
    inputs[name] = param
    files.add(name)
    return name


def _spec_from_container(
    name: str,
    image: str,
    command: list[Any],
    arguments: list[Any],
    file_outputs: dict[str, str],
    artifact_argument_paths: list[Any],
) -> tuple[ComponentSpec, dict[str, Any]]:
    """A raw ContainerOp as a component: run-time values become inputs, fixed output files placeholders."""
    inputs: dict[str, PipelineParam] = {}
    files: set[str] = set()  # inputs passed as files (InputArgumentPath)
    declared = {output: kfp_output(output, None, "string") for output in file_outputs}
    where = f"ContainerOp {name!r}"
    copied_in = {
        _artifact_input(where, given, inputs, files): given.path
        for given in artifact_argument_paths
        if not isinstance(given, InputArgumentPath) or given.path
    }

    def text(part: Any) -> str:
        if isinstance(part, InputArgumentPath):
            return f"{{{{inputs.{_artifact_input(where, part, inputs, files)}.path}}}}"
        rendered = _inline_params(part, inputs)
        for output, path in file_outputs.items():
            rendered = rendered.replace(path, f"{{{{outputs.{declared[output].name}.path}}}}")
        return rendered

    rendered_command = [text(p) for p in command]
    rendered_args = [text(p) for p in arguments]
    spec = ComponentSpec(
        dns_name(name),
        [IO(n, "artifact" if n in files else "string") for n in inputs],
        list(declared.values()),
        image,
        rendered_command,
        rendered_args,
    )
    missing = [
        o
        for o, path in file_outputs.items()
        if not any(f"outputs.{declared[o].name}.path" in t for t in rendered_command + rendered_args)
    ]
    if missing:
        # the program writes to a fixed path kubeline does not see: copy it to the output's file at exit
        copies = " && ".join(
            f'mkdir -p "$(dirname "$KUBELINE_OUT_{i}")" && cp {file_outputs[o]} "$KUBELINE_OUT_{i}"'
            for i, o in enumerate(missing)
        )
        spec.env.update(
            {f"KUBELINE_OUT_{i}": f"{{{{outputs.{declared[o].name}.path}}}}" for i, o in enumerate(missing)}
        )
        spec.command = ["sh", "-c", f'"$@" && {copies}', "kubeline-container-op", *rendered_command]
    if copied_in:
        # the program reads a fixed path: put each file there first
        copies = " && ".join(
            f'mkdir -p "$(dirname {path})" && cp -r "$KUBELINE_IN_{i}" {path}'
            for i, path in enumerate(copied_in.values())
        )
        spec.env.update({f"KUBELINE_IN_{i}": f"{{{{inputs.{n}.path}}}}" for i, n in enumerate(copied_in)})
        spec.command = ["sh", "-c", f'{copies} && exec "$@"', "kubeline-container-op", *spec.command]
    return spec, dict(inputs)


def _inline_params(part: Any, inputs: dict[str, PipelineParam]) -> str:
    """``part`` as text, each run-time value in it (a PipelineParam, or one an f-string serialized) replaced by
    the placeholder of an input; the inputs it takes are added to ``inputs``."""
    text = part.pattern if isinstance(part, PipelineParam) else str(part)
    for match in _SERIALIZED.finditer(text):
        op = match.group(1)
        input_name = io_name(match.group(2) if op == "__loop__" else f"{op or 'param'}-{match.group(2)}")
        inputs[input_name] = _find_param(match.group(1), match.group(2))
        text = text.replace(match.group(0), f"{{{{inputs.{input_name}}}}}")
    return text


def _find_param(op: str, name: str) -> PipelineParam:
    pipeline = _current_pipeline()
    if pipeline is None:
        return PipelineParam(name, op or None)
    return pipeline.find_param(op, name)


class UserContainer:
    """KFP's dsl.UserContainer: an init container of a task (op.add_init_container). Keywords are V1Container's
    (env, env_from, volume_mounts, image_pull_policy, security_context, resources, working_dir)."""

    def __init__(
        self,
        name: str,
        image: str,
        command: Any = None,
        args: Any = None,
        mirror_volume_mounts: bool | None = None,
        **kwargs: Any,
    ):
        self.name, self.image, self.command, self.args = name, image, command, args
        self.mirror_volume_mounts = mirror_volume_mounts
        self.kwargs = kwargs

    def set_mirror_volume_mounts(self, mirror_volume_mounts: bool = True) -> UserContainer:
        """Mount the task's volumes in this container too, at the same paths."""
        self.mirror_volume_mounts = mirror_volume_mounts
        return self

    def as_dict(self) -> dict[str, Any]:
        fields = {
            "name": self.name,
            "image": self.image,
            "command": _as_list(self.command) or None,
            "args": _as_list(self.args) or None,
            "mirrorVolumeMounts": self.mirror_volume_mounts,
            **{_camel(key): value for key, value in self.kwargs.items()},
        }
        return k8s_dict(fields)


class Sidecar(UserContainer):
    """KFP's dsl.Sidecar: a container beside the task's (op.add_sidecar), stopped when the step ends."""


#: KFP's access modes of a VolumeOp
VOLUME_MODE_RWO = ["ReadWriteOnce"]
VOLUME_MODE_RWM = ["ReadWriteMany"]
VOLUME_MODE_ROM = ["ReadOnlyMany"]
_ACCESS_MODES = ("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod")
_QUANTITY = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")  # what KFP's VolumeOp accepts as a size


class PipelineVolume:
    """KFP's dsl.PipelineVolume: a volume passed between tasks (``pvolumes={"/mnt": vol}``).

    ``PipelineVolume(pvc="claim")`` mounts an existing claim (the name may be a pipeline parameter);
    ``PipelineVolume(volume=V1Volume(...))`` copies a volume; ``vol.after(task)`` is the same volume, mounted
    only once ``task`` is done."""

    def __init__(self, pvc: Any = None, volume: Any = None, **kwargs: Any):
        if volume is not None and kwargs:
            raise CompileError("PipelineVolume(volume=...) takes no other keywords: copy the volume as it is")
        if volume is not None:
            given = volume.as_dict() if isinstance(volume, PipelineVolume) else k8s_dict(volume)
            self.name: str = given.pop("name", "") or ""
            self.source = given
        else:
            self.name = kwargs.pop("name", "") or ""
            if pvc is not None and kwargs:
                raise CompileError("PipelineVolume(pvc=...) takes only a name besides: the claim is the volume")
            self.source = (
                {"persistentVolumeClaim": {"claimName": _plain(pvc)}}
                if pvc is not None
                else {_camel(key): _plain(value) for key, value in kwargs.items()}
            )
        if not self.name:  # as KFP names it, from what it holds; shortened to a valid volume name
            digest = hashlib.sha256(json.dumps(self.source, sort_keys=True).encode()).hexdigest()
            self.name = f"pvolume-{digest[:16]}"
        self.dependent_names: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **json.loads(json.dumps(self.source))}

    @property
    def persistent_volume_claim(self) -> SimpleNamespace | None:
        """The claim, as on KFP's PipelineVolume (a V1Volume): ``vop.volume.persistent_volume_claim.claim_name``
        is the claim's name, a run-time value for a VolumeOp's volume."""
        claim = self.source.get("persistentVolumeClaim")
        if claim is None:
            return None
        name = claim.get("claimName")
        whole = _SERIALIZED.fullmatch(name) if isinstance(name, str) else None
        return SimpleNamespace(
            claim_name=_find_param(whole.group(1), whole.group(2)) if whole else name,
            read_only=claim.get("readOnly"),
        )

    def after(self, *ops: ContainerOp | VolumeOp) -> PipelineVolume:
        """This volume, mounted by the tasks that take it only after ``ops`` are done."""
        copy = PipelineVolume(volume=self)
        tasks = [op for op in ops if not isinstance(op, VolumeOp)]  # a VolumeOp's claim exists from the start
        kept = [name for name in self.dependent_names if not any(_waits_for(task, name) for task in tasks)]
        copy.dependent_names = list(dict.fromkeys([*(task.name for task in tasks), *kept]))
        return copy


def _waits_for(task: ContainerOp, name: str) -> bool:
    """Whether ``task`` is ``name`` or runs after it (through its after list): KFP drops such implied waits."""
    pipeline = _current_pipeline()
    ops = pipeline.ops if pipeline else {}
    seen: set[str] = set()
    pending = [task.name]
    while pending:
        current = pending.pop()
        if current == name:
            return True
        if current not in seen and current in ops:
            seen.add(current)
            pending.extend(ops[current].dependent_names)
    return False


class VolumeParam(PipelineParam):
    """An output of a VolumeOp: the claim's name or size, known to every task as {{volumes.NAME.name|size}}."""

    def __init__(self, field_name: str, op: VolumeOp):
        super().__init__(field_name, op.name)
        self.volume = op.volume_name


class VolumeOp:
    """KFP's dsl.VolumeOp: a PersistentVolumeClaim each Run creates before its first step (a pipeline volume).

    Rules where KFP's meaning cannot carry over:
    - the volume is named after ``resource_name``; the claim is RUN-NAME (as KFP's {{workflow.name}}-NAME), or
      exactly ``resource_name`` with ``generate_unique_name=False`` (then every run reuses it, so it is kept);
    - the claim is owned by the Run and deleted with it, unless the program asks to keep it: a fixed name
      (above) or ``set_owner_reference=False`` written out (KFP's default leaves every claim behind);
    - a VolumeOp inside a ParallelFor or a Condition is one volume per run, created when the run starts and
      shared by every iteration (what a per-iteration volume would need, a name per item, is refused);
    - ``size`` may be a pipeline parameter, not a task output (the claim exists before any task runs);
    - ``data_source`` (a snapshot), ``volume_name``, ``k8s_resource`` and actions other than create are refused.
    """

    def __init__(
        self,
        resource_name: Any = None,
        size: Any = None,
        storage_class: str | None = None,
        modes: list[str] | None = None,
        annotations: dict[str, str] | None = None,
        data_source: Any = None,
        volume_name: str | None = None,
        generate_unique_name: bool = True,
        *,
        name: str,
        action: str = "create",
        set_owner_reference: bool | None = None,
        **kwargs: Any,
    ):
        where = f"VolumeOp {name!r}"
        refused = {
            "data_source": (data_source, "kubeline creates empty claims; copy the data in a first step"),
            "volume_name": (volume_name, "kubeline lets the storage class bind the claim; leave it out"),
            **{
                key: (
                    value,
                    "kubeline's pipeline volumes take resource_name, size, storage_class, modes and annotations",
                )
                for key, value in kwargs.items()
            },
        }
        for keyword, (value, instead) in refused.items():
            if value:
                raise CompileError(f"{where}: {keyword}=... is not supported: {instead}")
        if action != "create":
            raise CompileError(f"{where}: action={action!r} is not supported: a VolumeOp creates its claim")
        if not podspec.fixed(f"{where}: resource_name", resource_name):
            raise CompileError(f"{where}: give resource_name, the claim's name, e.g. resource_name='data'")
        pipeline = _current_pipeline()
        if pipeline is None:
            raise RuntimeError("dsl.VolumeOp is only usable inside a @dsl.pipeline function")
        self.name = pipeline.unique_name(dns_name(name))
        self.volume_name = free_volume_name(to_dns_label(str(resource_name), 36, fallback="volume"))
        self.document: dict[str, Any] = {
            "name": self.volume_name,
            "size": _volume_size(where, size),
            "accessModes": _access_modes(where, modes),
        }
        if storage_class:
            self.document["storageClassName"] = str(podspec.fixed(f"{where}: storage_class", storage_class))
        if not generate_unique_name:
            self.document["claimName"] = to_dns_label(str(resource_name))
        if set_owner_reference is False:
            self.document["keep"] = True
        if annotations:
            self.document["annotations"] = {
                str(k): str(v) for k, v in podspec.fixed(f"{where}: annotations", annotations).items()
            }
        self.outputs = _Outputs(self.name, {f: VolumeParam(f, self) for f in ("name", "size")})
        self.output = self.outputs["name"]
        self.volume = PipelineVolume(name=self.name, pvc=self.outputs["name"])
        pipeline.add_volume(self)

    def after(self, *ops: Any) -> VolumeOp:
        """Accepted: the Run creates its volumes before its first step, which is after nothing."""
        return self


def _volume_size(where: str, size: Any) -> Any:
    if isinstance(size, PipelineParam):
        if size.op_name is not None:
            raise CompileError(
                f"{where}: size can be a pipeline parameter, not a task output: the Run creates its volumes "
                "before its first step"
            )
        return size
    if not size or not _QUANTITY.match(str(size)):
        raise CompileError(f"{where}: size {size!r}: give a whole number, optionally with a unit, e.g. 1Gi or 500M")
    return str(size)


def _access_modes(where: str, modes: Any) -> list[str]:
    chosen = list(podspec.fixed(f"{where}: modes", modes or VOLUME_MODE_RWM))  # KFP's default: ReadWriteMany
    unknown = [m for m in chosen if m not in _ACCESS_MODES]
    if unknown:
        raise CompileError(
            f"{where}: access mode {unknown[0]!r}: use dsl.VOLUME_MODE_RWO, VOLUME_MODE_RWM or VOLUME_MODE_ROM"
        )
    return chosen


class ResourceOp:
    """KFP's dsl.ResourceOp (any Kubernetes object as a step): refused, a step runs a container."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise CompileError(
            f"dsl.ResourceOp {kwargs.get('name', '')!r} is not supported: a kubeline step runs a container; create "
            "a PersistentVolumeClaim with dsl.VolumeOp, or other objects from a step with kubectl"
        )


class VolumeSnapshotOp(ResourceOp):
    """KFP's dsl.VolumeSnapshotOp: refused (kubeline's pipeline volumes are claims, not snapshots)."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise CompileError(
            f"dsl.VolumeSnapshotOp {kwargs.get('name', '')!r} is not supported: kubeline's pipeline volumes are "
            "claims only; copy the data a step needs into a dsl.VolumeOp volume"
        )


# -- groups --------------------------------------------------------------------------------------------------


@dataclass
class Group:
    kind: str  # "root" | "condition" | "loop" | "exit"
    name: str
    item_name: str = ""  # a loop's: how its item is named in the compiled pipeline ({{items.loop-item-1}})
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
        self.image_pull_secrets = [k8s_dict(s) for s in image_pull_secrets]
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


def component(func: Callable[..., ContainerOp]) -> Callable[..., ContainerOp]:
    """KFP's deprecated ``@dsl.component``: a function that returns a ContainerOp, used as is (KFP only checked
    the types its annotations name; kubeline checks every argument's type when compiling)."""

    @functools.wraps(func)
    def make(*args: Any, **kwargs: Any) -> ContainerOp:
        op = func(*args, **kwargs)
        if not isinstance(op, ContainerOp):
            raise CompileError(
                f"@dsl.component {func.__name__}() must return a dsl.ContainerOp, not {type(op).__name__}"
            )
        return op

    return make


def graph_component(func: Callable[..., Any]) -> Callable[..., Any]:
    """KFP's ``@dsl.graph_component`` (a sub-graph that may call itself): refused, a Pipeline is a fixed graph."""
    raise CompileError(
        f"@dsl.graph_component {getattr(func, '__name__', func)!r} is not supported: a kubeline Pipeline is a fixed "
        "graph, it cannot recurse; call the steps in a plain Python function, or repeat them with dsl.ParallelFor"
    )


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
        self.volume_ops: dict[str, VolumeOp] = {}  # by op name
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

    def add_volume(self, op: VolumeOp) -> None:
        """A VolumeOp: a volume of the whole run, wherever the program made it."""
        same = [v for v in self.volume_ops.values() if v.volume_name == op.volume_name]
        if same:
            raise CompileError(
                f"VolumeOps {same[0].name!r} and {op.name!r} both make a volume named {op.volume_name!r}: give "
                "each its own resource_name"
            )
        self.volume_ops[op.name] = op

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
            if group.kind == "loop":
                group.item_name = f"loop-item-{self.group_counts[prefix]}"
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
        if op == "__loop__":
            return loop_argument(name, self.stack)
        if op in self.ops:
            return self.ops[op].outputs.get(name) or PipelineParam(name, op)
        if op in self.volume_ops:
            return self.volume_ops[op].outputs[name]
        return PipelineParam(name, op)


def loop_argument(serialized: str, groups: list[Group]) -> LoopArgument:
    """The loop item an f-string serialized (``loop-item-1.field``), found among the groups enclosing its use."""
    item_name, *fields = serialized.split(".")
    loop = next((g for g in groups if g.kind == "loop" and g.item_name == item_name), None)
    if loop is None:
        raise CompileError(
            f"the item of a ParallelFor ({item_name}) is used outside its loop: use a loop's item only inside "
            "its `with dsl.ParallelFor(...)` block"
        )
    return LoopArgument(loop, tuple(fields))


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
