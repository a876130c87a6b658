"""An API server that throttles the operator (API Priority and Fairness answering 429) slows a Run, never fails it.

A control plane of its own with APF on (hack/cluster up --priority-and-fairness); the operator logs in as a
service account that a FlowSchema sends to a priority level of a few seats and no queue (limitResponse
Reject): a fan-out's pod creations overflow it, the API server answers 429, and the operator sends them again
after the Retry-After.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeline.api.constants import RUN_LABEL
from tests.control_plane import HACK_CLUSTER, ROOT, Cluster, Operator, _hack_kubectl, new_namespace
from tests.helpers import fake, submit, wait_run

pytestmark = pytest.mark.integration

FAN_OUT = 100
ACCOUNT = "kubeline-operator"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tight_priority_level(namespace: str) -> list[dict[str, Any]]:
    """The operator's service account gets a priority level of its own: the fewest seats (none borrowed from other levels), no queue."""
    return [
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": "kubeline-tight"},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 1, "lendablePercent": 0, "borrowingLimitPercent": 0,
                    "limitResponse": {"type": "Reject"},
                },
            },
        },
        {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": "kubeline-tight"},
            "spec": {
                "priorityLevelConfiguration": {"name": "kubeline-tight"},
                "matchingPrecedence": 500,
                "rules": [
                    {
                        "subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": ACCOUNT, "namespace": namespace}}],
                        "resourceRules": [
                            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"], "clusterScope": True}
                        ],
                    }
                ],
            },
        },
    ]  # fmt: skip


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str, Operator, str]]:
    state = tmp_path_factory.mktemp("apf-cluster")
    command = [sys.executable, str(HACK_CLUSTER)]
    try:
        subprocess.run([*command, "up", "--priority-and-fairness", "--state-dir", str(state)], check=True, cwd=ROOT)
        kubeconfig = state / "kubeconfig"
        cluster = Cluster(kubeconfig, (state / "server").read_text(), _hack_kubectl(), dict(os.environ), state)
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        deadline = time.time() + 60  # kubectl wait fails while the CRD has no conditions yet
        while cluster.kubectl("wait", "--for=condition=Established", "crd/runs.kubeline.dev", check=False).returncode:
            assert time.time() < deadline, "the Run CRD was not established within 60 s"
            time.sleep(0.5)
        namespace = new_namespace(cluster, "apf")
        cluster.kubectl("create", "serviceaccount", ACCOUNT, "-n", namespace)
        cluster.kubectl(
            "create",
            "clusterrolebinding",
            ACCOUNT,
            "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:{ACCOUNT}",
        )  # what it may do is test_install's business: here only how APF classifies it matters
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": tight_priority_level(namespace)}),
        )
        as_account = cluster.service_account_kubeconfig(ACCOUNT, namespace, state / "operator.kubeconfig", namespace)
        address = f"127.0.0.1:{free_port()}"
        operator = Operator(
            cluster,
            namespace,
            state / "operator.log",
            args=["--no-leader-election", "--metrics-address", address],
            env={"KUBECONFIG": str(as_account)},
        )
        operator.start()
        yield cluster, namespace, operator, address
        operator.kill()
    finally:
        subprocess.run([*command, "down", "--state-dir", str(state)], cwd=ROOT)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return str(answer.read().decode())


def test_a_fan_out_throttled_with_429_succeeds_every_step(throttled: tuple[Cluster, str, Operator, str]) -> None:
    cluster, namespace, operator, address = throttled
    spec = {
        "components": [fake("shard", ["i"])],
        "tasks": [{"name": "shard", "component": "shard", "forEach": list(range(FAN_OUT)), "arguments": {"i": "{{item}}"}}],
        "defaults": {"caching": {"enabled": False}},
    }  # fmt: skip
    run = submit((cluster, namespace, operator), spec)
    status = wait_run((cluster, namespace, operator), run, timeout=180)
    assert status["phase"] == "Succeeded", status.get("message")
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"{RUN_LABEL}={run}")["items"]
    assert len(pods) == FAN_OUT

    server = cluster.kubectl("get", "--raw", "/metrics").stdout
    rejected = sum(
        float(line.rsplit(" ", 1)[1])
        for line in server.splitlines()
        if line.startswith("apiserver_flowcontrol_rejected_requests_total{")
        and 'priority_level="kubeline-tight"' in line
    )
    assert rejected > 0, "the API server never throttled the operator: the test proved nothing"
    metrics = scrape(f"http://{address}/metrics")
    retried = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("kubeline_api_retries_total{")
    )
    assert retried > 0
    log = Path(operator.log).read_text()
    assert "reconcile of run" not in log, "a throttled call failed a whole pass instead of waiting its turn"
