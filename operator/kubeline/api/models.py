"""The kubeline API (``kubeline.dev/v1alpha1``): Pipeline, Run and CacheEntry.

These models are the single source of truth: the CRDs under ``crds/`` are generated from them
(``kubeline crds``), the local runner and the controller parse resources with them, and the SDK and
importers produce documents that validate against them. Field descriptions become ``kubectl explain`` text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from kubeline.api.constants import API_VERSION, ApiVersion
from kubeline.api.durations import DURATION_PATTERN, parse_duration

#: Task and component names end up in pod names and labels: DNS-1123 labels.
from kubeline.api.names import DNS_LABEL, MAX_LABEL

#: Parameter, input and output names appear inside ``{{...}}`` placeholders.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_-]*$"
IDENTIFIER_RULE = "start with a letter or '_', then use letters, digits, '_' and '-'"
QUANTITY = r"^[+]?[0-9.]+([eE][-+]?[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"

ValueType = Literal["string", "integer", "number", "boolean", "list", "object"]
IOType = Literal["string", "integer", "number", "boolean", "list", "object", "artifact", "metrics", "ui-metadata"]
RunPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
TaskPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Skipped"]

MAX_TASKS = 2000  # in one DAG; loops expand at run time and are not bounded by this
MAX_GROUP_TASKS = 500
#: Descriptions are docstrings: 64 KiB is far beyond any; a longer text only fills etcd's 1.5 MiB per object,
#: and past that the API server's answer ("request is too large") names no field.
MAX_DESCRIPTION = 65536


def description_field(description: str) -> Any:
    return Field(None, description=description, max_length=MAX_DESCRIPTION)


def _cel(rule: str, message: str, **extra: str) -> JsonDict:
    return {"rule": rule, "message": message, **extra}


#: A timeout that passed the duration pattern and has no digit but 0 is zero (0s, PT0S, 0h0m).
_POSITIVE_TIMEOUT = _cel(
    "!has(self.timeout) || self.timeout.matches('[1-9]')",
    "timeout: zero is refused; use a positive duration, or leave timeout out for no timeout",
)


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
#: The API server checks quantities too: the pattern applies to text, the minimum to numbers.
_QUANTITY_SCHEMA: JsonDict = {"pattern": QUANTITY, "minimum": 0}
_QUANTITIES: JsonDict = {"additionalProperties": {"x-kubernetes-int-or-string": True, **_QUANTITY_SCHEMA}}
#: A pipeline volume's size: a quantity, or the parameter that gives it (as engine.volumes reads it).
_SIZE_SCHEMA: JsonDict = {
    "pattern": rf"^({QUANTITY[1:-1]}|\{{\{{\s*params\.[A-Za-z_][A-Za-z0-9_-]*\s*\}}\}})$",
    "minimum": 0,
}


def _quantity_problems(value: Any) -> Any:
    """Every bad quantity of a mapping at once (pydantic stops at the first); wrong types are left to the union."""
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


class Resources(Model):
    """Compute resources of a step's container, as in a Kubernetes container spec."""

    requests: dict[str, Quantity] | None = Field(
        None, description="Minimum resources, e.g. {cpu: '500m', memory: 1Gi}.", json_schema_extra=_QUANTITIES
    )
    limits: dict[str, Quantity] | None = Field(
        None, description="Maximum resources, e.g. {memory: 2Gi, nvidia.com/gpu: 1}.", json_schema_extra=_QUANTITIES
    )

    _quantities = field_validator("requests", "limits", mode="before")(_quantity_problems)


class LocalObjectReference(Model):
    name: str = Field(..., description="Name of the referenced object in the same namespace.")


class KeySelector(Model):
    name: str = Field(..., description="Name of the Secret or ConfigMap in the Run's namespace.", min_length=1)
    key: str = Field(..., description="Key in it.", min_length=1)
    optional: bool | None = Field(None, description="Start the step even when the key is missing.")


#: Pod fields a step may read through the downward API (KFP's components read the pod's name and namespace).
FIELD_PATH = (
    r"^(metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]"
    r"|spec\.(nodeName|serviceAccountName)|status\.(podIP|hostIP))$"
)


class FieldSelector(Model):
    field_path: str = Field(
        ...,
        description="metadata.name, metadata.namespace, metadata.uid, spec.nodeName, status.podIP…",
        pattern=FIELD_PATH,
    )


class EnvVarSource(Model):
    """Where a variable's value comes from: set exactly one of secretKeyRef, configMapKeyRef and fieldRef."""

    # checked by kubeline (below), not by a CEL rule: a rule here is estimated once per variable of every container
    # of every component, and the API server refused the CRD as over its cost budget

    secret_key_ref: KeySelector | None = Field(None, description="A key of a Secret.")
    config_map_key_ref: KeySelector | None = Field(None, description="A key of a ConfigMap.")
    field_ref: FieldSelector | None = Field(None, description="A field of the step's pod (the downward API).")

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvVarSource:
        given = [f for f in ("secret_key_ref", "config_map_key_ref", "field_ref") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of secretKeyRef, configMapKeyRef and fieldRef")
        return self


class EnvVar(Model):
    name: str = Field(..., description="Environment variable name.", min_length=1)
    value: str = Field("", description="Value; may contain placeholders such as {{inputs.x}}.")
    value_from: EnvVarSource | None = Field(
        None, description="Read the value from a Secret, a ConfigMap or the pod (instead of value)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if self.value and self.value_from is not None:
            raise ValueError(f"env {self.name!r}: set value or valueFrom, not both")
        return self


class NamedSource(Model):
    name: str = Field(..., description="Name of the Secret or ConfigMap in the Run's namespace.", min_length=1)
    optional: bool | None = Field(None, description="Start the step even when it is missing.")


class EnvFromSource(Model):
    """Every key of a Secret or ConfigMap as variables: set one of secretRef and configMapRef."""

    prefix: str | None = Field(None, description="Put before each variable's name.")
    secret_ref: NamedSource | None = Field(None, description="A Secret.")
    config_map_ref: NamedSource | None = Field(None, description="A ConfigMap.")

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvFromSource:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise ValueError("set exactly one of secretRef and configMapRef")
        return self


class VolumeMount(Model):
    name: str = Field(..., description="Name of one of the component's volumes.", pattern=DNS_LABEL, max_length=63)
    mount_path: str = Field(..., description="Absolute path in the container.", pattern=r"^/", min_length=2)
    sub_path: str | None = Field(None, description="Mount this path inside the volume instead of its root.")
    read_only: bool | None = Field(None, description="Mount read-only.")


class Capabilities(Model):
    drop: list[str] | None = Field(None, description="Capabilities to drop (ALL is always dropped).")
    add: list[Literal["NET_BIND_SERVICE"]] | None = Field(
        None, description="The restricted Pod Security profile allows adding NET_BIND_SERVICE only."
    )


class SeccompProfile(Model):
    type: Literal["RuntimeDefault", "Localhost"] = Field(
        ..., description="RuntimeDefault or Localhost; Unconfined is refused by the restricted profile."
    )
    localhost_profile: str | None = Field(None, description="With Localhost: the profile's file on the node.")


class SecurityContext(Model):
    """A container's security settings, within Kubernetes' restricted Pod Security profile: what it forbids
    (privileged, root, privilege escalation, added capabilities but NET_BIND_SERVICE, no seccomp) is refused."""

    run_as_user: StrictInt | None = Field(None, description="User id; 0 (root) is refused.", ge=1)
    run_as_group: StrictInt | None = Field(None, description="Group id.", ge=0)
    run_as_non_root: Literal[True] | None = Field(None, description="Must stay true when set.")
    read_only_root_filesystem: bool | None = Field(None, description="Make the image's filesystem read-only.")
    allow_privilege_escalation: Literal[False] | None = Field(None, description="Must stay false when set.")
    privileged: Literal[False] | None = Field(None, description="Must stay false when set.")
    capabilities: Capabilities | None = Field(None, description="Capabilities to drop or (NET_BIND_SERVICE) add.")
    seccomp_profile: SeccompProfile | None = Field(None, description="Seccomp profile.")


# --- Pipeline ---------------------------------------------------------------------------------------


class Param(Model):
    """A pipeline parameter, set by Run.spec.arguments or `kubeline run -p name=value`."""

    name: str = Field(..., description="Parameter name, used as {{params.NAME}}.", pattern=IDENTIFIER, max_length=128)
    type: ValueType = Field("string", description="string, integer, number, boolean, list or object.")
    default: Any = Field(
        None, description="Value used when the Run does not set one; no default makes the parameter required."
    )
    description: str | None = description_field("What the parameter means.")


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
    description: str | None = description_field("What the input means.")


class Output(Model):
    """An output of a component: the step writes it to the file at {{outputs.NAME.path}}.

    Values (all types but artifact) travel through the pod's termination message and must stay small
    (4 KiB for all of a step's values together); larger data are artifacts.
    """

    name: str = Field(
        ..., description="Output name, used as {{tasks.TASK.outputs.NAME}}.", pattern=IDENTIFIER, max_length=128
    )
    type: IOType = Field(
        "string",
        description="Value type, or artifact for files and directories. metrics: a JSON file of scalar metrics "
        '({"metrics": [{"name": "accuracy", "numberValue": 0.9, "format": "PERCENTAGE"}]}, KFP\'s '
        "mlpipeline-metrics), a value shown in the Run's status.metrics. ui-metadata: a JSON file of "
        "visualizations (KFP's mlpipeline-ui-metadata: markdown, table, confusion matrix, ROC, web app), "
        "kept as an artifact.",
    )
    description: str | None = description_field("What the output holds.")


class Container(Model):
    """The container that runs a step. Placeholders in command, args and env values are resolved per task."""

    image: str = Field(..., description="Container image. The local runner does not use it.", min_length=1)
    command: list[str] | None = Field(None, description="Entrypoint; the image's own when empty.")
    args: list[str] | None = Field(
        None, description="Arguments; may contain {{inputs.X}}, {{inputs.X.path}}, {{outputs.X.path}}."
    )
    env: list[EnvVar] | None = Field(None, description="Environment variables.")
    env_from: list[EnvFromSource] | None = Field(None, description="Every key of Secrets or ConfigMaps as variables.")
    working_dir: str | None = Field(None, description="Working directory inside the container.")
    volume_mounts: list[VolumeMount] | None = Field(
        None, description="The component's volumes mounted in this container (the local runner maps them to folders)."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        None, description="Pull policy of this image; the pipeline's default when empty."
    )
    security_context: SecurityContext | None = Field(
        None, description="Security settings within the restricted Pod Security profile."
    )


class SideContainer(Container):
    """A sidecar (running beside the step, stopped when it ends) or an init container (run before it)."""

    name: str = Field(..., description="Container name in the pod.", pattern=DNS_LABEL, max_length=63)
    resources: Resources | None = Field(None, description="CPU and memory of this container.")


class PersistentVolumeClaimSource(Model):
    claim_name: str = Field(
        ...,
        description="Name of the claim; may be a placeholder such as {{inputs.pvc}} (given {{volumes.NAME.name}}).",
        min_length=1,
    )
    read_only: bool | None = Field(None, description="Mount read-only.")


class KeyToPath(Model):
    key: str = Field(..., min_length=1)
    path: str = Field(..., min_length=1)
    mode: StrictInt | None = None


class SecretSource(Model):
    secret_name: str = Field(..., description="Name of a Secret in the Run's namespace.", min_length=1)
    items: list[KeyToPath] | None = Field(None, description="Only these keys, at these paths.")
    default_mode: StrictInt | None = Field(None, description="Mode bits of the files.")
    optional: bool | None = None


class ConfigMapSource(Model):
    name: str = Field(..., description="Name of a ConfigMap in the Run's namespace.", min_length=1)
    items: list[KeyToPath] | None = Field(None, description="Only these keys, at these paths.")
    default_mode: StrictInt | None = Field(None, description="Mode bits of the files.")
    optional: bool | None = None


class EmptyDirSource(Model):
    medium: Literal["", "Memory"] | None = Field(None, description="Memory for a tmpfs.")
    size_limit: Quantity | None = Field(None, description="Most space it may use.", json_schema_extra=_QUANTITY_SCHEMA)

    @field_validator("size_limit", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> Any:
        return value if value is None else _quantity_problems({"sizeLimit": value})["sizeLimit"]


class Volume(Model):
    """A volume of a step's pod. Kinds the restricted Pod Security profile allows: persistentVolumeClaim,
    secret, configMap, emptyDir (hostPath and the like are refused)."""

    name: str = Field(
        ..., description="Volume name, used by the containers' volumeMounts.", pattern=DNS_LABEL, max_length=63
    )
    persistent_volume_claim: PersistentVolumeClaimSource | None = Field(None, description="A PersistentVolumeClaim.")
    secret: SecretSource | None = Field(None, description="A Secret's keys as files.")
    config_map: ConfigMapSource | None = Field(None, description="A ConfigMap's keys as files.")
    empty_dir: EmptyDirSource | None = Field(None, description="A scratch folder that lives as long as the pod.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Volume:
        given = [
            f for f in ("persistent_volume_claim", "secret", "config_map", "empty_dir") if getattr(self, f) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"volume {self.name!r}: set exactly one of persistentVolumeClaim, secret, configMap and emptyDir "
                "(other kinds, such as hostPath, are not allowed in step pods)"
            )
        return self


class PodMetadata(Model):
    labels: dict[str, str] | None = Field(None, description="Labels added to the step's pods (not kubeline.dev/ ones).")
    annotations: dict[str, str] | None = Field(
        None, description="Annotations added to the step's pods (not kubeline.dev/ ones)."
    )

    @field_validator("labels", "annotations")
    @classmethod
    def _not_kubelines(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        reserved = sorted(k for k in value or {} if k.split("/")[0].endswith("kubeline.dev"))
        if reserved:
            raise ValueError(f"{', '.join(reserved)}: keys under kubeline.dev/ are kubeline's own; choose another")
        refused = sorted(k for k, v in (value or {}).items() if not _kubernetes_key_allowed(k, v))
        if refused:
            raise ValueError(
                f"{', '.join(refused)}: keys under kubernetes.io/ and k8s.io/ change how Kubernetes runs the pod; a "
                f"step may set only {', '.join(_ALLOWED_KUBERNETES_KEYS)} and AppArmor profiles runtime/default or "
                "localhost/NAME (the restricted Pod Security profile)"
            )
        return value


#: Keys of Kubernetes' own domains a step's pod may carry: they name or describe it, and change nothing of how it runs.
_ALLOWED_KUBERNETES_KEYS = (
    "app.kubernetes.io/*",
    "kubectl.kubernetes.io/*",
    "cluster-autoscaler.kubernetes.io/safe-to-evict",
)
_APPARMOR = "container.apparmor.security.beta.kubernetes.io/"


def _kubernetes_key_allowed(key: str, value: str) -> bool:
    """Whether a label or annotation key may be set by a pipeline: any outside kubernetes.io and k8s.io, the
    descriptive ones inside, and AppArmor annotations only with a confining profile."""
    domain = key.split("/")[0] if "/" in key else ""
    if not (domain.endswith("kubernetes.io") or domain.endswith("k8s.io")):
        return True
    if key.startswith(_APPARMOR):
        return value == "runtime/default" or (value.startswith("localhost/") and len(value) > len("localhost/"))
    return any(
        key.startswith(allowed.rstrip("*")) if allowed.endswith("*") else key == allowed
        for allowed in _ALLOWED_KUBERNETES_KEYS
    )


class Component(Model):
    """A reusable step definition: typed inputs and outputs and the container that computes them."""

    name: str = Field(..., description="Component name, referenced by tasks.", pattern=DNS_LABEL, max_length=63)
    description: str | None = description_field("What the component does.")
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
    volumes: list[Volume] | None = Field(
        None,
        description="Volumes of the step's pod, mounted by the containers' volumeMounts.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    sidecars: list[SideContainer] | None = Field(
        None, description="Containers running beside the step (native sidecars: stopped when the step ends)."
    )
    init_containers: list[SideContainer] | None = Field(None, description="Containers run, in order, before the step.")
    pod_metadata: PodMetadata | None = Field(None, description="Labels and annotations added to the step's pods.")


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
    item_name: str | None = Field(
        None,
        description="With forEach: a name for this loop's item, read as {{items.NAME}} (and {{items.NAME.FIELD}}) "
        "also from loops nested inside it; {{item}} is always the innermost loop's item.",
        pattern=IDENTIFIER,
        max_length=63,
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

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_POSITIVE_TIMEOUT]})

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

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_POSITIVE_TIMEOUT]})

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


AccessMode = Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", "ReadWriteOncePod"]


class PipelineVolume(Model):
    """A PersistentVolumeClaim each Run creates before its first step (KFP's VolumeOp); steps mount it through a
    component volume whose claimName is {{volumes.NAME.name}}. Owned by the Run (deleted with it) unless kept."""

    name: str = Field(..., description="Volume name, used as {{volumes.NAME.name}}.", pattern=DNS_LABEL, max_length=40)
    size: Quantity = Field(
        ...,
        description="Requested storage, e.g. 1Gi, or a pipeline parameter: {{params.NAME}} (KFP's VolumeOp(size=param)).",
        json_schema_extra=_SIZE_SCHEMA,
    )
    storage_class_name: str | None = Field(None, description="Storage class; the cluster's default when empty.")
    access_modes: list[AccessMode] = Field(
        default_factory=lambda: list[AccessMode](["ReadWriteOnce"]),
        description="Access modes of the claim.",
        min_length=1,
    )
    claim_name: str | None = Field(
        None,
        description="A fixed claim name (reused by every run, so kept); RUN-NAME (the run's name and this "
        "volume's) when empty.",
        pattern=DNS_LABEL,
        max_length=63,
    )
    keep: bool = Field(False, description="Keep the claim after the Run is deleted (it is owned by the Run otherwise).")
    annotations: dict[str, str] | None = Field(None, description="Annotations of the claim.")


class PipelineSpec(Model):
    """What a pipeline computes: components, the DAG of tasks that run them, and run-wide settings."""

    # the top-level tasks' timeouts are checked here: as a rule of Task, the API server estimates it once per task
    # of every group too, over its cost budget (kubeline checks the groups' tasks)
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _POSITIVE_TIMEOUT,
                _cel(
                    "self.tasks.all(t, !has(t.timeout) || t.timeout.matches('[1-9]'))",
                    "tasks: a task's timeout is zero; use a positive duration, or leave timeout out for no timeout",
                ),
            ]
        }
    )

    description: str | None = description_field("What the pipeline does.")
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
    volumes: list[PipelineVolume] | None = Field(
        None,
        description="Volumes (PersistentVolumeClaims) each Run creates for its steps to share (KFP's VolumeOp).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
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
    name: str = Field(
        ..., description="Name of a Pipeline in the Run's namespace.", pattern=DNS_LABEL, max_length=MAX_LABEL
    )


class RetryOf(Model):
    """This Run retries another: the same frozen pipeline and arguments, reusing what succeeded there."""

    name: str = Field(
        ...,
        description="The Run to retry, in the same namespace. Its succeeded steps are reused (even with caching off); "
        "failed, cancelled and skipped ones run again.",
        pattern=DNS_LABEL,
        max_length=MAX_LABEL,
    )
    from_steps: list[str] | None = Field(
        None,
        description="Run these steps again with everything downstream of them, even where they succeeded: task names "
        "(every loop instance) or step ids such as train[2].",
        max_length=MAX_TASKS,
    )


class RunSpec(Model):
    """One execution of a pipeline with its arguments. The operator freezes the pipeline and arguments
    when the run starts: later edits do not change a run in flight (pipelineRef and cancel are checked here)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.retryOf) || has(self.pipelineRef) != has(self.pipelineSpec)",
                    "set exactly one of pipelineRef and pipelineSpec",
                ),
                _cel(
                    "!has(self.retryOf) || (!has(self.pipelineRef) && !has(self.pipelineSpec))",
                    "retryOf takes the pipeline of the Run it retries: leave out pipelineRef and pipelineSpec "
                    "(or create a new Run instead)",
                ),
                _cel(
                    "has(self.pipelineRef) == has(oldSelf.pipelineRef) && (!has(self.pipelineRef) || self.pipelineRef == oldSelf.pipelineRef)",
                    "pipelineRef is immutable: create a new Run instead",
                ),
                _cel(
                    "has(self.retryOf) == has(oldSelf.retryOf) && (!has(self.retryOf) || self.retryOf == oldSelf.retryOf)",
                    "retryOf is immutable: create a new Run instead",
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
    retry_of: RetryOf | None = Field(
        None, description="Retry another Run (instead of pipelineRef or pipelineSpec): kubeline retry RUN sets it."
    )
    queue: str | None = Field(
        None,
        description="The Queue (in the Run's namespace) the run waits in: it starts when the queue has room.",
        pattern=DNS_LABEL,
        max_length=MAX_LABEL,
    )
    priority: StrictInt | None = Field(
        None,
        description="Among waiting Runs, higher starts first (default 0); equal ones start in creation order, and a "
        "Run's wait raises its priority over time, so none waits forever.",
        ge=-1000,
        le=1000,
    )
    cancel: bool = Field(
        False, description="Set to true to stop the run: running steps are stopped, then the exit handler runs."
    )

    @model_validator(mode="after")
    def _retry_keeps_the_arguments(self) -> RunSpec:
        if self.retry_of is not None and self.arguments is not None:
            raise ValueError(
                "retryOf takes the arguments of the Run it retries: leave out arguments (or create a new Run instead)"
            )
        return self


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
    reused_from: str | None = Field(
        None, description="The Run (this one retries) whose result of this step was reused: no pod ran."
    )


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
    tasks: dict[str, TaskStatus] | None = Field(
        None,
        description="Steps by id (task name, with [index] inside loops). A large run lists here only what is not "
        "finished; its finished steps are in the RunRecords named by records.",
    )
    records: list[str] | None = Field(
        None,
        description="RunRecords (same namespace) holding the finished steps left out of tasks, oldest first: a run "
        "of thousands of steps stays far below etcd's object size limit. `kubeline get RUN` shows them all.",
    )
    unlisted: int | None = Field(
        None,
        description="Steps not yet finished left out of tasks to keep the Run small (progress counts them; "
        "their pods carry the label kubeline.dev/run).",
    )
    outputs: dict[str, str] | None = Field(None, description="The pipeline's outputs.")
    conditions: list[Condition] | None = None
    metrics: dict[str, dict[str, float]] | None = Field(
        None,
        description="Scalar metrics the steps reported (KFP's mlpipeline-metrics), by step id then metric name.",
    )
    volumes: dict[str, str] | None = Field(None, description="The claims of the pipeline's volumes, by volume name.")
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
    queue: str | None = Field(
        None,
        description="The Queue the run started from (spec.queue then): it counts there until it ends, whatever "
        "spec.queue says later.",
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


# --- RunRecord ----------------------------------------------------------------------------------------


class RunRecordSpec(Model):
    """Finished steps of one Run, moved out of its status when the run grew large; written once, never changed."""

    run: str = Field(..., description="The Run whose steps these are (it owns this record).", min_length=1)
    tasks: dict[str, TaskStatus] = Field(
        default_factory=dict, description="Finished steps by id, as Run.status.tasks lists them."
    )


class RunRecord(Model):
    api_version: ApiVersion = Field(API_VERSION, alias="apiVersion")
    kind: Literal["RunRecord"] = "RunRecord"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RunRecordSpec


# --- RecurringRun -------------------------------------------------------------------------------------


class Schedule(Model):
    """When a RecurringRun makes a Run: a cron expression or a fixed interval, between optional start and end."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel("has(self.cron) != has(self.interval)", "set exactly one of cron and interval"),
            ]
        }
    )

    cron: str | None = Field(
        None,
        description="A cron expression: 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds "
        "first as KFP accepts them (e.g. '0 0 2 * * *'), or @hourly, @daily, @weekly, @monthly, @yearly.",
        min_length=1,
        max_length=256,
    )
    time_zone: str | None = Field(
        None,
        description="The IANA time zone the cron expression is read in (e.g. Europe/Paris); default UTC.",
        max_length=64,
    )
    interval: str | None = duration_field(
        "Make a Run this often (e.g. 30s, 1h; KFP's interval_second), from startTime, else from the RecurringRun's creation."
    )
    start_time: str | None = Field(
        None, description="No Run is scheduled before this time (RFC 3339).", json_schema_extra={"format": "date-time"}
    )
    end_time: str | None = Field(
        None, description="No Run is scheduled after this time (RFC 3339).", json_schema_extra={"format": "date-time"}
    )

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) == 0:
            raise ValueError(f"{value!r} is zero: a RecurringRun needs a positive interval, e.g. 30s or 1h")
        return value

    @field_validator("start_time", "end_time")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not an RFC 3339 time: write e.g. 2026-12-01T02:00:00Z") from None
            if moment.tzinfo is None:
                raise ValueError(f"{value!r} has no time zone: end it with Z or an offset such as +01:00")
        return value


class RunTemplateMetadata(Model):
    labels: dict[str, str] | None = Field(None, description="Labels every Run made gets (besides kubeline's own).")
    annotations: dict[str, str] | None = Field(None, description="Annotations every Run made gets.")


class RunTemplateSpec(Model):
    """What each Run made by a RecurringRun runs: a Run's spec without cancel or retryOf."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _cel(
                    "has(self.pipelineRef) != has(self.pipelineSpec)", "set exactly one of pipelineRef and pipelineSpec"
                )
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
    queue: str | None = Field(None, description="The Queue the Runs wait in.", pattern=DNS_LABEL, max_length=MAX_LABEL)
    priority: StrictInt | None = Field(None, description="The Runs' priority in their queue.", ge=-1000, le=1000)


class RunTemplate(Model):
    metadata: RunTemplateMetadata | None = None
    spec: RunTemplateSpec


class RecurringRunSpec(Model):
    """Runs of a pipeline made on a schedule (KFP's recurring runs, Kubernetes' CronJob for pipelines)."""

    schedule: Schedule
    template: RunTemplate = Field(..., description="The Run each trigger makes.")
    experiment: str | None = Field(
        None, description="The experiment the Runs belong to (kubeline.dev/experiment).", max_length=MAX_LABEL
    )
    max_concurrency: StrictInt | None = Field(
        None,
        description="Most Runs of this RecurringRun running at once (default 10); with concurrencyPolicy Allow, a "
        "trigger past it waits for one to finish.",
        ge=1,
        le=1000,
    )
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        "Allow",
        description="When a trigger comes while Runs are active: Allow (up to maxConcurrency), Forbid (skip this "
        "trigger) or Replace (cancel the active Runs, then start the new one).",
    )
    catch_up: bool = Field(
        True,
        description="Make a Run for every trigger missed (the operator was down, or suspended past one); false: only "
        "the latest missed one (KFP's no_catchup).",
    )
    suspend: bool = Field(False, description="Make no Runs while true (KFP's disable_job); Runs already made go on.")
    successful_runs_history_limit: StrictInt | None = Field(
        None, description="Keep this many succeeded Runs, deleting older ones (default: keep all).", ge=0
    )
    failed_runs_history_limit: StrictInt | None = Field(
        None, description="Keep this many failed or cancelled Runs, deleting older ones (default: keep all).", ge=0
    )


class RecurringRunStatus(Model):
    last_schedule_time: str | None = Field(None, description="The latest trigger a Run was made (or skipped) for.")
    next_schedule_time: str | None = Field(None, description="The next trigger, if any.")
    last_run: str | None = Field(None, description="The Run made last.")
    active: list[str] | None = Field(None, description="Runs made by this RecurringRun that have not finished.")
    message: str | None = None
    conditions: list[Condition] | None = None


class RecurringRun(Model):
    """Runs a pipeline on a schedule."""

    api_version: ApiVersion = Field(API_VERSION, alias="apiVersion")
    kind: Literal["RecurringRun"] = "RecurringRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RecurringRunSpec
    status: RecurringRunStatus | None = None


# --- Queue --------------------------------------------------------------------------------------------


class QueueSpec(Model):
    """A limit on how many Runs that name this queue run at once (e.g. two GPU trainings across all pipelines)."""

    max_running: StrictInt = Field(..., description="Most Runs from this queue running at once.", ge=1, le=100000)
    description: str | None = Field(None, description="What the queue is for.", max_length=1024)


class QueueStatus(Model):
    running: list[str] | None = Field(None, description="Runs from this queue that run now.")
    waiting: list[str] | None = Field(
        None, description="The first 100 Runs waiting for room, in the order they will start (waitingCount: all)."
    )
    running_count: int | None = Field(None, description="How many run now.")
    waiting_count: int | None = Field(None, description="How many wait.")


class Queue(Model):
    """Runs that name a queue wait in it until it has room."""

    api_version: ApiVersion = Field(API_VERSION, alias="apiVersion")
    kind: Literal["Queue"] = "Queue"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: QueueSpec
    status: QueueStatus | None = None


Task.model_rebuild()
