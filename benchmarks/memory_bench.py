"""The operator's memory on the real control plane (hack/cluster) with kwok nodes: idle, with many steps
running, and with many finished Runs in its namespace.

    python benchmarks/memory_bench.py [--running 1000] [--finished 10000] [--settle 20]

Starts its own control plane (or uses $KUBECONFIG), applies the CRDs, adds a kwok node with room for every
pod, and runs `kubeline operator` three times, sampling its resident set size (VmRSS, and the peak VmHWM)
from /proc:
- idle: an empty namespace, after --settle seconds;
- running: one Run, a fan-out of --running steps whose pods stay Running (kwok's KWOK_DURATION), measured
  once every pod runs and again --settle seconds later; the peak covers the whole Run up to then;
- finished: --finished Runs that have Succeeded, present when the operator starts, measured once its
  kubeline_runs gauge counts them all and --settle seconds later, with the count of Run daemons still alive.
The finished Runs are made by copying a real finished Run (a 1-step Run the operator ran) with its status
written through the status subresource, before the operator starts: a thousand a few seconds, where running
10,000 Runs through kwok would take an hour, and the operator sees what it sees after a restart.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import urllib3
from cluster_run import kubectl_command, start_run, wait_for_run
from kubernetes import client, config

from kubeline.api.constants import API_VERSION, GROUP, RUN_LABEL, VERSION

ROOT = Path(__file__).resolve().parents[1]
#: A kwok node with room for every pod (hack/cluster's own take 110 each).
BIG_NODE = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "kwok-memory-bench",
        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-memory-bench", "kubernetes.io/os": "linux"},
    },
    "spec": {},
    "status": {
        "allocatable": {"cpu": "10000", "memory": "10000Gi", "pods": "100000"},
        "capacity": {"cpu": "10000", "memory": "10000Gi", "pods": "100000"},
        "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
    },
}


def pipeline(name: str, steps: int, duration: str | None) -> dict[str, Any]:
    env = [{"name": "KWOK_DURATION", "value": duration}] if duration else []
    component = {"name": "step", "container": {"image": "busybox", "command": ["true"], "env": env}}
    task: dict[str, Any] = {"name": "each", "component": "step"}
    if steps > 1:
        task["forEach"] = list(range(steps))
    return {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"components": [component], "tasks": [task], "defaults": {"caching": {"enabled": False}}},
    }


def run_of(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": name}},
    }


class Operator:
    """`kubeline operator` watching one namespace, its memory read from /proc and its gauges from /metrics."""

    def __init__(self, namespace: str):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeline",
                "operator",
                "-n",
                namespace,
                "--no-leader-election",
                "--metrics-address",
                f"127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = urllib3.PoolManager()
        try:
            self.wait_until(lambda: self.gauge("kubeline_leader") == 1, 600)
        except BaseException:
            self.stop()
            raise

    def rss_mib(self) -> tuple[float, float]:
        """Resident now, and the peak so far."""
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines())
        return tuple(round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]

    def gauge(self, name: str, labels: str = "") -> float:
        try:
            text = self.http.request("GET", f"http://127.0.0.1:{self.port}/metrics", timeout=5).data.decode()
        except urllib3.exceptions.HTTPError:
            return -1.0
        match = re.search(rf"^{name}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
        return float(match.group(1)) if match else -1.0

    def wait_until(self, done: Callable[[], bool], timeout: float) -> float:
        """Seconds until ``done``; RuntimeError after ``timeout``."""
        started = time.time()
        while not done():
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited with {self.process.returncode}")
            if time.time() - started > timeout:
                raise RuntimeError(f"not done after {timeout} s")
            time.sleep(0.5)
        return time.time() - started

    def settled(self, seconds: float) -> float:
        """The median RSS over ``seconds``, sampled every half second."""
        samples = []
        end = time.time() + seconds
        while time.time() < end:
            samples.append(self.rss_mib()[0])
            time.sleep(0.5)
        return round(statistics.median(samples), 1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def running_pods(core: client.CoreV1Api, namespace: str) -> int:
    listing = core.list_namespaced_pod(
        namespace, label_selector=RUN_LABEL, field_selector="status.phase=Running", _preload_content=False
    )
    return len(json.loads(listing.data)["items"])


def new_namespace(kubectl: list[str], prefix: str) -> str:
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    subprocess.run([*kubectl, "create", "namespace", namespace], check=True, capture_output=True)
    while subprocess.run([*kubectl, "get", "sa", "default", "-n", namespace], capture_output=True).returncode:
        time.sleep(0.2)
    return namespace


def idle(kubectl: list[str], settle: float) -> dict[str, Any]:
    operator = Operator(new_namespace(kubectl, "memory-idle"))
    try:
        return {
            "RSS after start (MiB)": operator.rss_mib()[0],
            f"RSS over {settle:g} s (MiB)": operator.settled(settle),
        }
    finally:
        operator.stop()


def running(kube: client.ApiClient, kubectl: list[str], steps: int, settle: float) -> tuple[dict[str, Any], Any]:
    """The fan-out's figures, and a finished 1-step Run (the template of the finished Runs)."""
    namespace = new_namespace(kubectl, "memory-running")
    core = client.CoreV1Api(kube)
    operator = Operator(namespace)
    try:
        before = operator.rss_mib()[0]
        start_run(kubectl, namespace, pipeline("template", 1, None), run_of("template"))
        template = wait_for_run(kube, namespace, "template", 0.5)
        created = start_run(kubectl, namespace, pipeline("fan-out", steps, "3600s"), run_of("fan-out"))
        operator.wait_until(lambda: running_pods(core, namespace) >= steps, 1200)
        all_running = time.time() - created
        at_start = operator.rss_mib()[0]
        steady = operator.settled(settle)
        figures = {
            "RSS before the Run (MiB)": before,
            f"s until {steps} pods Running": round(all_running, 1),
            "RSS when all Running (MiB)": at_start,
            f"RSS over {settle:g} s more (MiB)": steady,
            "peak RSS (MiB)": operator.rss_mib()[1],
        }
        return figures, template
    finally:
        operator.stop()
        subprocess.run([*kubectl, "delete", "namespace", namespace, "--wait=false"], capture_output=True)


def finished(kube: client.ApiClient, kubectl: list[str], count: int, template: Any, settle: float) -> dict[str, Any]:
    namespace = new_namespace(kubectl, "memory-finished")
    custom = client.CustomObjectsApi(kube)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", pipeline("template", 1, None))
    status = template["status"]

    def make(index: int) -> None:
        body = run_of("template")
        body["metadata"] = {"name": f"done-{index:05}", "labels": dict(template["metadata"].get("labels") or {})}
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "runs", body)
        patch = [{"op": "add", "path": "/status", "value": copy.deepcopy(status)}]
        custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            "runs",
            body["metadata"]["name"],
            patch,
            _content_type="application/json-patch+json",
        )

    started = time.time()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(make, range(count)))
    made_in = time.time() - started
    operator = Operator(namespace)
    try:
        seen_in = operator.wait_until(lambda: operator.gauge("kubeline_runs", '{phase="Succeeded"}') >= count, 1200)
        at_seen = operator.rss_mib()[0]
        steady = operator.settled(settle)
        figures = {
            f"s to create {count} Runs": round(made_in, 1),
            "s until the operator saw them all": round(seen_in, 1),
            "RSS when all seen (MiB)": at_seen,
            f"RSS over {settle:g} s more (MiB)": steady,
            "peak RSS (MiB)": operator.rss_mib()[1],
            "Run daemons alive": operator.gauge("kubeline_run_daemons"),
        }
        # a new Run makes admission list the namespace's Runs (and again every minute)
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "runs", run_of("template") | {"metadata": {"name": "one-more"}}
        )
        wait_for_run(kube, namespace, "one-more", 0.5)
        figures["RSS after one more Run ran (MiB)"] = operator.rss_mib()[0]
        figures["peak RSS then (MiB)"] = operator.rss_mib()[1]
        return figures
    finally:
        operator.stop()
        subprocess.run([*kubectl, "delete", "namespace", namespace, "--wait=false"], capture_output=True)


def report(title: str, figures: dict[str, Any]) -> None:
    print(title)
    for key, value in figures.items():
        print(f"  {key:36} {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--running", type=int, default=1000, help="steps Running at once (0: skip)")
    parser.add_argument("--finished", type=int, default=10000, help="finished Runs in the namespace (0: skip)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds of RSS samples after each milestone")
    args = parser.parse_args()
    state = Path(os.environ.get("KUBELINE_CLUSTER_DIR") or tempfile.mkdtemp(prefix="kubeline-memory-"))
    own_cluster = "KUBECONFIG" not in os.environ
    cluster = [sys.executable, str(ROOT / "hack" / "cluster"), "--state-dir", str(state)]
    try:
        if own_cluster:
            subprocess.run([*cluster[:2], "up", *cluster[2:]], check=True, capture_output=True)
            os.environ["KUBECONFIG"] = str(state / "kubeconfig")
        kubectl = kubectl_command(os.environ["KUBECONFIG"])
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        subprocess.run([*kubectl, "wait", "--for=condition=Established", "crd", "--all"], check=True)
        kube = config.new_client_from_config(os.environ["KUBECONFIG"])
        subprocess.run([*kubectl, "apply", "-f", "-"], input=json.dumps(BIG_NODE), text=True, check=True)
        report("idle operator, 0 Runs", idle(kubectl, args.settle))
        figures, template = running(kube, kubectl, max(args.running, 1), args.settle)
        if args.running:
            report(f"1 Run, {args.running} steps Running", figures)
        if args.finished:
            report(f"{args.finished} finished Runs", finished(kube, kubectl, args.finished, template, args.settle))
    finally:
        if own_cluster:
            subprocess.run([*cluster[:2], "down", *cluster[2:]], capture_output=True)


if __name__ == "__main__":
    main()
