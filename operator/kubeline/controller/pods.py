"""Step pods: rendering one from a StartStep, and reading a finished one. Pure: no API calls here.

A step's command runs under a small POSIX-sh wrapper, in one of two ways:

- **With an artifact store** (the operator's ``artifactStore``): kubeline's own container runs beside the
  user's (``backends/stepdata.py`` says how the two hand over). It downloads the step's stored inputs,
  uploads its artifacts, large values and log, and reports the outputs in its termination message.
- **Without one**: artifacts (files) live on the run's volume, a PersistentVolumeClaim shared by its
  steps, and when the command succeeds the wrapper writes the step's value outputs into the container's
  termination message. Encoding (sh can write it with printf, wc and cat):

    kubeline/v1
    NAME BYTES
    <BYTES bytes of value>
    ...

The component's own pod features (volumes and mounts, variables from Secrets, ConfigMaps and the pod, init
containers, sidecars as native sidecars, labels and annotations, pull policy, security context) are added beside
kubeline's, whose names and keys win. The API models keep them within the restricted Pod Security profile
(no privilege, root or unconfined profile; no Kubernetes keys that change how the pod runs), and a step may
not read the artifact store's keys. A Run's author can otherwise read the namespace's Secrets, as anyone
allowed to create pods there can.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeline.api.constants import (
    API_VERSION,
    ATTEMPT_ANNOTATION,
    CACHE_ANNOTATION,
    CACHE_KEY_ANNOTATION,
    RUN_LABEL,
    STEP_ANNOTATION,
    TASK_LABEL,
)
from kubeline.api.models import Container, EnvVar, PodMetadata, SideContainer
from kubeline.backends import stepdata
from kubeline.controller.config import OperatorConfig, StoreLocation
from kubeline.engine.container import Rendered, render_container
from kubeline.engine.outputs import VALUE_OUTPUTS_LIMIT, OutputError, check_values
from kubeline.engine.settings import merge_scheduling, merge_scheduling_dicts
from kubeline.engine.state import StartStep, StepPhase
from kubeline.engine.stepid import folder_name, pod_name
from kubeline.engine.values import FILE_INPUT_TYPES, FILE_OUTPUT_TYPES
from kubeline.store.layout import log_key
from kubeline.store.urls import store_url

OUTPUTS_DIR = stepdata.OUTPUTS_DIR
INPUTS_DIR = stepdata.INPUTS_DIR
RUN_DIR = stepdata.RUN_DIR
CONTROL_DIR = stepdata.CONTROL_DIR
INPUTS_FAILED = 125  # main's exit code when kubeline's container could not download the inputs
DATA_CONTAINER = "kubeline"
CA_DIR = "/kubeline/store-ca"
ARTIFACTS_DIR = "/kubeline/artifacts"
MESSAGE_HEADER = "kubeline/v1"

#: Runs the step, then writes its value outputs into the termination message (see the module docstring).
#: An f-string built from the constants above: the shell's own braces are doubled.
WRAPPER = rf"""
for dir in $KUBELINE_OUTPUT_DIRS; do mkdir -p "$dir"; done
for spec in $KUBELINE_INPUT_FILES; do
  name=${{spec%%=*}}; var=${{spec#*=}}
  mkdir -p "$(dirname "$name")"; eval "printf '%s' \"\$$var\"" > "$name"
done
"$@"
code=$?
if [ "$code" -eq 0 ]; then
  {{
    echo "{MESSAGE_HEADER}"
    for name in $KUBELINE_VALUE_OUTPUTS; do
      file="${{KUBELINE_OUTPUTS_DIR:-{OUTPUTS_DIR}}}/$name"
      if [ -f "$file" ]; then
        printf '%s %s\n' "$name" "$(wc -c < "$file" | tr -d ' ')"
        cat "$file"
        printf '\n'
      fi
    done
  }} > "${{KUBELINE_TERMINATION_LOG:-/dev/termination-log}}"
fi
exit "$code"
"""


#: The wrapper when kubeline's container moves the data (backends/stepdata.py says how the two hand over
#: through the FIFOs it makes in the control folder, read-only here): hold ``alive`` from the first line,
#: wait for the downloads when there are any, copy the command's output to the log with tee, end what the
#: command left running, leave the exit code, and end when kubeline's container has ended.
STORE_WRAPPER = rf"""
run=${{KUBELINE_RUN_DIR:-{RUN_DIR}}}
control=${{KUBELINE_CONTROL_DIR:-{CONTROL_DIR}}}
until [ -p "$control/done" ]; do sleep 0.02; done
exec 8< "$control/done" 7< "$control/inputs" 9<> "$control/alive"
printf s >&9
for spec in $KUBELINE_INPUT_FILES; do
  name=${{spec%%=*}}; var=${{spec#*=}}
  mkdir -p "$(dirname "$name")"; eval "printf '%s' \"\$$var\"" > "$name"
done
if [ -n "${stepdata.AWAIT_INPUTS_ENV}" ]; then
  read -r ready <&7
  if [ "$ready" != ok ]; then
    echo "kubeline: the step's inputs could not be downloaded (the {DATA_CONTAINER} container says why)" >&2
    exit {INPUTS_FAILED}
  fi
fi
exec 7<&-
mkfifo "$run/out"
tee "$run/log" < "$run/out" &
tee_pid=$!
"$@" > "$run/out" 2>&1
code=$?
if [ "$$" = 1 ]; then  # the container's first process: end what the command left running, except tee
  for pass in 1 2 3 4 5; do
    for dir in /proc/[0-9]*; do
      pid=${{dir#/proc/}}
      [ "$pid" = 1 ] || [ "$pid" = "$tee_pid" ] || kill -9 "$pid" 2>/dev/null
    done
  done
fi
wait "$tee_pid"
printf '%s\n' "$code" > "$run/exit"
exec 9>&-
read -r done <&8
exit "$code"
"""


@dataclass
class PodStore:
    """The artifact store of a Run's pods: where it is, and how kubeline's container reaches it."""

    location: StoreLocation

    @property
    def url(self) -> str:
        """The store as kubeline.store.urls reads it (no credentials: those come from the Secret)."""
        location = self.location
        assert location.bucket is not None
        return store_url(
            location.bucket,
            location.prefix or "",
            endpoint=location.endpoint,
            region=location.region,
            path_style=bool(location.path_style),
            ca_file=f"{CA_DIR}/ca.crt" if location.ca_config_map else None,
            insecure=bool(location.insecure_skip_tls_verify),
        )


def volume_claim_name(run: str) -> str:
    name = f"{run}-artifacts"
    return name if len(name) <= 253 else f"{run[:230]}-{hashlib.sha256(run.encode()).hexdigest()[:8]}-artifacts"


@dataclass
class RunRef:
    """What a pod needs to know about its Run."""

    name: str
    namespace: str
    uid: str
    service_account: str | None = None
    image_pull_policy: str | None = None
    image_pull_secrets: list[dict[str, str]] | None = None
    store: PodStore | None = None  # None: the run's volume holds its files


class PodNotAllowed(ValueError):
    """The pipeline asks for something the operator's configuration does not allow."""


def artifact_path(step_id: str, attempt: int, output: str) -> str:
    """Where a step's artifact output lives on the run's volume: what its consumers are given."""
    return f"{ARTIFACTS_DIR}/{folder_name(step_id)}/a{attempt}/{output}"


def owner_reference(run: RunRef) -> dict[str, Any]:
    """Makes the Run own an object (its pods, its volume claim): deleting the Run deletes them."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "name": run.name,
        "uid": run.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def check_service_account(run: RunRef, config: OperatorConfig) -> None:
    """Refuses a service account the operator does not allow: the reconciler asks before rendering a pod."""
    account = _service_account(run)
    if account not in config.allowed_service_accounts:
        raise PodNotAllowed(
            f"serviceAccountName {account!r} is not allowed by the operator "
            f"(allowed: {', '.join(config.allowed_service_accounts)}); ask your platform team to add it"
        )


def render_pod(run: RunRef, start: StartStep, config: OperatorConfig, uses_artifacts: bool) -> dict[str, Any]:
    """The pod of one attempt of a step (its service account checked before, by check_service_account)."""
    scheduling = _scheduling(start, config)
    volumes, mounts = _volumes(run, uses_artifacts)
    rendered = _render(run, start)
    _check_secrets(run, config, rendered)
    container = _container(run, start, config, scheduling, mounts, rendered)
    containers = [container]
    if run.store is not None:
        # kubelet starts containers in order: kubeline's first, so that its start-up (the S3 client's, mostly)
        # overlaps main's, and it is ready to download before main waits, or to upload when a short step ends
        containers = [_data_container(run, run.store, start, config, volumes), container]
    spec = _pod_spec(run, start, config, scheduling, containers, volumes + [v.to_dict() for v in rendered.volumes])
    # the user's init containers run first, in order; then the sidecars start as native sidecars (init containers
    # that keep running: Kubernetes stops them when the step's containers have ended, so the pod still ends)
    init = [_side_container(run, config, side) for side in rendered.init_containers]
    init += [{**_side_container(run, config, side), "restartPolicy": "Always"} for side in rendered.sidecars]
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(run, start), "spec": spec}


def _check_secrets(run: RunRef, config: OperatorConfig, rendered: Rendered) -> None:
    """Refuses a step whose containers or volumes read the artifact store's keys: they are kubeline's container's
    only, since with them a step could overwrite any run's artifacts and cache records."""
    locations = [run.store.location if run.store else None, config.artifact_store.for_namespace(run.namespace)]
    protected = {loc.credentials_secret.secret_name for loc in locations if loc and loc.credentials_secret}
    if not protected:
        return
    used = {
        *(
            e.value_from.secret_key_ref.name
            for e in rendered.env_sources
            if e.value_from and e.value_from.secret_key_ref
        ),
        *(f.secret_ref.name for f in rendered.env_from if f.secret_ref),
        *(v.secret.secret_name for v in rendered.volumes if v.secret),
    }
    for side in [*rendered.sidecars, *rendered.init_containers]:
        used |= {
            e.value_from.secret_key_ref.name for e in side.env or [] if e.value_from and e.value_from.secret_key_ref
        }
        used |= {f.secret_ref.name for f in side.env_from or [] if f.secret_ref}
    for name in sorted(used & protected):
        raise PodNotAllowed(
            f"the step reads Secret {name!r}, which holds the artifact store's keys: only kubeline's own container "
            "may read it; give the step its own Secret"
        )


def _metadata(run: RunRef, start: StartStep) -> dict[str, Any]:
    """Name, labels to select a run's (or a task's) pods by, what the controller reads back, and the owner;
    the component's own labels and annotations beside them (kubeline's keys win)."""
    extra = start.component.pod_metadata or PodMetadata()
    return {
        "name": pod_name(run.name, start.id, start.attempt),
        "namespace": run.namespace,
        "labels": {
            **(extra.labels or {}),
            RUN_LABEL: run.name,
            TASK_LABEL: start.task,
            "app.kubernetes.io/managed-by": "kubeline",
        },
        "annotations": {
            **(extra.annotations or {}),
            "kubectl.kubernetes.io/default-container": "main",
            STEP_ANNOTATION: start.id,
            ATTEMPT_ANNOTATION: str(start.attempt),
            CACHE_KEY_ANNOTATION: start.cache_key,
            CACHE_ANNOTATION: "true" if start.caching_enabled else "false",
        },
        "ownerReferences": [owner_reference(run)],
    }


def _render(run: RunRef, start: StartStep) -> Rendered:
    """The step's containers and volumes, its inputs and outputs turned into values and paths."""
    artifact_outputs = {o.name for o in start.component.outputs or [] if o.type in FILE_OUTPUT_TYPES}
    on_volume = run.store is None

    def input_path(name: str) -> str:
        return (on_volume and start.artifacts.get(name)) or f"{INPUTS_DIR}/{name}"

    def output_path(name: str) -> str:
        if on_volume and name in artifact_outputs:
            return artifact_path(start.id, start.attempt, name)
        return f"{OUTPUTS_DIR}/{name}"

    return render_container(start, input_path, output_path, pod_name(run.name, start.id, start.attempt))


def _container(
    run: RunRef,
    start: StartStep,
    config: OperatorConfig,
    scheduling: dict[str, Any],
    mounts: list[dict[str, Any]],
    rendered: Rendered,
) -> dict[str, Any]:
    """The step's command under the wrapper, with kubeline's mounts and variables beside the user's."""
    on_volume = run.store is None
    artifact_outputs = [o.name for o in start.component.outputs or [] if o.type in FILE_OUTPUT_TYPES]
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in rendered.env.items()]
    env += [_env_var(e) for e in rendered.env_sources]
    env += _wrapper_env(start, artifact_outputs if on_volume else [])
    if not on_volume and start.artifacts:
        env.append({"name": stepdata.AWAIT_INPUTS_ENV, "value": "1"})
    user = start.component.container
    container: dict[str, Any] = {
        "name": "main",
        "image": user.image,
        "command": ["/bin/sh", "-c", WRAPPER if on_volume else STORE_WRAPPER, "kubeline-step"],
        "args": rendered.command + rendered.args,
        "env": env,
        "volumeMounts": mounts + [m.to_dict() for m in rendered.volume_mounts],
        "terminationMessagePolicy": "File",
    }
    if rendered.env_from:
        container["envFrom"] = [e.to_dict() for e in rendered.env_from]
    if user.working_dir:
        container["workingDir"] = user.working_dir
    if scheduling.get("resources"):
        container["resources"] = scheduling["resources"]
    return {**container, **_pull_and_security(run, config, user)}


def _side_container(run: RunRef, config: OperatorConfig, side: SideContainer) -> dict[str, Any]:
    """A user's init container or sidecar: as written, within the same pull policy and security as main."""
    container = side.to_dict()
    container.pop("securityContext", None)
    if side.env:
        container["env"] = [_env_var(e) for e in side.env]
    return {**container, **_pull_and_security(run, config, side)}


def _env_var(variable: EnvVar) -> dict[str, Any]:
    """A variable as Kubernetes takes it: a value, or where to read one (then no empty value beside it)."""
    if variable.value_from is None:
        return {"name": variable.name, "value": variable.value}
    return {"name": variable.name, "valueFrom": variable.value_from.to_dict()}


def _pull_and_security(run: RunRef, config: OperatorConfig, user: Container) -> dict[str, Any]:
    """The pull policy (the container's over the pipeline's over the operator's), and the security context:
    the user's merged over the restricted defaults, which it can only tighten."""
    settings: dict[str, Any] = {}
    pull_policy = user.image_pull_policy or run.image_pull_policy or config.image_pull_policy
    if pull_policy:
        settings["imagePullPolicy"] = pull_policy
    security = user.security_context.to_dict() if user.security_context else {}
    if config.restricted_step_pods:
        security = _restricted_container(security)
    if security:
        settings["securityContext"] = security
    return settings


def _restricted_container(user: dict[str, Any] | None = None) -> dict[str, Any]:
    """The restricted profile's container settings, with what the user asked for that stays within it."""
    user = user or {}
    capabilities = dict(user.get("capabilities") or {})
    capabilities["drop"] = ["ALL", *(c for c in capabilities.get("drop") or [] if c != "ALL")]
    return {**user, "allowPrivilegeEscalation": False, "capabilities": capabilities}


def step_data(run: RunRef, start: StartStep, config: OperatorConfig) -> stepdata.StepData:
    """What kubeline's container moves for this attempt: stored inputs in, outputs and log out."""
    outputs = start.component.outputs or []
    return stepdata.StepData(
        inputs={f"{INPUTS_DIR}/{name}": ref for name, ref in start.artifacts.items()},
        artifact_outputs=[o.name for o in outputs if o.type in FILE_OUTPUT_TYPES],
        value_outputs=[o.name for o in outputs if o.type not in FILE_OUTPUT_TYPES],
        log_key=log_key(run.namespace, run.name, start.id, start.attempt),
        cache_key=start.cache_key if start.caching_enabled and start.cache_key else None,
        component=start.component.name,
        max_value_bytes=config.max_value_bytes,
    )


def _data_container(
    run: RunRef, store: PodStore, start: StartStep, config: OperatorConfig, volumes: list[dict[str, Any]]
) -> dict[str, Any]:
    """kubeline's container: the only one given the store's credentials (from the Secret, by reference)."""
    settings = config.data_container
    env: list[dict[str, Any]] = [
        {"name": stepdata.STORE_ENV, "value": store.url},
        {"name": stepdata.STEP_ENV, "value": step_data(run, start, config).to_json()},
    ]
    credentials = store.location.credentials_secret
    if credentials is not None:
        env += [
            {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": credentials.secret_name, "key": key}},
            }
            for variable, key in (
                ("AWS_ACCESS_KEY_ID", credentials.access_key_id_key),
                ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key_key),
            )
        ]
    mounts = [
        {"name": "kubeline-outputs", "mountPath": OUTPUTS_DIR, "readOnly": True},
        {"name": "kubeline-inputs", "mountPath": INPUTS_DIR},
        {"name": "kubeline-run", "mountPath": RUN_DIR, "readOnly": True},
        {"name": "kubeline-control", "mountPath": CONTROL_DIR},
    ]
    if store.location.ca_config_map:
        volumes.append({"name": "kubeline-store-ca", "configMap": {"name": store.location.ca_config_map}})
        mounts.append({"name": "kubeline-store-ca", "mountPath": CA_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": DATA_CONTAINER,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python3", "-m", "kubeline.backends.stepdata"],
        "env": env,
        "volumeMounts": mounts,
        "terminationMessagePolicy": "File",
    }
    if settings.resources:
        container["resources"] = settings.resources
    if config.restricted_step_pods:
        container["securityContext"] = _restricted_container()
    return container


def _wrapper_env(start: StartStep, artifact_outputs: list[str]) -> list[dict[str, str]]:
    """What the wrapper reads: input values to write to files, folders to make, value outputs to report."""
    materialized = [name for name in start.inputs if _needs_file(start, name)]
    output_dirs = {artifact_path(start.id, start.attempt, name).rsplit("/", 1)[0] for name in artifact_outputs}
    value_outputs = [o.name for o in start.component.outputs or [] if o.type not in FILE_OUTPUT_TYPES]
    return [
        *({"name": f"KUBELINE_INPUT_{i}", "value": start.inputs[name]} for i, name in enumerate(materialized)),
        {"name": "KUBELINE_VALUE_OUTPUTS", "value": " ".join(value_outputs)},
        {"name": "KUBELINE_OUTPUT_DIRS", "value": " ".join(sorted(output_dirs))},
        {
            "name": "KUBELINE_INPUT_FILES",
            "value": " ".join(f"{INPUTS_DIR}/{name}=KUBELINE_INPUT_{i}" for i, name in enumerate(materialized)),
        },
    ]


def _volumes(run: RunRef, uses_artifacts: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and main's mounts of them: outputs, inputs, and the run's artifact volume (or, with
    a store, main's log folder and the control folder of kubeline's FIFOs)."""
    volumes: list[dict[str, Any]] = [
        {"name": "kubeline-outputs", "emptyDir": {}},
        {"name": "kubeline-inputs", "emptyDir": {}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "kubeline-outputs", "mountPath": OUTPUTS_DIR},
        {"name": "kubeline-inputs", "mountPath": INPUTS_DIR},
    ]
    if run.store is not None:
        volumes += [{"name": "kubeline-run", "emptyDir": {}}, {"name": "kubeline-control", "emptyDir": {}}]
        mounts += [
            {"name": "kubeline-run", "mountPath": RUN_DIR},
            {"name": "kubeline-control", "mountPath": CONTROL_DIR, "readOnly": True},  # its FIFOs stay kubeline's
        ]
    elif uses_artifacts:
        volumes.append(
            {"name": "kubeline-artifacts", "persistentVolumeClaim": {"claimName": volume_claim_name(run.name)}}
        )
        mounts.append({"name": "kubeline-artifacts", "mountPath": ARTIFACTS_DIR})
    return volumes, mounts


def _pod_spec(
    run: RunRef,
    start: StartStep,
    config: OperatorConfig,
    scheduling: dict[str, Any],
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """Placement, pull secrets, deadline and security of the pod around its containers."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": containers,
        "volumes": volumes,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "serviceAccountName": _service_account(run),
    }
    for key in ("nodeSelector", "tolerations", "affinity"):
        if scheduling.get(key):
            spec[key] = scheduling[key]
    secrets = [s.to_dict() for s in config.image_pull_secrets or []] + (run.image_pull_secrets or [])
    if secrets:
        spec["imagePullSecrets"] = secrets
    if start.timeout:
        spec["activeDeadlineSeconds"] = max(1, int(start.timeout))
    if config.restricted_step_pods:
        spec["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": config.step_user_id,
            "runAsGroup": config.step_user_id,
            "fsGroup": config.step_user_id,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    return spec


def _service_account(run: RunRef) -> str:
    return run.service_account or "default"


def _scheduling(start: StartStep, config: OperatorConfig) -> dict[str, Any]:
    """The operator's defaults under the step's settings (the engine merged those: task over pipeline)."""
    return merge_scheduling_dicts(merge_scheduling({}, config), start.scheduling)


def _needs_file(start: StartStep, name: str) -> bool:
    """A value given to an input the command reads from a file ({{inputs.x.path}}, or an artifact input)."""
    if name in start.artifacts:
        return False
    container = start.component.container
    texts = [*(container.command or []), *(container.args or []), *(e.value for e in container.env or [])]
    artifact = any(i.name == name and i.type in FILE_INPUT_TYPES for i in start.component.inputs or [])
    return artifact or any(f"inputs.{name}.path" in t.replace(" ", "") for t in texts)


@dataclass
class PodOutcome:
    phase: StepPhase
    outputs: dict[str, str]
    message: str
    exit_code: int | None
    node: str | None
    retryable: bool = True
    stored: frozenset[str] = frozenset()  # value outputs kept in the store (their text is an object reference)
    log: str | None = None  # the log's key in the store
    from_store: bool = False  # kubeline's container reported it: artifact outputs are object references


#: The pod metadata a Run's pod cache keeps: what status.py, read_pod, the pod GC and the owner check read.
CACHED_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "ownerReferences",
)


def cached_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a step's pod its Run's cache keeps: what read_pod and the reconciler read (the status, a few
    metadata fields, the node and container names), not the rendered spec (command, env, volumes) nor
    managedFields, which are most of a pod's size: a thousand running pods are held in a fraction of the memory."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    kept_spec: dict[str, Any] = {"containers": [{"name": c.get("name")} for c in spec.get("containers") or []]}
    if spec.get("nodeName"):
        kept_spec["nodeName"] = spec["nodeName"]
    if spec.get("initContainers"):
        kept_spec["initContainers"] = [
            {"name": c.get("name"), "restartPolicy": c.get("restartPolicy")} for c in spec["initContainers"]
        ]
    return {
        "metadata": {key: metadata[key] for key in CACHED_METADATA if key in metadata},
        "spec": kept_spec,
        "status": pod.get("status") or {},
    }


def read_pod(pod: dict[str, Any], start_component: Any) -> PodOutcome:
    """How a step's pod stands: still going, or finished with these outputs (checked) or this failure."""
    status = pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName")
    containers = _terminated(status)
    main = containers.get("main")
    data = containers.get(DATA_CONTAINER)
    with_data = any(c.get("name") == DATA_CONTAINER for c in (pod.get("spec") or {}).get("containers") or [])
    phase = status.get("phase")
    disrupted = disruption(pod)
    if disrupted and main is None and (phase == "Failed" or (pod.get("metadata") or {}).get("deletionTimestamp")):
        return PodOutcome("Failed", {}, disrupted, None, node)
    if phase not in ("Succeeded", "Failed"):
        if main is None or (with_data and data is None):
            return PodOutcome("Running", {}, _waiting_reason(pod), None, node)
        phase = "Succeeded" if main.get("exitCode") == 0 and (data or {}).get("exitCode", 0) == 0 else "Failed"
    report = _data_report(data)
    log = report.log if report is not None else None
    exit_code = main.get("exitCode") if main else None
    if phase == "Failed":
        data_failed = None
        if data is not None and data.get("exitCode") not in (0, None):
            data_failed = f"{DATA_CONTAINER} container: {data.get('message') or data.get('reason') or 'failed'}"
            if exit_code in (0, INPUTS_FAILED):  # the command succeeded, or never ran: kubeline's is the reason
                return PodOutcome("Failed", {}, data_failed.strip(), exit_code, node, log=log)
        init_failed = _init_failure(pod) if main is None else None
        if init_failed:
            return PodOutcome("Failed", {}, init_failed, None, node, log=log)
        reason = status.get("reason") or (main or {}).get("reason") or "Failed"
        detail = status.get("message") or ""
        message = f"{reason}: exit code {exit_code}" if exit_code is not None else reason
        if detail:
            message += f" ({detail})"
        if data_failed:
            message += f"; and {data_failed.strip()}"
        return PodOutcome("Failed", {}, message, exit_code, node, log=log)
    try:
        if with_data:
            if report is None:
                raise OutputError(f"the {DATA_CONTAINER} container's report is unreadable (is its image kubeline's?)")
            stored = frozenset(report.stored)
            outputs = dict(report.outputs)
            if start_component is not None:
                outputs.update(check_values(start_component, report.outputs, stored))
            return PodOutcome("Succeeded", outputs, "", exit_code, node, stored=stored, log=log, from_store=True)
        values = decode_outputs((main or {}).get("message") or "")
        outputs = check_values(start_component, values) if start_component is not None else values
    except OutputError as error:
        return PodOutcome("Failed", {}, str(error), exit_code, node, retryable=False, log=log)
    return PodOutcome("Succeeded", outputs, "", exit_code, node)


def disruption(pod: Mapping[str, Any]) -> str | None:
    """Why Kubernetes took the pod away before its command ended, from its DisruptionTarget condition (its node
    was lost, a NoExecute taint evicted it, it was preempted), or None."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "DisruptionTarget" and condition.get("status") == "True":
            detail = condition.get("message") or condition.get("reason") or "no reason given"
            return f"Kubernetes took the step's pod away ({condition.get('reason')}): {detail}"
    return None


def _terminated(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The terminated state of each container that ended, by name."""
    found = {}
    containers = status.get("containerStatuses") or []
    for container in containers:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated is not None:
            found[container.get("name") if len(containers) > 1 else "main"] = terminated
    return found


def _data_report(data: dict[str, Any] | None) -> stepdata.Report | None:
    """What kubeline's container reported, when it ended well."""
    if data is None or data.get("exitCode") != 0:
        return None
    try:
        return stepdata.Report.decode(data.get("message") or "")
    except (ValueError, TypeError, AttributeError):
        return None


def _side_kind(pod: dict[str, Any], name: str) -> str:
    """What the user calls an init container of the pod: a sidecar (a native one keeps running), or an init container."""
    for container in (pod.get("spec") or {}).get("initContainers") or []:
        if container.get("name") == name and container.get("restartPolicy") == "Always":
            return "sidecar"
    return "init container"


def _init_failure(pod: dict[str, Any]) -> str | None:
    """The init container that failed, stopping the pod before the step's command ran, in words naming it."""
    for container in (pod.get("status") or {}).get("initContainerStatuses") or []:
        ended = (container.get("state") or {}).get("terminated") or {}
        if ended.get("exitCode") not in (0, None) and _side_kind(pod, container.get("name", "")) != "sidecar":
            detail = ": ".join(part for part in (ended.get("reason"), ended.get("message")) if part)
            failed = f"init container {container.get('name')} failed: exit code {ended['exitCode']}"
            return f"{failed} ({detail.strip()})" if detail else failed
    return None


#: A container on its way: nothing to say yet.
_STARTING = (None, "ContainerCreating", "PodInitializing")


def _waiting_reason(pod: dict[str, Any]) -> str:
    """Why the step has not started yet: an init container or a sidecar that cannot start (its image, a crash)
    first, named, for main waits on it; then main's own reason, or the scheduler's."""
    status = pod.get("status") or {}
    for container in status.get("initContainerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in _STARTING:
            name = container.get("name", "")
            return f"{_side_kind(pod, name)} {name}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
            return f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"not scheduled: {condition.get('message', '')}"
    return ""


def encode_outputs(values: dict[str, str]) -> str:
    """The termination message the wrapper writes for these values (tests use it to fake a step)."""
    parts = [MESSAGE_HEADER + "\n"]
    for name, value in values.items():
        parts.append(f"{name} {len(value.encode())}\n{value}\n")
    return "".join(parts)


def decode_outputs(message: str) -> dict[str, str]:
    if not message:
        return {}
    data = message.encode()
    header = MESSAGE_HEADER.encode() + b"\n"
    if not data.startswith(header):
        raise OutputError("the step's termination message is not kubeline's (did the image lack /bin/sh?)")
    position, values = len(header), {}
    while position < len(data):
        line_end = data.find(b"\n", position)
        if line_end < 0:
            break
        name, _, size = data[position:line_end].decode(errors="replace").partition(" ")
        if not size.isdigit():
            raise OutputError(f"the step's termination message is malformed near {name!r}")
        start, end = line_end + 1, line_end + 1 + int(size)
        if end > len(data):
            raise OutputError(
                f"the step's values exceed the {VALUE_OUTPUTS_LIMIT}-byte termination message (cut at {name!r}); "
                "declare large outputs with type: artifact"
            )
        values[name] = data[start:end].decode(errors="replace")
        position = end + 1
    return values
