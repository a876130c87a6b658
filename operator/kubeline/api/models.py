"""The kubeline API (``kubeline.dev/v1alpha1``): Pipeline, Run and CacheEntry.

These models are the single source of truth: the CRDs under ``crds/`` are generated from them
(``kubeline crds``), the local runner and the controller parse resources with them, and the SDK and
importers produce documents that validate against them. Field descriptions become ``kubectl explain`` text.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from kubeline.api.constants import API_VERSION, ApiVersion
from kubeline.api.durations import DURATION_PATTERN, parse_duration

#: Task and component names end up in pod names and labels: DNS-1123 labels.
from kubeline.api.names import DNS_LABEL

#: Parameter, input and output names appear inside ``{{...}}`` placeholders.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_-]*$"
IDENTIFIER_RULE = "start with a letter or '_', then use letters, digits, '_' and '-'"
QUANTITY = r"^[+]?[0-9.]+([eE][-+]?[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"

ValueType = Literal["string", "integer", "number", "boolean", "list", "object"]
IOType = Literal["string", "integer", "number", "boolean", "list", "object", "artifact"]
RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
TaskPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Skipped"]

MAX_TASKS = 2000  # in one DAG; loops expand at run time and are not bounded by this
MAX_GROUP_TASKS = 500


def _cel(rule: str, message: str, **extra: str) -> JsonDict:
    return {"rule": rule, "message": message, **extra}


class Model(BaseModel):
    """Base: camelCase on the wire, snake_case in Python, unknown fields rejected (typos are errors)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=False)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def duration_field(description: str, **kwargs: Any) -> Any:
    return Field(None, description=description, pattern=DURATION_PATTERN, max_length=64, **kwargs)


def _check_duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


def _check_timeout(value: str | None) -> str | None:
    """A timeout of zero would mean "no time at all" to some and "no timeout" to others: it is refused."""
    if value is not None and parse_duration(value) == 0:
        raise ValueError(f"{value!r} is zero: use a positive duration, or leave it out for no timeout")
    return value


_NO_TIMEOUT = " Leave it out for no timeout; zero is refused."


# --- Kubernetes types embedded in pipelines -------------------------------------------------------


class Toleration(Model):
    """A Kubernetes toleration: lets steps run on nodes with a matching taint."""

    key: str | None = Field(None, description="Taint key; empty with operator Exists matches every taint.")
    operator: Literal["Exists", "Equal"] | None = Field(None, description="Exists or Equal (default).")
    value: str | None = Field(None, description="Taint value to match with operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="Taint effect to match; empty matches all effects."
    )
    toleration_seconds: StrictInt | None = Field(
        None, description="How long a NoExecute taint is tolerated before eviction."
    )


Quantity = int | float | str


class Resources(Model):
    """Compute resources of a step's container, as in a Kubernetes container spec."""

    requests: dict[str, Quantity] | None = Field(
        None, description="Minimum resources, e.g. {cpu: '500m', memory: 1Gi}."
    )
    limits: dict[str, Quantity] | None = Field(
        None, description="Maximum resources, e.g. {memory: 2Gi, nvidia.com/gpu: 1}."
    )

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities(cls, value: Any) -> Any:
        """Every bad quantity at once, checked before pydantic stops at the first; wrong types are left to the union."""
        import re

        bad = [
            f"{name}: {quantity!r}"
            for name, quantity in (value.items() if isinstance(value, dict) else ())
            if isinstance(quantity, (int, float, str))
            and (isinstance(quantity, bool) or not re.match(QUANTITY, str(quantity)))
        ]
        if bad:
            verb = "is not a Kubernetes quantity" if len(bad) == 1 else "are not Kubernetes quantities"
            raise ValueError(f"{' and '.join(bad)} {verb} (write e.g. 500m, 2, 1Gi)")
        return value


class LocalObjectReference(Model):
    name: str = Field(..., description="Name of the referenced object in the same namespace.")


class EnvVar(Model):
    name: str = Field(..., description="Environment variable name.", min_length=1)
    value: str = Field("", description="Value; may contain placeholders such as {{inputs.x}}.")


# --- Pipeline ---------------------------------------------------------------------------------------


class Param(Model):
    """A pipeline parameter, set by Run.spec.arguments or `kubeline run -p name=value`."""

    name: str = Field(..., description="Parameter name, used as {{params.NAME}}.", pattern=IDENTIFIER, max_length=128)
    type: ValueType = Field("string", description="string, integer, number, boolean, list or object.")
    default: Any = Field(
        None, description="Value used when the Run does not set one; no default makes the parameter required."
    )
    description: str | None = Field(None, description="What the parameter means.")


class Input(Model):
    """An input of a component: a value, or an artifact (a file or directory) given as a path."""

    name: str = Field(
        ...,
        description="Input name, used as {{inputs.NAME}} (value) or {{inputs.NAME.path}} (artifact).",
        pattern=IDENTIFIER,
        max_length=128,
    )
    type: IOType = Field("string", description="Value type, or artifact for files.")
    default: Any = Field(None, description="Value used when the task does not pass the input.")
    optional: bool = Field(False, description="The task may omit the input; its placeholders then render empty.")
    description: str | None = Field(None, description="What the input means.")


class Output(Model):
    """An output of a component: the step writes it to the file at {{outputs.NAME.path}}.

    Values (all types but artifact) travel through the pod's termination message and must stay small
    (4 KiB for all of a step's values together); larger data are artifacts.
    """

    name: str = Field(
        ..., description="Output name, used as {{tasks.TASK.outputs.NAME}}.", pattern=IDENTIFIER, max_length=128
    )
    type: IOType = Field("string", description="Value type, or artifact for files and directories.")
    description: str | None = Field(None, description="What the output holds.")


class Container(Model):
    """The container that runs a step. Placeholders in command, args and env values are resolved per task."""

    image: str = Field(..., description="Container image. The local runner does not use it.", min_length=1)
    command: list[str] | None = Field(None, description="Entrypoint; the image's own when empty.")
    args: list[str] | None = Field(
        None, description="Arguments; may contain {{inputs.X}}, {{inputs.X.path}}, {{outputs.X.path}}."
    )
    env: list[EnvVar] | None = Field(None, description="Environment variables.")
    working_dir: str | None = Field(None, description="Working directory inside the container.")


class Component(Model):
    """A reusable step definition: typed inputs and outputs and the container that computes them."""

    name: str = Field(..., description="Component name, referenced by tasks.", pattern=DNS_LABEL, max_length=63)
    description: str | None = Field(None, description="What the component does.")
    inputs: list[Input] | None = Field(
        None,
        description="Inputs, passed by the tasks' arguments.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    outputs: list[Output] | None = Field(
        None,
        description="Outputs, written by the step to {{outputs.NAME.path}}.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    container: Container = Field(..., description="The container that runs the step.")


class Caching(Model):
    """Reuse of earlier results with the same component and inputs."""

    enabled: bool = Field(True, description="Look up and record results in the cache.")
    max_staleness: str | None = duration_field(
        "Oldest result to reuse, e.g. P7D or 24h; P0D never reuses. Empty: no bound."
    )

    _staleness = field_validator("max_staleness")(_check_duration)


class Backoff(Model):
    duration: str = Field("10s", description="Wait before the first retry.", pattern=DURATION_PATTERN, max_length=64)
    factor: StrictFloat = Field(
        2, description="Each retry waits this many times longer than the one before.", ge=1, le=10
    )
    max_duration: str | None = duration_field("Longest wait between two attempts.")

    _durations = field_validator("duration", "max_duration")(_check_duration)


class Retries(Model):
    """Retry a failed step: each attempt is a new pod (or process)."""

    limit: StrictInt = Field(..., description="Retries after the first attempt.", ge=0, le=100)
    backoff: Backoff | None = Field(None, description="Wait between attempts.")


class Scheduling(Model):
    """Placement and resources of a step's pod. Task settings override pipeline defaults, which override the operator's."""

    resources: Resources | None = Field(None, description="CPU, memory and accelerator requests and limits.")
    node_selector: dict[str, str] | None = Field(None, description="Node labels the pod requires.")
    tolerations: list[Toleration] | None = Field(None, description="Taints the pod tolerates.")
    affinity: dict[str, Any] | None = Field(
        None,
        description="Kubernetes affinity (nodeAffinity, podAffinity, podAntiAffinity) as in a pod spec.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class Task(Scheduling):
    """A node of the pipeline DAG: one step running a component, or a group of tasks (a sub-DAG)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.component) != has(self.dag)", "set exactly one of component and dag"),
            ]
        }
    )

    name: str = Field(
        ...,
        description="Task name, unique in its DAG; used as {{tasks.NAME.outputs.X}}.",
        pattern=DNS_LABEL,
        max_length=63,
    )
    display_name: str | None = Field(
        None, description="Name shown to people (the UI); the name stays the task's id.", max_length=256
    )
    component: str | None = Field(
        None, description="Name of the component the step runs (set this or dag).", pattern=DNS_LABEL, max_length=63
    )
    dag: Dag | None = Field(
        None, description="Tasks of a group; a group shares its when and forEach (set this or component)."
    )
    arguments: dict[str, Any] | None = Field(
        None,
        description="Component inputs by name: literals or placeholders such as {{params.x}}, {{tasks.t.outputs.y}}, {{item}}.",
        json_schema_extra={"additionalProperties": {"x-kubernetes-preserve-unknown-fields": True}},
    )
    after: list[str] | None = Field(None, description="Tasks that must finish first, beyond data dependencies.")
    when: str | None = Field(
        None,
        description='Condition; the task (or group) is skipped when false. Example: "{{tasks.flip.outputs.result}} == heads and {{params.n}} > 3".',
        max_length=4096,
    )
    for_each: Any = Field(
        None,
        description="Run the task (or group) once per item of a list: a literal list or a placeholder of a produced list. {{item}} and {{item.FIELD}} refer to the item.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    parallelism: StrictInt | None = Field(None, description="With forEach: most iterations running at once.", ge=1)
    caching: Caching | None = Field(None, description="Result caching; defaults to the pipeline's.")
    retries: Retries | None = Field(None, description="Retries of a failing step; defaults to the pipeline's.")
    timeout: str | None = duration_field("Longest time one attempt may run, e.g. 30m." + _NO_TIMEOUT)

    _timeout = field_validator("timeout")(_check_timeout)


class Dag(Model):
    tasks: list[Task] = Field(
        ...,
        description="Tasks of the group.",
        min_length=1,
        max_length=MAX_GROUP_TASKS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


class ExitTask(Scheduling):
    """The exit handler: a step that runs after all others, whatever the outcome (like KFP's ExitHandler)."""

    name: str = Field("exit-handler", description="Name shown in the Run's status.", pattern=DNS_LABEL, max_length=63)
    display_name: str | None = Field(
        None, description="Name shown to people (the UI); the name stays the step's id.", max_length=256
    )
    component: str = Field(..., description="Name of the component to run.", pattern=DNS_LABEL, max_length=63)
    arguments: dict[str, Any] | None = Field(
        None,
        description="Component inputs; {{run.status}} is Succeeded, Failed or Cancelled.",
        json_schema_extra={"additionalProperties": {"x-kubernetes-preserve-unknown-fields": True}},
    )
    retries: Retries | None = Field(None, description="Retries of the exit handler.")
    timeout: str | None = duration_field("Longest time the exit handler may run." + _NO_TIMEOUT)

    _timeout = field_validator("timeout")(_check_timeout)


class Defaults(Scheduling):
    """Pipeline-wide settings, like KFP's PipelineConf; each task may override them."""

    image_pull_secrets: list[LocalObjectReference] | None = Field(None, description="Secrets for pulling step images.")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None, description="Pull policy of step images."
    )
    service_account_name: str | None = Field(
        None, description="Service account of step pods (must be allowed by the operator)."
    )
    caching: Caching | None = Field(None, description="Default result caching of every step.")
    retries: Retries | None = Field(None, description="Default retries of every step.")
    timeout: str | None = duration_field("Default timeout of every step attempt." + _NO_TIMEOUT)

    _timeout = field_validator("timeout")(_check_timeout)


class PipelineSpec(Model):
    """What a pipeline computes: components, the DAG of tasks that run them, and run-wide settings."""

    description: str | None = Field(None, description="What the pipeline does.")
    params: list[Param] | None = Field(
        None,
        description="Parameters, set per run.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    components: list[Component] = Field(
        ...,
        description="Step definitions used by the tasks.",
        min_length=1,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    tasks: list[Task] = Field(
        ...,
        description="The DAG: tasks run when the tasks they depend on have finished.",
        min_length=1,
        max_length=MAX_TASKS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    on_exit: ExitTask | None = Field(None, description="A step that runs after all others, whatever the outcome.")
    outputs: dict[str, str] | None = Field(
        None, description="Run outputs by name, e.g. {result: '{{tasks.multiply.outputs.product}}'}."
    )
    defaults: Defaults | None = Field(None, description="Settings every task inherits.")
    parallelism: StrictInt | None = Field(None, description="Most steps running at once in one run.", ge=1)
    timeout: str | None = duration_field(
        "Longest time a run may take; then running steps stop and the exit handler runs." + _NO_TIMEOUT
    )
    ttl_after_finished: str | None = duration_field("Delete a finished Run (and its pods) this long after it ends.")

    _timeout = field_validator("timeout")(_check_timeout)
    _ttl = field_validator("ttl_after_finished")(_check_duration)


class ObjectMeta(BaseModel):
    """The parts of Kubernetes metadata kubeline reads; the rest is kept as is."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class Pipeline(Model):
    """A pipeline definition. Runs refer to it by name."""

    api_version: ApiVersion = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec


# --- Run ----------------------------------------------------------------------------------------------


class PipelineRef(Model):
    name: str = Field(..., description="Name of a Pipeline in the Run's namespace.", min_length=1, max_length=253)


class RunSpec(Model):
    """One execution of a pipeline with its arguments. The operator freezes the pipeline and arguments
    when the run starts: later edits do not change a run in flight (pipelineRef and cancel are checked here)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.pipelineRef) != has(self.pipelineSpec)", "set exactly one of pipelineRef and pipelineSpec"
                ),
                _cel(
                    "has(self.pipelineRef) == has(oldSelf.pipelineRef) && (!has(self.pipelineRef) || self.pipelineRef == oldSelf.pipelineRef)",
                    "pipelineRef is immutable: create a new Run instead",
                ),
                _cel(
                    "!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",
                    "a cancelled Run cannot be resumed",
                ),
            ]
        }
    )

    pipeline_ref: PipelineRef | None = Field(None, description="The Pipeline to run (set this or pipelineSpec).")
    pipeline_spec: PipelineSpec | None = Field(None, description="An inline pipeline (set this or pipelineRef).")
    arguments: dict[str, Any] | None = Field(
        None,
        description="Values of the pipeline's params by name.",
        json_schema_extra={"additionalProperties": {"x-kubernetes-preserve-unknown-fields": True}},
    )
    cancel: bool = Field(
        False, description="Set to true to stop the run: running steps are stopped, then the exit handler runs."
    )


class Progress(Model):
    total: int = Field(0, description="Steps known so far (loops add steps as they expand).")
    pending: int = 0
    running: int = 0
    succeeded: int = Field(0, description="Steps that succeeded, cached ones included.")
    failed: int = 0
    skipped: int = 0
    cached: int = Field(0, description="Steps served from the cache, with no pod.")


class TaskStatus(Model):
    phase: TaskPhase
    attempts: int | None = Field(None, description="Attempts made (retries create new ones).")
    pod: str | None = Field(None, description="Pod of the latest attempt.")
    node: str | None = Field(None, description="Node the latest attempt ran on.")
    started_at: str | None = None
    finished_at: str | None = None
    cached: bool | None = Field(None, description="Served from the cache: no pod ran.")
    outputs: dict[str, str] | None = None
    message: str | None = None
    exit_code: int | None = None
    cache_key: str | None = Field(None, description="Set for steps whose artifacts others read: their lineage.")
    stored_outputs: list[str] | None = Field(
        None,
        description="Value outputs too large to report inline, kept in the artifact store (outputs hold sha256:…).",
    )
    log: str | None = Field(None, description="Key of the step's log in the run's artifact store, once it ended.")


class Condition(Model):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class RunStatus(Model):
    phase: RunPhase | None = Field(None, description="Pending, Running, Succeeded, Failed or Cancelled.")
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    progress: Progress | None = None
    progress_text: str | None = Field(None, description="done/total, shown by kubectl get runs.")
    duration: str | None = None
    tasks: dict[str, TaskStatus] | None = Field(None, description="Steps by id (task name, with [index] inside loops).")
    outputs: dict[str, str] | None = Field(None, description="The pipeline's outputs.")
    conditions: list[Condition] | None = None
    artifact_store: str | None = Field(
        None, description="The artifact store of the run's objects and logs, as a URL (never with credentials)."
    )
    pipeline_spec: dict[str, Any] | None = Field(
        None,
        description="The pipeline as the run started it: later edits of the Pipeline do not change a run in flight.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    arguments: dict[str, Any] | None = Field(
        None,
        description="The parameter values the run started with, defaults included.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class Run(Model):
    """An execution of a pipeline."""

    api_version: ApiVersion = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Run"] = "Run"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RunSpec
    status: RunStatus | None = None


# --- CacheEntry ---------------------------------------------------------------------------------------


class CacheEntrySpec(Model):
    """A result of a step, reusable by any step with the same component and resolved inputs."""

    key: str = Field(
        ..., description="Digest of the component (image, command, args) and resolved inputs.", min_length=1
    )
    component: str | None = Field(None, description="Component that produced it.")
    outputs: dict[str, str] | None = Field(
        None, description="The step's outputs: values, and sha256:… references for objects in the artifact store."
    )
    stored_outputs: list[str] | None = Field(
        None, description="Value outputs kept in the artifact store (too large to report inline)."
    )
    created_at: str = Field(..., description="When the result was made; maxStaleness is measured from here.")
    run: str | None = Field(None, description="Run whose step produced it.")


class CacheEntry(Model):
    api_version: ApiVersion = Field(API_VERSION, alias="apiVersion")
    kind: Literal["CacheEntry"] = "CacheEntry"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: CacheEntrySpec


Task.model_rebuild()
