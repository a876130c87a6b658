"""The operator against the real control plane (hack/cluster) with kwok nodes: how fast, how many writes.

    python benchmarks/operator_bench.py [--fan-out 1000] [--chain 200] [--repeat 1] [--operator-log FILE]

Starts its own control plane (or uses $KUBECONFIG), applies the CRDs, runs `kubeline operator` and
measures, for a fan-out of N steps and a chain of M steps:
- time from Run creation to the last pod created, and to the Run's end;
- finish latency: the last pod seen finished -> the Run seen Succeeded/Failed (watch events, ms), p50/p99
  over the --repeat runs of each shape;
- hand-off latency: a parent pod seen Succeeded -> its child pod seen created (watch events, ms);
- the operator's API writes per step (pods created, Run status writes, CacheEntries; from the API
  server's apiserver_request_total), the final Run object's size, and the operator's peak RSS.
kwok completes pods at once, so the figures are the control plane's and the operator's, not the steps'.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import urllib3
from cluster_run import kubectl_command, start_run
from kubernetes import client, config, watch

from kubeline.api.constants import API_VERSION, GROUP, RUN_LABEL, STEP_ANNOTATION, VERSION
from kubeline.controller.pods import encode_outputs

ROOT = Path(__file__).resolve().parents[1]

WRITES = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.M)


def component(name: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "inputs": [{"name": "x", "type": "string", "optional": True}],
        "outputs": [{"name": k, "type": "string"} for k in outputs or {}],
        "container": {
            "image": "busybox",
            "command": ["true"],
            "args": ["{{inputs.x}}"],
            "env": [{"name": "KWOK_TERMINATION_MESSAGE", "value": encode_outputs(outputs or {})}],
        },
    }


def fan_out(steps: int) -> dict[str, Any]:
    return {
        "components": [component("step")],
        "tasks": [{"name": "each", "component": "step", "forEach": list(range(steps)), "arguments": {"x": "{{item}}"}}],
        "defaults": {"caching": {"enabled": False}},
    }


def chain(steps: int) -> dict[str, Any]:
    tasks = [{"name": "s0", "component": "step", "arguments": {"x": "0"}}]
    tasks += [
        {"name": f"s{i}", "component": "step", "arguments": {"x": f"{{{{tasks.s{i - 1}.outputs.out}}}}"}}
        for i in range(1, steps)
    ]
    return {
        "components": [component("step", {"out": "v"})],
        "tasks": tasks,
        "defaults": {"caching": {"enabled": False}},
    }


def operator_writes(kubectl: list[str]) -> float:
    text = subprocess.run([*kubectl, "get", "--raw", "/metrics"], capture_output=True, text=True, check=True).stdout
    total = 0.0
    for match in WRITES.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        resource, verb, sub = labels.get("resource"), labels.get("verb"), labels.get("subresource", "")
        if (
            (resource == "pods" and verb == "POST" and sub == "")
            or (resource == "runs" and verb in ("PATCH", "PUT"))
            or (resource == "cacheentries" and verb == "POST")
        ):
            total += float(match.group("value"))
    return total


class PodWatch(threading.Thread):
    """Receive times of one Run's pod events: when each pod was first seen, first seen Succeeded, and first seen
    finished (its phase, or every container terminated: the operator reads a step's outcome from either)."""

    def __init__(self, api: client.ApiClient, namespace: str, run: str):
        super().__init__(daemon=True)
        self.core, self.namespace, self.run_name = client.CoreV1Api(api), namespace, run
        self.created: dict[str, float] = {}
        self.succeeded: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.stop = False

    def run(self) -> None:
        # a watch the API server ends (its timeout, a restart of its watch cache) or breaks under load is made
        # again: its first listing re-adds what it missed (seen late: a gap can only make a finish look sooner)
        while not self.stop:
            try:
                self.watch()
            except urllib3.exceptions.ProtocolError:
                if not self.stop:
                    time.sleep(0.5)

    def watch(self) -> None:
        stream = watch.Watch()
        selector = f"{RUN_LABEL}={self.run_name}"
        # plain dicts (deserialize=False): making V1Pod objects of thousands of events fell tens of seconds behind
        # on a busy machine, and the receive times with it
        for line in stream.stream(
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector,
            timeout_seconds=3600,
            deserialize=False,
        ):
            now = time.time()
            pod = line.get("object") or {}  # deserialize=False: the event as parsed JSON
            step = ((pod.get("metadata") or {}).get("annotations") or {}).get(STEP_ANNOTATION)
            if step:
                status = pod.get("status") or {}
                self.created.setdefault(step, now)
                if status.get("phase") == "Succeeded":
                    self.succeeded.setdefault(step, now)
                containers = status.get("containerStatuses") or []
                terminated = bool(containers) and all((c.get("state") or {}).get("terminated") for c in containers)
                if status.get("phase") in ("Succeeded", "Failed") or terminated:
                    self.finished.setdefault(step, now)
            if self.stop:
                return


class RunWatch(threading.Thread):
    """The receive time of the first watch event that shows the Run Succeeded or Failed, and that Run; also how
    many events the Run had and the largest its object was at any of them."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str):
        super().__init__(daemon=True)
        self.custom, self.namespace, self.name = client.CustomObjectsApi(api), namespace, name
        self.finished_at: float | None = None
        self.body: dict[str, Any] = {}
        self.done = threading.Event()
        self.events = 0
        self.largest = 0

    def run(self) -> None:
        while not self.done.is_set():  # a watch ended or broken before the Run finished is made again
            try:
                self.watch()
            except urllib3.exceptions.ProtocolError:
                time.sleep(0.5)

    def watch(self) -> None:
        stream = watch.Watch()
        for item in stream.stream(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            "runs",
            field_selector=f"metadata.name={self.name}",
            timeout_seconds=3600,
        ):
            self.events += 1
            self.largest = max(self.largest, len(json.dumps(item["object"])))
            if (item["object"].get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                self.finished_at, self.body = time.time(), item["object"]
                self.done.set()
                return


def measure(
    kube: client.ApiClient,
    kubectl: list[str],
    namespace: str,
    name: str,
    spec: dict[str, Any],
    steps: int,
    parents: dict[str, str],
    timeout: float,
) -> dict[str, Any]:
    pods = PodWatch(kube, namespace, name)
    pods.start()
    run_watch = RunWatch(kube, namespace, name)
    run_watch.start()
    time.sleep(1)
    writes_before = operator_writes(kubectl)
    pipeline = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": name}, "spec": spec}
    run = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": name}},
    }
    created_at = start_run(kubectl, namespace, pipeline, run)
    if not run_watch.done.wait(timeout):
        raise SystemExit(
            f"Run {name} did not finish within {timeout:.0f} s (--timeout); see its status and the operator's log"
        )
    body, finished_at = run_watch.body, run_watch.finished_at
    assert finished_at is not None
    time.sleep(1)
    writes = operator_writes(kubectl) - writes_before
    pods.stop = True
    handoffs = [
        (pods.created[child] - pods.succeeded[parent]) * 1000
        for child, parent in parents.items()
        if child in pods.created and parent in pods.succeeded
    ]
    result = {
        "phase": body["status"]["phase"],
        "steps": steps,
        "run to last pod created (s)": round(max(pods.created.values()) - created_at, 2),
        "run to finished (s)": round(finished_at - created_at, 2),
        "last pod finished to Run finished (ms)": round((finished_at - max(pods.finished.values())) * 1000),
        "operator writes per step": round(writes / steps, 2),
        "final Run object (KiB)": round(len(json.dumps(body)) / 1024, 1),
    }
    if handoffs:
        handoffs.sort()
        result["hand-off p50 (ms)"] = round(statistics.median(handoffs), 1)
        result["hand-off p99 (ms)"] = round(handoffs[min(len(handoffs) - 1, int(len(handoffs) * 0.99))], 1)
    return result


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fan-out", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=200, help="0: no chain")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each shape, one after another")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each Run to finish")
    parser.add_argument("--operator-log", type=Path, help="keep the operator's log (stderr) in this file")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kubeline-bench-"))
    own_cluster = "KUBECONFIG" not in os.environ
    cluster = [sys.executable, str(ROOT / "hack" / "cluster"), "--state-dir", str(state)]
    operator = None
    try:
        if own_cluster:
            subprocess.run([*cluster[:2], "up", *cluster[2:]], check=True, capture_output=True)
            os.environ["KUBECONFIG"] = str(state / "kubeconfig")
        kubectl = kubectl_command(os.environ["KUBECONFIG"])
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "--timeout=120s", "-f", str(ROOT / "crds")],
            check=True,
            capture_output=True,
        )
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        subprocess.run([*kubectl, "create", "namespace", namespace], check=True, capture_output=True)
        while subprocess.run([*kubectl, "get", "sa", "default", "-n", namespace], capture_output=True).returncode:
            time.sleep(0.2)
        log = args.operator_log.open("w") if args.operator_log else subprocess.DEVNULL
        operator = subprocess.Popen(
            # one replica: no Lease to renew (on a busy machine a renewal can miss its deadline, ending the operator)
            [sys.executable, "-m", "kubeline", "operator", "-n", namespace, "--no-leader-election"],
            stdout=log,
            stderr=log,
        )
        kube = config.new_client_from_config(os.environ["KUBECONFIG"])
        time.sleep(2)
        shapes = [(f"fan-out of {args.fan_out}", "fan-out", fan_out(args.fan_out), args.fan_out, {})]
        if args.chain:
            parents = {f"s{i}": f"s{i - 1}" for i in range(1, args.chain)}
            shapes.append((f"chain of {args.chain}", "chain", chain(args.chain), args.chain, parents))
        for title, name, spec, steps, parents in shapes:
            latencies = []
            for repeat in range(args.repeat):
                figures = measure(kube, kubectl, namespace, f"{name}-{repeat}", spec, steps, parents, args.timeout)
                latencies.append(figures["last pod finished to Run finished (ms)"])
                print(title if args.repeat == 1 else f"{title}, run {repeat + 1} of {args.repeat}", flush=True)
                for key, value in figures.items():
                    print(f"  {key:38} {value}", flush=True)
            if args.repeat > 1:
                latencies.sort()
                p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
                print(
                    f"{title}: finish latency over {args.repeat} runs: p50 {statistics.median(latencies)} ms, "
                    f"p99 {p99} ms, all {latencies}",
                    flush=True,
                )
        rss = peak_rss_mib(operator.pid)
        print(f"operator peak RSS (MiB)          {rss}")
    finally:
        if operator is not None:
            operator.terminate()
            try:
                operator.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a busy operator: the control plane still goes down
                operator.kill()
                operator.wait()
        if own_cluster:
            subprocess.run([*cluster[:2], "down", *cluster[2:]], capture_output=True)


if __name__ == "__main__":
    main()
