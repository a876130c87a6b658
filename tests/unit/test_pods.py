"""Step pods: rendering (table tests) and the sh wrapper's termination message, run for real with /bin/sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kubeline.api import models
from kubeline.controller.config import OperatorConfig, StoreLocation
from kubeline.controller.pods import (
    WRAPPER,
    PodNotAllowed,
    PodStore,
    RunRef,
    check_service_account,
    decode_outputs,
    encode_outputs,
    pod_name,
    read_pod,
    render_pod,
)
from kubeline.engine.outputs import OutputError
from kubeline.engine.run import decide
from kubeline.engine.state import RunState
from tests.helpers import pipeline, task
from tests.unit.simulate import plan_of

RUN = RunRef(name="my-run", namespace="ns", uid="uid-1")


def first_start(tasks: list[dict], **spec: object):
    plan = plan_of(pipeline(tasks, **spec))
    return decide(plan, {}, RunState(started_at=0), 0).start[0]


@pytest.mark.parametrize(
    "run, step_id, attempt, expected",
    [
        ("r", "add", 1, "r-add-a1"),
        ("r", "loop[3].train", 2, "r-loop-3-train-a2"),
        ("a" * 60, "step", 1, None),  # too long: truncated with a digest
    ],
)
def test_pod_names_are_deterministic_and_dns_safe(run: str, step_id: str, attempt: int, expected: str | None) -> None:
    name = pod_name(run, step_id, attempt)
    assert name == pod_name(run, step_id, attempt)
    assert len(name) <= 63 and name[0].isalnum() and name[-1].isalnum()
    if expected:
        assert name == expected
    else:
        assert name != pod_name(run, step_id, attempt + 1)


def test_pod_carries_labels_owner_scheduling_and_resolved_arguments() -> None:
    start = first_start(
        [
            task(
                "t",
                arguments={"a": "hello"},
                nodeSelector={"zone": "a"},
                timeout="90s",
                tolerations=[{"key": "gpu", "operator": "Exists"}],
                resources={"limits": {"memory": "1Gi"}},
            )
        ],
        defaults={"nodeSelector": {"pool": "ml"}},
    )
    config = OperatorConfig(node_selector={"pool": "default", "os": "linux"}, image_pull_policy="IfNotPresent")
    pod = render_pod(RUN, start, config, uses_artifacts=False)
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["labels"]["kubeline.dev/run"] == "my-run" and meta["labels"]["kubeline.dev/task"] == "t"
    assert meta["ownerReferences"][0] == {
        "apiVersion": "kubeline.dev/v1alpha1",
        "kind": "Run",
        "name": "my-run",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert spec["nodeSelector"] == {"pool": "ml", "os": "linux", "zone": "a"}  # task over pipeline over operator
    assert spec["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert spec["activeDeadlineSeconds"] == 90
    assert spec["restartPolicy"] == "Never"
    container = spec["containers"][0]
    assert container["resources"] == {"limits": {"memory": "1Gi"}}
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert container["args"] == ["op", "hello", "/kubeline/outputs/out"]
    assert {"name": "KUBELINE_VALUE_OUTPUTS", "value": "out"} in container["env"]


def test_step_pods_are_restricted_and_cannot_pick_any_service_account() -> None:
    start = first_start([task("t")])
    pod = render_pod(RUN, start, OperatorConfig(), uses_artifacts=False)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["spec"]["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert not any("hostPath" in v for v in pod["spec"]["volumes"])
    with pytest.raises(PodNotAllowed, match="serviceAccountName 'admin' is not allowed"):
        check_service_account(RunRef("r", "ns", "u", service_account="admin"), OperatorConfig())
    runner = RunRef("r", "ns", "u", service_account="runner")
    widened = OperatorConfig(allowed_service_accounts=["runner"])
    check_service_account(runner, widened)
    assert render_pod(runner, start, widened, uses_artifacts=False)["spec"]["serviceAccountName"] == "runner"
    opted_out = render_pod(RUN, start, OperatorConfig(restricted_step_pods=False), uses_artifacts=False)
    assert "securityContext" not in opted_out["spec"]


def test_artifacts_live_on_the_runs_volume() -> None:
    components = [
        {
            "name": "make",
            "outputs": [{"name": "data", "type": "artifact"}],
            "container": {"image": "x", "args": ["{{outputs.data.path}}"]},
        }
    ]
    start = decide(
        plan_of({"spec": {"components": components, "tasks": [{"name": "m", "component": "make"}]}}),
        {},
        RunState(started_at=0),
        0,
    ).start[0]
    pod = render_pod(RUN, start, OperatorConfig(), uses_artifacts=True)
    assert pod["spec"]["containers"][0]["args"] == ["/kubeline/artifacts/m/a1/data"]
    assert {"name": "kubeline-artifacts", "persistentVolumeClaim": {"claimName": "my-run-artifacts"}} in pod["spec"][
        "volumes"
    ]


def run_wrapper(tmp_path: Path, script: str, outputs: str) -> tuple[int, str]:
    out_dir = tmp_path / "outputs"
    out_dir.mkdir()
    log = tmp_path / "termination-log"
    env = {
        **os.environ,
        "KUBELINE_OUTPUTS_DIR": str(out_dir),
        "KUBELINE_TERMINATION_LOG": str(log),
        "KUBELINE_VALUE_OUTPUTS": outputs,
        "KUBELINE_INPUT_FILES": "",
        "OUT": str(out_dir),
    }
    result = subprocess.run(["/bin/sh", "-c", WRAPPER, "kubeline-step", "/bin/sh", "-c", script], env=env)
    return result.returncode, log.read_text() if log.exists() else ""


def test_the_wrapper_writes_values_the_controller_can_read(tmp_path: Path) -> None:
    code, message = run_wrapper(
        tmp_path,
        'printf "40" > $OUT/result; printf "line one\\nline two\\n" > $OUT/text; printf "" > $OUT/empty; '
        'printf "größe ✓" > $OUT/unicode',
        "result text empty unicode missing",
    )
    assert code == 0
    assert decode_outputs(message) == {
        "result": "40",
        "text": "line one\nline two\n",
        "empty": "",
        "unicode": "größe ✓",
    }


def test_the_wrapper_keeps_the_exit_code_and_writes_nothing_on_failure(tmp_path: Path) -> None:
    code, message = run_wrapper(tmp_path, "printf 1 > $OUT/result; exit 3", "result")
    assert code == 3 and message == ""


@pytest.mark.parametrize("values", [{"a": "1"}, {"x": "multi\nline"}, {}, {"u": "ünï"}])
def test_encoding_round_trips(values: dict[str, str]) -> None:
    assert decode_outputs(encode_outputs(values)) == values


def test_a_cut_message_is_a_clear_failure() -> None:
    message = encode_outputs({"big": "x" * 5000})[:4096]
    with pytest.raises(OutputError, match="exceed the 4096-byte termination message"):
        decode_outputs(message)


def pod_status(phase: str, exit_code: int | None = None, message: str = "", reason: str = "") -> dict:
    state = (
        {"terminated": {"exitCode": exit_code, "message": message, "reason": reason}}
        if exit_code is not None
        else {"running": {}}
    )
    return {
        "spec": {"nodeName": "n1"},
        "status": {"phase": phase, "containerStatuses": [{"name": "main", "state": state}]},
    }


RUNNING = {"name": "main", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
DISRUPTED_BY_POD_GC = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByPodGC",
    "message": "PodGC: node no longer exists",
}
EVICTED_BY_TAINT = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByTaintManager",
    "message": "Taint manager: deleting due to NoExecute taint",
}


@pytest.mark.parametrize(
    "pod, phase, outputs, message",
    [
        (pod_status("Running"), "Running", {}, ""),
        (pod_status("Succeeded", 0, encode_outputs({"out": "v"})), "Succeeded", {"out": "v"}, ""),
        (pod_status("Succeeded", 0, ""), "Failed", {}, "the step wrote no output 'out'"),
        (pod_status("Failed", 137, reason="OOMKilled"), "Failed", {}, "OOMKilled: exit code 137"),
        (  # its node deleted: the pod garbage collector marks the pod Failed, then deletes it
            {
                "spec": {"nodeName": "gone"},
                "status": {"phase": "Failed", "conditions": [DISRUPTED_BY_POD_GC], "containerStatuses": [RUNNING]},
            },
            "Failed",
            {},
            "Kubernetes took the step's pod away (DeletionByPodGC): PodGC: node no longer exists",
        ),
        (  # its node NotReady past the pod's toleration: evicted, still terminating
            {
                "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {"nodeName": "dark"},
                "status": {"phase": "Running", "conditions": [EVICTED_BY_TAINT], "containerStatuses": [RUNNING]},
            },
            "Failed",
            {},
            "(DeletionByTaintManager): Taint manager: deleting due to NoExecute taint",
        ),
        (  # a disruption on its way while the command ends well: the outcome is the command's
            {
                "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {},
                "status": {
                    "phase": "Succeeded",
                    "conditions": [EVICTED_BY_TAINT],
                    "containerStatuses": [
                        {
                            "name": "main",
                            "state": {"terminated": {"exitCode": 0, "message": encode_outputs({"out": "v"})}},
                        }
                    ],
                },
            },
            "Succeeded",
            {"out": "v"},
            "",
        ),
        (
            {
                "spec": {},
                "status": {"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active too long"},
            },
            "Failed",
            {},
            "DeadlineExceeded (Pod was active too long)",
        ),
        (
            {
                "spec": {"initContainers": [{"name": "prepare"}]},
                "status": {
                    "phase": "Failed",
                    "initContainerStatuses": [
                        {"name": "prepare", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}
                    ],
                    "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}],
                },
            },
            "Failed",
            {},
            "init container prepare failed: exit code 3 (Error)",
        ),
        (
            {
                "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]},
                "status": {
                    "phase": "Pending",
                    "initContainerStatuses": [
                        {
                            "name": "proxy",
                            "state": {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling "nope"'}},
                        }
                    ],
                    "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "PodInitializing"}}}],
                },
            },
            "Running",
            {},
            'sidecar proxy: ImagePullBackOff: Back-off pulling "nope"',
        ),
    ],
)
def test_reading_a_pod(pod: dict, phase: str, outputs: dict, message: str) -> None:
    component = plan_of(pipeline([task("t")])).root.nodes["t"].component
    outcome = read_pod(pod, component)
    assert (outcome.phase, outcome.outputs) == (phase, outputs)
    assert message in outcome.message


#: A component using every pod feature a KFP ContainerOp can set.
EVERYTHING = {
    "name": "everything",
    "inputs": [{"name": "pvc"}, {"name": "who"}],
    "container": {
        "image": "busybox",
        "command": ["sh", "-c", "echo $0 > /mnt/data/out", "{{pod.name}}"],
        "env": [
            {"name": "PLAIN", "value": "{{inputs.who}}"},
            {"name": "KFP_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        ],
        "envFrom": [{"prefix": "DB_", "configMapRef": {"name": "db"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/mnt/data"}, {"name": "keys", "mountPath": "/keys"}],
        "imagePullPolicy": "Always",
        "securityContext": {
            "runAsUser": 2000,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["NET_RAW"], "add": ["NET_BIND_SERVICE"]},
        },
    },
    "volumes": [
        {"name": "data", "persistentVolumeClaim": {"claimName": "{{inputs.pvc}}"}},
        {"name": "keys", "secret": {"secretName": "keys"}},
    ],
    "sidecars": [{"name": "proxy", "image": "envoy", "args": ["--for={{inputs.who}}"]}],
    "initContainers": [{"name": "prepare", "image": "busybox", "command": ["true"], "imagePullPolicy": "Never"}],
    "podMetadata": {
        "labels": {"team": "ml", "app.kubernetes.io/managed-by": "someone"},
        "annotations": {"note": "hi", "kubectl.kubernetes.io/default-container": "proxy"},
    },
}


def everything_start(**spec: object):
    document = {
        "spec": {
            "components": [EVERYTHING],
            "tasks": [
                {"name": "t", "component": "everything", "arguments": {"pvc": "{{volumes.v.name}}", "who": "me"}}
            ],
            "volumes": [{"name": "v", "size": "1Gi"}],
            **spec,
        }
    }
    return decide(plan_of(document), {}, RunState(started_at=0, identity={"name": "my-run"}), 0).start[0]


def test_step_pods_carry_the_components_volumes_env_sidecars_and_metadata() -> None:
    pod = render_pod(RUN, everything_start(), OperatorConfig(image_pull_policy="IfNotPresent"), uses_artifacts=False)
    spec, meta = pod["spec"], pod["metadata"]
    main = spec["containers"][0]
    assert main["name"] == "main"
    assert main["args"][-1] == "my-run-t-a1"  # {{pod.name}}: the pod's own name
    assert {"name": "PLAIN", "value": "me"} in main["env"]
    assert {"name": "KFP_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in main["env"]
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}} in main["env"]
    assert main["envFrom"] == [{"prefix": "DB_", "configMapRef": {"name": "db"}}]
    assert main["volumeMounts"][-2:] == [
        {"name": "data", "mountPath": "/mnt/data"},
        {"name": "keys", "mountPath": "/keys"},
    ]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "my-run-v"}} in spec["volumes"]
    assert {"name": "keys", "secret": {"secretName": "keys"}} in spec["volumes"]
    assert len({v["name"] for v in spec["volumes"]}) == len(spec["volumes"])
    assert main["imagePullPolicy"] == "Always"
    assert main["securityContext"] == {
        "runAsUser": 2000,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL", "NET_RAW"], "add": ["NET_BIND_SERVICE"]},
    }
    restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert spec["initContainers"] == [
        {
            "name": "prepare",
            "image": "busybox",
            "command": ["true"],
            "imagePullPolicy": "Never",
            "securityContext": restricted,
        },
        {
            "name": "proxy",
            "image": "envoy",
            "args": ["--for=me"],
            "imagePullPolicy": "IfNotPresent",
            "securityContext": restricted,
            "restartPolicy": "Always",
        },
    ]
    assert meta["labels"]["team"] == "ml" and meta["annotations"]["note"] == "hi"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "kubeline"  # kubeline's own keys win
    assert meta["annotations"]["kubectl.kubernetes.io/default-container"] == "main"


@pytest.mark.parametrize(
    "container, defaults, operator, expected",
    [
        ("Always", "Never", "IfNotPresent", "Always"),
        (None, "Never", "IfNotPresent", "Never"),
        (None, None, "IfNotPresent", "IfNotPresent"),
    ],
)
def test_pull_policy_is_the_containers_over_the_pipelines_over_the_operators(
    container: str | None, defaults: str | None, operator: str, expected: str
) -> None:
    component = {"name": "op", "container": {"image": "x", **({"imagePullPolicy": container} if container else {})}}
    document = {"spec": {"components": [component], "tasks": [{"name": "t", "component": "op"}]}}
    start = decide(plan_of(document), {}, RunState(started_at=0), 0).start[0]
    run = RunRef("r", "ns", "u", image_pull_policy=defaults)
    pod = render_pod(run, start, OperatorConfig(image_pull_policy=operator), uses_artifacts=False)
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == expected


def test_a_security_context_never_loosens_the_restricted_defaults() -> None:
    start = everything_start()
    start.component.container.security_context = models.SecurityContext.model_validate(
        {"capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False, "runAsNonRoot": True}
    )
    main = render_pod(RUN, start, OperatorConfig(), uses_artifacts=False)["spec"]["containers"][0]
    assert main["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    with pytest.raises(ValueError, match="privileged"):
        models.SecurityContext.model_validate({"privileged": True})
    opted_out = render_pod(RUN, everything_start(), OperatorConfig(restricted_step_pods=False), uses_artifacts=False)
    assert opted_out["spec"]["containers"][0]["securityContext"]["runAsUser"] == 2000
    assert "securityContext" not in opted_out["spec"]["initContainers"][0]


def test_kubelines_data_container_stays_first_beside_the_users_volumes() -> None:
    store = PodStore(StoreLocation(bucket="b"))
    run = RunRef("my-run", "ns", "u", store=store)
    spec = render_pod(run, everything_start(), OperatorConfig(), uses_artifacts=True)["spec"]
    assert [c["name"] for c in spec["containers"]] == ["kubeline", "main"]
    assert [c["name"] for c in spec["initContainers"]] == ["prepare", "proxy"]
    names = [v["name"] for v in spec["volumes"]]
    assert "data" in names and "keys" in names and len(set(names)) == len(names)


@pytest.mark.parametrize("secret", ["creds", "keys"])  # read by an env variable, mounted as a volume
def test_a_step_may_not_read_the_artifact_stores_keys(secret: str) -> None:
    location = StoreLocation(bucket="b", credentialsSecret={"secretName": secret})
    run = RunRef("my-run", "ns", "u", store=PodStore(location))
    with pytest.raises(PodNotAllowed, match=f"reads Secret '{secret}', which holds the artifact store's keys"):
        render_pod(run, everything_start(), OperatorConfig(), uses_artifacts=True)
    # the namespace's store setting counts even for a run started on the run's volume
    config = OperatorConfig.model_validate(
        {"artifactStore": {"bucket": "b", "credentialsSecret": {"secretName": secret}}}
    )
    with pytest.raises(PodNotAllowed):
        render_pod(RUN, everything_start(), config, uses_artifacts=False)
    other = RunRef(
        "my-run", "ns", "u", store=PodStore(StoreLocation(bucket="b", credentialsSecret={"secretName": "s3"}))
    )
    pod = render_pod(other, everything_start(), OperatorConfig(), uses_artifacts=True)
    data = pod["spec"]["containers"][0]
    assert data["name"] == "kubeline" and any("secretKeyRef" in e.get("valueFrom", {}) for e in data["env"])


@pytest.mark.parametrize(
    "metadata, allowed",
    [
        ({"annotations": {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}}, False),
        ({"annotations": {"container.apparmor.security.beta.kubernetes.io/main": "runtime/default"}}, True),
        ({"annotations": {"container.apparmor.security.beta.kubernetes.io/main": "localhost/strict"}}, True),
        ({"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}, False),
        ({"labels": {"node-role.kubernetes.io/control-plane": ""}}, False),
        ({"labels": {"app.kubernetes.io/name": "trainer", "team": "ml"}}, True),
        ({"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false", "example.com/x": "y"}}, True),
    ],
)
def test_pod_metadata_cannot_loosen_how_kubernetes_runs_the_pod(metadata: dict, allowed: bool) -> None:
    if allowed:
        models.PodMetadata.model_validate(metadata)
    else:
        with pytest.raises(
            ValueError, match="keys under kubernetes.io/ and k8s.io/ change how Kubernetes runs the pod"
        ):
            models.PodMetadata.model_validate(metadata)
