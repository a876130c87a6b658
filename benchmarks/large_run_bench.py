"""One Run of 10,000 steps on the test control plane (kwok nodes): does it finish, and how large is the Run?

    python benchmarks/large_run_bench.py [--steps 10000] [--shape fan-out|loop|both]

Starts its own control plane (or uses $KUBECONFIG), applies the CRDs, runs `kubeline operator`, then for each
shape, a fan-out (one task with a `forEach` of N literal items) and a loop (KFP's `ParallelFor` over a list
parameter of N items, a group of one task inside), prints:
- the time from the Run's creation to its end, and from its last pod finished to the Run marked finished;
- the largest Run object seen by a watch at any moment (etcd keeps at most 1.5 MiB an object; the goal is 1 MiB),
  the RunRecords written, and what `kubectl get runs` showed halfway;
- the steps `kubeline get RUN` (Client.get_run) lists, by phase: every step's outcome must be there;
- the operator's peak RSS.
kwok completes pods at once and its five nodes take 110 pods each, so the figures are the control plane's and
the operator's, not the steps'. The operator runs alone, without leader election: on a machine loaded far beyond
its cores a leader can miss its 7 s renew deadline and exit (in a cluster its Deployment restarts it and it
carries on from the Run's status; here nothing would).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cluster_run import kubectl_command, start_run
from kubernetes import client, config
from operator_bench import PodWatch, RunWatch, component, fan_out, peak_rss_mib

from kubeline.api.constants import API_VERSION
from kubeline.sdk.client import Client

ROOT = Path(__file__).resolve().parents[1]


def loop(steps: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ParallelFor over a list parameter (as KFP compiles `dsl.ParallelFor(items)`), and the Run's arguments."""
    spec = {
        "params": [{"name": "items", "type": "list"}],
        "components": [component("step")],
        "tasks": [
            {
                "name": "for-each-item",
                "forEach": "{{params.items}}",
                "dag": {"tasks": [{"name": "work", "component": "step", "arguments": {"x": "{{item}}"}}]},
            }
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    return spec, {"items": list(range(steps))}


def measure(api: client.ApiClient, kubectl: list[str], namespace: str, shape: str, steps: int) -> dict[str, Any]:
    name = f"{shape}-{steps}"
    if shape == "fan-out":
        spec, arguments = fan_out(steps), {}
    else:
        spec, arguments = loop(steps)
    pods, runs = PodWatch(api, namespace, name), RunWatch(api, namespace, name)
    pods.start()
    runs.start()
    time.sleep(1)
    pipeline = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": name}, "spec": spec}
    run = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": name}, "arguments": arguments},
    }
    created_at = start_run(kubectl, namespace, pipeline, run)
    halfway = ""
    while not runs.done.wait(0.5):
        if not halfway and len(pods.succeeded) >= steps // 2:
            halfway = subprocess.run(
                [*kubectl, "get", "runs", name, "-n", namespace, "--no-headers"], capture_output=True, text=True
            ).stdout.strip()
    body = runs.body
    time.sleep(1)
    pods.stop = True
    detail = Client(namespace=namespace, kubeconfig=os.environ["KUBECONFIG"]).get_run(name)
    phases = collections.Counter(task.get("phase") for task in (detail.run.run_status.get("tasks") or {}).values())
    last_pod = max(pods.finished.values()) if pods.finished else created_at
    finished = runs.finished_at or time.time()
    return {
        "phase": body["status"]["phase"],
        "steps": steps,
        "run to finished (s)": round(finished - created_at, 1),
        "last pod finished to Run finished (s)": round(finished - last_pod, 2),
        "largest Run object seen (KiB)": round(runs.largest / 1024, 1),
        "final Run object (KiB)": round(len(json.dumps(body)) / 1024, 1),
        "RunRecords": len(body["status"].get("records") or []),
        "Run events seen": runs.events,
        "kubectl get runs halfway": halfway,
        "steps kubeline get lists": dict(phases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--shape", choices=["fan-out", "loop", "both"], default="both")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kubeline-large-"))
    own_cluster = "KUBECONFIG" not in os.environ
    cluster = [sys.executable, str(ROOT / "hack" / "cluster")]
    operator = None
    try:
        if own_cluster:
            subprocess.run([*cluster, "up", "--state-dir", str(state)], check=True, capture_output=True)
            os.environ["KUBECONFIG"] = str(state / "kubeconfig")
        kubectl = kubectl_command(os.environ["KUBECONFIG"])
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"],
            check=True,
            capture_output=True,
        )
        namespace = f"large-{uuid.uuid4().hex[:6]}"
        subprocess.run([*kubectl, "create", "namespace", namespace], check=True, capture_output=True)
        while subprocess.run([*kubectl, "get", "sa", "default", "-n", namespace], capture_output=True).returncode:
            time.sleep(0.2)
        log = Path(tempfile.mkstemp(prefix="kubeline-large-operator-", suffix=".log")[1])
        print(f"operator log: {log}", flush=True)
        with log.open("w") as output:
            operator = subprocess.Popen(
                [sys.executable, "-m", "kubeline", "operator", "-n", namespace, "--no-leader-election"],
                stdout=output,
                stderr=output,
            )
        api = config.new_client_from_config(os.environ["KUBECONFIG"])
        time.sleep(2)
        shapes = ["fan-out", "loop"] if args.shape == "both" else [args.shape]
        for shape in shapes:
            figures = measure(api, kubectl, namespace, shape, args.steps)
            print(f"{shape} of {args.steps}", flush=True)
            for key, value in figures.items():
                print(f"  {key:40} {value}", flush=True)
        if operator.poll() is not None:
            print(f"the operator exited ({operator.returncode}) during the run: see its log", flush=True)
        print(f"operator peak RSS (MiB)                  {peak_rss_mib(operator.pid)}")
    finally:
        if operator is not None:
            operator.terminate()
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
        if own_cluster:
            subprocess.run([*cluster, "down", "--state-dir", str(state)], capture_output=True)


if __name__ == "__main__":
    main()
