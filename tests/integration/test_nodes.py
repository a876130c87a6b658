"""The test harness's two real nodes and its artifact store (hack/cluster node, hack/cluster store).

What the data path of issue 13 relies on: pods on either node reach MinIO, and a volume bound to one
node cannot follow a pod to the other (why a ReadWriteOnce volume cannot carry artifacts across nodes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from kubeline.api.yamlio import dump_all
from tests.control_plane import HACK_CLUSTER, REAL_NODES, ROOT, Minio

pytestmark = pytest.mark.integration

TOLERATE_REAL_NODES = [{"key": "kubeline.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}]


def pod_on(node: str, name: str, command: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": TOLERATE_REAL_NODES,
            "containers": [{"name": "main", "image": "python:3.11-slim", "command": command}],
            **spec,
        },
    }


def wait_pod(cluster: Any, namespace: str, name: str, done: Any, timeout: float = 90) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body: dict[str, Any] = cluster.kubectl_json("get", "pod", name, "-n", namespace)
        if done(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"pod {name} never got there: {json.dumps(body.get('status'), indent=1)}")


def internal_ip(node: dict[str, Any]) -> str:
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


def finished(body: dict[str, Any]) -> bool:
    return body.get("status", {}).get("phase") in ("Succeeded", "Failed")


def test_the_store_runs_without_a_cluster_and_only_its_credentials_work(tmp_path: Path) -> None:
    command = [sys.executable, str(HACK_CLUSTER), "store", "--state-dir", str(tmp_path)]
    started = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    try:
        assert started.stdout == f"{tmp_path / 'store.json'}\n"  # the result, and nothing else
        facts = json.loads((tmp_path / "store.json").read_text())
        assert facts["podEndpoint"] is None  # no real node in this state directory
        with urllib.request.urlopen(f"{facts['endpoint']}/minio/health/live", timeout=5) as response:
            assert response.status == 200
        s3 = Minio(facts["endpoint"], None, facts["accessKey"], facts["secretKey"]).client()
        s3.create_bucket(Bucket="harness")
        s3.put_object(Bucket="harness", Key="a/b.txt", Body=b"stored")
        assert s3.get_object(Bucket="harness", Key="a/b.txt")["Body"].read() == b"stored"
        intruder = boto3.client(
            "s3",
            endpoint_url=facts["endpoint"],
            aws_access_key_id=facts["accessKey"],
            aws_secret_access_key="not-the-secret",
            region_name="us-east-1",
            config=Config(retries={"max_attempts": 1}),
        )
        with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
            intruder.get_object(Bucket="harness", Key="a/b.txt")
        status = subprocess.run(
            [sys.executable, str(HACK_CLUSTER), "status", "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert f"pid {facts['pid']}" in status.stdout
    finally:
        subprocess.run([*command, "--stop"], cwd=ROOT, check=True)
    with pytest.raises(urllib.error.URLError):  # stopped: nothing answers on its port any more
        urllib.request.urlopen(f"{facts['endpoint']}/minio/health/live", timeout=5)
    assert not (tmp_path / "store.json").exists()


@pytest.mark.e2e
def test_two_real_nodes_with_their_own_subnets_and_labels(real_node) -> None:
    nodes = {
        n["metadata"]["name"]: n
        for n in real_node.kubectl_json("get", "nodes", "-l", "kubeline.dev/real-node")["items"]
    }
    assert sorted(nodes) == list(REAL_NODES)
    for index, name in enumerate(REAL_NODES):
        node = nodes[name]
        assert node["metadata"]["labels"]["kubeline.dev/node-index"] == str(index)
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
        assert {"key": "kubeline.dev/real-node", "value": "true", "effect": "NoSchedule"} in node["spec"]["taints"]
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
    addresses = [internal_ip(nodes[name]) for name in REAL_NODES]
    assert len(set(addresses)) == 2 and all(a.startswith("10.244.") and a.endswith(".1") for a in addresses)


@pytest.mark.e2e
def test_pods_on_either_node_reach_the_store(real_node, minio: Minio, namespace: str) -> None:
    """The network path of the data path: each node's pods reach MinIO at the pod endpoint."""
    assert minio.pod_endpoint is not None
    probe = f"import urllib.request; print(urllib.request.urlopen('{minio.pod_endpoint}/minio/health/live').status)"
    pods = {node: pod_on(node, f"probe-{index}", ["python3", "-c", probe]) for index, node in enumerate(REAL_NODES)}
    real_node.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all(list(pods.values())))
    for node, pod in pods.items():
        name = pod["metadata"]["name"]
        body = wait_pod(real_node, namespace, name, finished)
        assert body["status"]["phase"] == "Succeeded", real_node.kubectl("logs", name, "-n", namespace).stdout
        assert body["spec"]["nodeName"] == node
        gateway = internal_ip(real_node.kubectl_json("get", "node", node))
        assert body["status"]["podIP"].rsplit(".", 1)[0] == gateway.rsplit(".", 1)[0]  # on the node's own bridge
        assert real_node.kubectl("logs", name, "-n", namespace).stdout == "200\n"


@pytest.mark.e2e
def test_a_volume_bound_to_one_node_keeps_a_pod_on_the_other_pending(real_node, namespace: str, tmp_path) -> None:
    """Why one ReadWriteOnce volume cannot carry a Run's files across nodes (hack/README.md explains the cloud
    case): a local volume lives on kubeline-node-0; a pod that reads it from kubeline-node-1 is never scheduled."""
    tmp_path.chmod(0o777)
    volume = f"rwo-{uuid.uuid4().hex[:6]}"
    documents = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "claimRef": {"namespace": namespace, "name": "artifacts"},
                "local": {"path": str(tmp_path)},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [REAL_NODES[0]]}
                                ]
                            }
                        ]
                    }
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "artifacts", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "volumeName": volume,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    ]
    mount = {
        "volumes": [{"name": "artifacts", "persistentVolumeClaim": {"claimName": "artifacts"}}],
    }
    producer = pod_on(REAL_NODES[0], "producer", ["sh", "-c", "echo 42 > /artifacts/model"], **mount)
    consumer = pod_on(REAL_NODES[1], "consumer", ["cat", "/artifacts/model"], **mount)
    for pod in (producer, consumer):
        pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "artifacts", "mountPath": "/artifacts"}]
    try:
        real_node.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([*documents, producer, consumer]))
        assert wait_pod(real_node, namespace, "producer", finished)["status"]["phase"] == "Succeeded"
        assert (tmp_path / "model").read_text() == "42\n"

        def unschedulable(body: dict[str, Any]) -> bool:
            return any(
                c["type"] == "PodScheduled" and c.get("reason") == "Unschedulable"
                for c in body.get("status", {}).get("conditions", [])
            )

        consumer_body = wait_pod(real_node, namespace, "consumer", unschedulable)
        assert consumer_body["status"]["phase"] == "Pending" and "nodeName" not in consumer_body["spec"]
        condition = next(c for c in consumer_body["status"]["conditions"] if c["type"] == "PodScheduled")
        assert "didn't match PersistentVolume's node affinity" in condition["message"]  # the VolumeBinding plugin
    finally:
        real_node.kubectl("delete", "pod", "--all", "-n", namespace, "--wait=false", check=False)
        real_node.kubectl("delete", "pvc", "artifacts", "-n", namespace, "--wait=false", check=False)
        real_node.kubectl("delete", "pv", volume, "--wait=false", check=False)
