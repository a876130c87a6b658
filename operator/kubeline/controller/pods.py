"""Step pods: rendering one from a StartStep, and reading a finished one. Pure: no API calls here.

A step's command runs under a small POSIX-sh wrapper. When the command succeeds, the wrapper writes
the step's value outputs into the container's termination message, where the controller reads them
from the pod status; no sidecar, no object store. Encoding (sh can write it with printf, wc and cat):

    kubeline/v1
    NAME BYTES
    <BYTES bytes of value>
    ...

Artifacts (files) live on the run's volume, a PersistentVolumeClaim shared by its steps.
"""

from __future__ import annotations

import hashlib
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
from kubeline.controller.config import OperatorConfig
from kubeline.engine.container import render_container
from kubeline.engine.outputs import VALUE_OUTPUTS_LIMIT, OutputError, check_values
from kubeline.engine.settings import merge_scheduling, merge_scheduling_dicts
from kubeline.engine.state import StartStep, StepPhase
from kubeline.engine.stepid import folder_name, pod_name

OUTPUTS_DIR = "/kubeline/outputs"
INPUTS_DIR = "/kubeline/inputs"
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
    container = _container(run, start, config, scheduling, mounts)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(run, start),
        "spec": _pod_spec(run, start, config, scheduling, container, volumes),
    }


def _metadata(run: RunRef, start: StartStep) -> dict[str, Any]:
    """Name, labels to select a run's (or a task's) pods by, what the controller reads back, and the owner."""
    return {
        "name": pod_name(run.name, start.id, start.attempt),
        "namespace": run.namespace,
        "labels": {RUN_LABEL: run.name, TASK_LABEL: start.task, "app.kubernetes.io/managed-by": "kubeline"},
        "annotations": {
            STEP_ANNOTATION: start.id,
            ATTEMPT_ANNOTATION: str(start.attempt),
            CACHE_KEY_ANNOTATION: start.cache_key,
            CACHE_ANNOTATION: "true" if start.caching_enabled else "false",
        },
        "ownerReferences": [owner_reference(run)],
    }


def _container(
    run: RunRef, start: StartStep, config: OperatorConfig, scheduling: dict[str, Any], mounts: list[dict[str, Any]]
) -> dict[str, Any]:
    """The step's command under the wrapper, its inputs and outputs turned into values and paths."""
    artifact_outputs = [o.name for o in start.component.outputs or [] if o.type == "artifact"]

    def input_path(name: str) -> str:
        return start.artifacts.get(name) or f"{INPUTS_DIR}/{name}"

    def output_path(name: str) -> str:
        return artifact_path(start.id, start.attempt, name) if name in artifact_outputs else f"{OUTPUTS_DIR}/{name}"

    rendered = render_container(start, input_path, output_path)
    container: dict[str, Any] = {
        "name": "main",
        "image": start.component.container.image,
        "command": ["/bin/sh", "-c", WRAPPER, "kubeline-step"],
        "args": rendered.command + rendered.args,
        "env": [{"name": k, "value": v} for k, v in rendered.env.items()] + _wrapper_env(start, artifact_outputs),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "File",
    }
    if start.component.container.working_dir:
        container["workingDir"] = start.component.container.working_dir
    if scheduling.get("resources"):
        container["resources"] = scheduling["resources"]
    pull_policy = run.image_pull_policy or config.image_pull_policy
    if pull_policy:
        container["imagePullPolicy"] = pull_policy
    if config.restricted_step_pods:
        container["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return container


def _wrapper_env(start: StartStep, artifact_outputs: list[str]) -> list[dict[str, str]]:
    """What the wrapper reads: input values to write to files, folders to make, value outputs to report."""
    materialized = [name for name in start.inputs if _needs_file(start, name)]
    output_dirs = {artifact_path(start.id, start.attempt, name).rsplit("/", 1)[0] for name in artifact_outputs}
    value_outputs = [o.name for o in start.component.outputs or [] if o.type != "artifact"]
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
    """The pod's volumes and the container's mounts of them: outputs, inputs, and the run's artifact volume."""
    volumes: list[dict[str, Any]] = [
        {"name": "kubeline-outputs", "emptyDir": {}},
        {"name": "kubeline-inputs", "emptyDir": {}},
    ]
    mounts = [
        {"name": "kubeline-outputs", "mountPath": OUTPUTS_DIR},
        {"name": "kubeline-inputs", "mountPath": INPUTS_DIR},
    ]
    if uses_artifacts:
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
    container: dict[str, Any],
    volumes: list[dict[str, Any]],
) -> dict[str, Any]:
    """Placement, pull secrets, deadline and security of the pod around its one container."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
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
    artifact = any(i.name == name and i.type == "artifact" for i in start.component.inputs or [])
    return artifact or any(f"inputs.{name}.path" in t.replace(" ", "") for t in texts)


@dataclass
class PodOutcome:
    phase: StepPhase
    outputs: dict[str, str]
    message: str
    exit_code: int | None
    node: str | None
    retryable: bool = True


def read_pod(pod: dict[str, Any], start_component: Any) -> PodOutcome:
    """How a step's pod stands: still going, or finished with these outputs (checked) or this failure."""
    status = pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName")
    phase = status.get("phase")
    terminated = _terminated(status)
    if phase not in ("Succeeded", "Failed"):
        if terminated is None:
            return PodOutcome("Running", {}, _waiting_reason(status), None, node)
        phase = "Succeeded" if terminated.get("exitCode") == 0 else "Failed"
    exit_code = terminated.get("exitCode") if terminated else None
    if phase == "Failed":
        reason = status.get("reason") or (terminated or {}).get("reason") or "Failed"
        detail = status.get("message") or ""
        message = f"{reason}: exit code {exit_code}" if exit_code is not None else reason
        if detail:
            message += f" ({detail})"
        return PodOutcome("Failed", {}, message, exit_code, node)
    try:
        values = decode_outputs((terminated or {}).get("message") or "")
        outputs = check_values(start_component, values) if start_component is not None else values
    except OutputError as error:
        return PodOutcome("Failed", {}, str(error), exit_code, node, retryable=False)
    return PodOutcome("Succeeded", outputs, "", exit_code, node)


def _terminated(status: dict[str, Any]) -> dict[str, Any] | None:
    for container in status.get("containerStatuses") or []:
        if container.get("name") == "main" or len(status.get("containerStatuses") or []) == 1:
            return (container.get("state") or {}).get("terminated")
    return None


def _waiting_reason(status: dict[str, Any]) -> str:
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
