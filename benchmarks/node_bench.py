"""Pod start latency on the real nodes (kubelet + containerd + runc), and a pipeline's end to end time.

    python benchmarks/node_bench.py [--pods 10]

Starts a control plane with the two real nodes (hack/cluster up --with-node) in a temporary directory, then:
- creates pods one after another, each running `python3 -c pass` in the step image, and times
  creation -> container started and creation -> pod Succeeded (from the API server's watch events);
- runs the add/subtract/multiply pipeline (Python functions) with `kubeline operator`, and times
  Run created -> Succeeded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cluster_run import kubectl_command, start_run, wait_for_run
from kubernetes import client, config

from kubeline.api.constants import API_VERSION
from kubeline.sdk.loader import pipeline_document_from_python

ROOT = Path(__file__).resolve().parents[1]
ON_NODE = {
    "nodeSelector": {"kubeline.dev/real-node": "true"},
    "tolerations": [{"key": "kubeline.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
}


def pod_start(core: client.CoreV1Api, namespace: str) -> tuple[float, float]:
    name = f"p-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            **ON_NODE,
            "containers": [{"name": "main", "image": "python:3.11-slim", "command": ["python3", "-c", "pass"]}],
        },
    }
    created = time.time()
    core.create_namespaced_pod(namespace, body)
    started = None
    while True:
        pod = core.read_namespaced_pod(name, namespace)
        statuses = pod.status.container_statuses or []
        if started is None and statuses and (statuses[0].state.running or statuses[0].state.terminated):
            started = time.time()
        if pod.status.phase in ("Succeeded", "Failed"):
            return (started or time.time()) - created, time.time() - created
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kubeline-node-bench-"))
    cluster = [sys.executable, str(ROOT / "hack" / "cluster"), "--state-dir", str(state)]
    operator = None
    try:
        subprocess.run([*cluster[:2], "up", "--with-node", *cluster[2:]], check=True, capture_output=True)
        kubeconfig = str(state / "kubeconfig")
        kubectl = kubectl_command(kubeconfig)
        api = config.new_client_from_config(kubeconfig)
        core = client.CoreV1Api(api)
        subprocess.run([*kubectl, "apply", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        namespace = "bench"
        subprocess.run([*kubectl, "create", "namespace", namespace], check=True, capture_output=True)
        while subprocess.run([*kubectl, "get", "sa", "default", "-n", namespace], capture_output=True).returncode:
            time.sleep(0.2)
        starts, ends = zip(*(pod_start(core, namespace) for _ in range(args.pods)), strict=True)
        print(f"{args.pods} pods on the real nodes, one after another")
        print(
            f"  created -> container started:  median {statistics.median(starts) * 1000:6.0f} ms   max {max(starts) * 1000:6.0f} ms"
        )
        print(
            f"  created -> pod Succeeded:      median {statistics.median(ends) * 1000:6.0f} ms   max {max(ends) * 1000:6.0f} ms"
        )
        operator = subprocess.Popen(
            [sys.executable, "-m", "kubeline", "operator", "-n", namespace],
            env={**os.environ, "KUBECONFIG": kubeconfig},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
        pipeline = pipeline_document_from_python(ROOT / "examples" / "python" / "add_subtract_multiply.py")
        pipeline["spec"]["defaults"] = ON_NODE
        run = {
            "apiVersion": API_VERSION,
            "kind": "Run",
            "metadata": {"name": "asm"},
            "spec": {"pipelineRef": {"name": pipeline["metadata"]["name"]}, "arguments": {"value_1": 7, "value_2": 3}},
        }
        created = start_run(kubectl, namespace, pipeline, run)
        status = wait_for_run(api, namespace, "asm", 0.05)["status"]
        print(
            f"add/subtract/multiply (3 Python steps, 2 levels): Run created -> {status['phase']} in "
            f"{time.time() - created:.2f} s; multiply = {status['tasks']['multiply']['outputs']['Output']}"
        )
    finally:
        if operator is not None:
            operator.terminate()
            operator.wait(timeout=10)
        subprocess.run([*cluster[:2], "down", *cluster[2:]], capture_output=True)


if __name__ == "__main__":
    main()
