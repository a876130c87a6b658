"""The test control plane itself: real scheduler placement, kwok-driven pod outcomes, garbage collection."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration


def pod(name: str, env: dict[str, str] | None = None, **spec: Any) -> str:
    container = {"name": "main", "image": "busybox", "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [container], "restartPolicy": "Never", **spec},
        }
    )


def wait_phase(cluster, namespace: str, name: str, phases: tuple[str, ...], timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = cluster.kubectl_json("get", "pod", name, "-n", namespace)
        if body.get("status", {}).get("phase") in phases:
            return body
        time.sleep(0.2)
    raise AssertionError(f"pod {name} never reached {phases}: {json.dumps(body.get('status'))}")


def test_server_reports_the_pinned_version(cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    if "KUBELINE_EXTERNAL_CLUSTER" not in cluster.env:
        assert version["serverVersion"]["gitVersion"].startswith("v1.34.")


def test_fake_nodes_are_ready(cluster) -> None:
    nodes = cluster.kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    ready = {
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
    }
    assert {"kwok-node-0", "kwok-node-1", "kwok-kubeflow", "kwok-arm64", "kwok-gpu"} <= ready


def test_scheduler_honours_node_selector_and_kwok_completes_the_pod(cluster, namespace) -> None:
    cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=pod(
            "selected", env={"KWOK_TERMINATION_MESSAGE": '{"sum":"10"}'}, nodeSelector={"application": "kubeflow"}
        ),
    )
    body = wait_phase(cluster, namespace, "selected", ("Succeeded", "Failed"))
    assert body["spec"]["nodeName"] == "kwok-kubeflow"
    assert body["status"]["phase"] == "Succeeded"
    terminated = body["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["message"] == '{"sum":"10"}'


def test_gpu_pods_land_on_the_tainted_node_only_with_a_toleration(cluster, namespace) -> None:
    gpu = {
        "nodeSelector": {"accelerator": "nvidia-tesla-t4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    tolerating = yaml.safe_load(pod("with-toleration", **gpu))
    tolerating["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(tolerating))
    assert wait_phase(cluster, namespace, "with-toleration", ("Succeeded",))["spec"]["nodeName"] == "kwok-gpu"
    cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=pod("without-toleration", nodeSelector=gpu["nodeSelector"])
    )
    time.sleep(2)
    body = cluster.kubectl_json("get", "pod", "without-toleration", "-n", namespace)
    assert body["status"]["phase"] == "Pending" and not body["spec"].get("nodeName")
    unschedulable = [c for c in body["status"].get("conditions", []) if c["type"] == "PodScheduled"]
    assert unschedulable and unschedulable[0]["reason"] == "Unschedulable"


def test_exit_code_from_the_pod_fails_it(cluster, namespace) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=pod("failing", env={"KWOK_EXIT_CODE": "3"}))
    body = wait_phase(cluster, namespace, "failing", ("Succeeded", "Failed"))
    assert body["status"]["phase"] == "Failed"
    assert body["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


def test_annotation_wins_and_duration_keeps_the_pod_running(cluster, namespace) -> None:
    document = yaml.safe_load(pod("slow", env={"KWOK_EXIT_CODE": "1"}))
    document["metadata"]["annotations"] = {"kwok.kubeline.dev/exit-code": "0", "kwok.kubeline.dev/duration": "3s"}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))
    assert wait_phase(cluster, namespace, "slow", ("Running",))["status"]["phase"] == "Running"
    assert wait_phase(cluster, namespace, "slow", ("Succeeded", "Failed"))["status"]["phase"] == "Succeeded"


def test_garbage_collector_deletes_pods_of_a_deleted_owner(cluster, namespace) -> None:
    owner = cluster.kubectl_json("create", "configmap", "owner", "-n", namespace)
    document = yaml.safe_load(pod("owned", env={"KWOK_DURATION": "60s"}))
    document["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))
    cluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    deadline = time.time() + 60
    while cluster.kubectl("get", "pod", "owned", "-n", namespace, check=False).returncode == 0:
        assert time.time() < deadline, "the garbage collector did not delete the owned pod"
        time.sleep(0.3)
