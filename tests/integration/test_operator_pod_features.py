"""Step pods' features and pipeline volumes against the real control plane (steps on kwok's fake nodes): the pod
specs the API server accepts, the claims the Run creates and owns, and a claim the API server refuses."""

from __future__ import annotations

import time
import uuid

import pytest

from kubeline.api.yamlio import dump_all
from tests.helpers import bound_volume, by_step, fake, pods_of, submit, wait_run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ns(operator_namespace):
    return operator_namespace


def everything(name: str) -> dict:
    """A fake step (kwok ends it) using every pod feature a KFP ContainerOp can set."""
    component = fake(name, ["pvc", "who"], {"out": "done"})
    container = component["container"]
    container["args"] = ["{{pod.name}}", "{{inputs.who}}"]
    container["env"] += [
        {"name": "KFP_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "KFP_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": True}}},
    ]
    container["envFrom"] = [{"prefix": "DB_", "configMapRef": {"name": "db", "optional": True}}]
    container["volumeMounts"] = [
        {"name": "data", "mountPath": "/mnt/data"},
        {"name": "keys", "mountPath": "/keys", "readOnly": True},
        {"name": "scratch", "mountPath": "/scratch"},
    ]
    container["imagePullPolicy"] = "Never"
    container["securityContext"] = {"runAsUser": 2000, "readOnlyRootFilesystem": True}
    component["volumes"] = [
        {"name": "data", "persistentVolumeClaim": {"claimName": "{{inputs.pvc}}"}},
        {"name": "keys", "secret": {"secretName": "keys", "optional": True}},
        {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    component["sidecars"] = [{"name": "proxy", "image": "busybox", "command": ["sleep", "3600"]}]
    component["initContainers"] = [{"name": "prepare", "image": "busybox", "args": ["{{inputs.who}}"]}]
    component["podMetadata"] = {"labels": {"team": "ml"}, "annotations": {"example.com/note": "hi"}}
    return component


def test_a_step_using_every_pod_feature_and_a_pipeline_volume(ns, tmp_path) -> None:
    cluster, namespace, _ = ns
    run = f"r-{uuid.uuid4().hex[:6]}"
    claim = f"{run}-data"
    # no storage provisioner here: a volume made for the claim, bound to it by the claim's name
    volume = bound_volume(namespace, claim, tmp_path / run)
    cluster.kubectl("apply", "-f", "-", input=dump_all([volume]))
    spec = {
        "components": [everything("everything")],
        "tasks": [
            {
                "name": "step",
                "component": "everything",
                "arguments": {"pvc": "{{volumes.data.name}}", "who": "{{volumes.data.size}}"},
            }
        ],
        "volumes": [{"name": "data", "size": "1Gi", "storageClassName": "", "annotations": {"purpose": "test"}}],
        "defaults": {"caching": {"enabled": False}},
    }
    try:
        submit(ns, spec, name=run)
        status = wait_run(ns, run)
        assert status["phase"] == "Succeeded", status.get("message")
        assert status["volumes"] == {"data": claim}
        created = cluster.kubectl_json("get", "pvc", claim, "-n", namespace)
        uid = cluster.kubectl_json("get", "run", run, "-n", namespace)["metadata"]["uid"]
        assert created["metadata"]["ownerReferences"][0]["uid"] == uid
        assert created["metadata"]["annotations"]["purpose"] == "test"
        assert created["status"]["phase"] == "Bound"
        pod = by_step(pods_of(ns, run))["step"]
        main = pod["spec"]["containers"][0]
        assert main["name"] == "main"
        assert main["args"][-2:] == [pod["metadata"]["name"], "1Gi"]
        assert {
            "name": "KFP_POD_NAME",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
        } in main["env"]
        assert main["envFrom"] == [{"prefix": "DB_", "configMapRef": {"name": "db", "optional": True}}]
        assert {"name": "data", "mountPath": "/mnt/data"} in main["volumeMounts"]
        assert main["imagePullPolicy"] == "Never"
        assert main["securityContext"]["runAsUser"] == 2000
        assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert main["securityContext"]["allowPrivilegeEscalation"] is False
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"] == {"claimName": claim}
        assert volumes["keys"]["secret"]["secretName"] == "keys"
        init = pod["spec"]["initContainers"]
        assert [(c["name"], c.get("restartPolicy")) for c in init] == [("prepare", None), ("proxy", "Always")]
        assert init[0]["args"] == ["1Gi"]
        assert pod["metadata"]["labels"]["team"] == "ml"
        assert pod["metadata"]["annotations"]["example.com/note"] == "hi"
    finally:
        cluster.kubectl("delete", "pv", volume["metadata"]["name"], "--wait=false", check=False)


def test_a_claim_the_api_server_refuses_fails_the_run_with_its_reason(ns) -> None:
    cluster, namespace, _ = ns
    storage_class = f"forbidden-{uuid.uuid4().hex[:6]}"
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": storage_class, "namespace": namespace},
        "spec": {"hard": {f"{storage_class}.storageclass.storage.k8s.io/persistentvolumeclaims": "0"}},
    }
    cluster.kubectl("apply", "-f", "-", input=dump_all([quota]))
    spec = {
        "components": [fake("noop")],
        "tasks": [{"name": "noop", "component": "noop"}],
        "volumes": [{"name": "data", "size": "1Gi", "storageClassName": storage_class}],
    }
    try:
        run = submit(ns, spec)
        status = wait_run(ns, run)
        assert status["phase"] == "Failed"
        assert f"PersistentVolumeClaim {run}-data could not be created" in status["message"]
        assert "exceeded quota" in status["message"]
        assert pods_of(ns, run) == []
    finally:
        cluster.kubectl("delete", "resourcequota", storage_class, "-n", namespace, check=False)


def events_of(ns, run: str) -> list[tuple[str, str]]:
    cluster, namespace, _ = ns
    listed = cluster.kubectl_json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={run}")
    return [(event["reason"], event["message"]) for event in listed["items"]]


def test_a_pod_the_api_server_refuses_fails_its_step_once_with_the_api_servers_message(ns) -> None:
    spec = {
        "components": [fake("noop")],
        "tasks": [{"name": "noop", "component": "noop", "nodeSelector": {"bad key!": "x"}}],
        "defaults": {"retries": {"limit": 2, "backoff": {"duration": "1s"}}},
    }
    run = submit(ns, spec)
    status = wait_run(ns, run, timeout=30)
    assert status["phase"] == "Failed"
    step = status["tasks"]["noop"]
    assert step["attempts"] == 1  # refused: not retried
    assert "the API server refused the step's pod" in step["message"] and "bad key!" in step["message"]
    assert pods_of(ns, run) == []
    deadline = time.time() + 10
    while "StepsFailed" not in [reason for reason, _ in events_of(ns, run)] and time.time() < deadline:
        time.sleep(0.3)
    assert any(reason == "StepsFailed" and "bad key!" in message for reason, message in events_of(ns, run))


def test_a_claim_another_run_holds_fails_the_run_whose_claim_name_collides_with_it(ns) -> None:
    cluster, namespace, _ = ns
    train = f"t{uuid.uuid4().hex[:6]}"

    def passing(volume: str) -> dict:
        return {
            "components": [fake("noop", ["pvc"])],
            "tasks": [{"name": "noop", "component": "noop", "arguments": {"pvc": f"{{{{volumes.{volume}.name}}}}"}}],
            "volumes": [{"name": volume, "size": "1Gi"}],
        }

    submit(ns, passing("data-x"), name=train)
    assert wait_run(ns, train)["phase"] == "Succeeded"
    status = wait_run(ns, submit(ns, passing("x"), name=f"{train}-data"))
    assert status["phase"] == "Failed"
    assert f"the claim {train}-data-x exists and belongs to Run {train}; rename this run" in status["message"]
    claim = cluster.kubectl_json("get", "pvc", f"{train}-data-x", "-n", namespace)
    assert claim["metadata"]["labels"]["kubeline.dev/run"] == train  # the other run's claim, untouched
