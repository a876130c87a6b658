"""Many Runs created at once: is the operator or the API server the bottleneck, and what rate limit to default to.

    python benchmarks/throughput_bench.py [--runs 100] [--steps 50] [--qps 0,50,100,200] [--apf on,off]
                                          [--tight-apf]

For each API Priority and Fairness setting (hack/cluster up --priority-and-fairness) and each client-side rate
limit (operator config apiQps, burst 2 x qps; 0: no limit) it starts a fresh control plane with kwok nodes and
`kubeline operator` logged in as a service account (the admin certificate is system:masters, which APF exempts;
a service account is classified as a real install's operator is: FlowSchema service-accounts, priority level
workload-low), creates N Runs of an M-step fan-out in one go and prints:
- pods created per second (first to last pod seen by a watch) and seconds to every Run finished;
- CPU seconds of the operator, kube-apiserver, etcd, kwok and the rest over that time (from /proc), so that
  "bound by the API server, not the operator" can be read off: who was busy while the pods were made;
- the operator's calls answered 429, its retries and seconds waited (its /metrics), and the API server's
  apiserver_flowcontrol_rejected_requests_total.
--tight-apf adds a FlowSchema sending the operator's service account to a priority level of its own with one
seat and no queue (limitResponse Reject), so that APF answers 429 often: the Runs must still all succeed.
kwok completes pods at once: the figures are the control plane's and the operator's, not the steps'.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from cluster_run import kubectl_command
from kubernetes import client, config, watch
from operator_bench import fan_out

from kubeline.api.constants import API_VERSION, GROUP, RUN_LABEL, VERSION

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "throughput"
SERVICE_ACCOUNT = "kubeline-operator"
CONTROL_PLANE = ("kube-apiserver", "etcd", "kwok", "kube-scheduler", "kube-controller-manager")
SAMPLE = re.compile(r"^(?P<name>[a-z_:]+)(\{(?P<labels>[^}]*)\})? (?P<value>[0-9.e+-]+)$", re.M)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus text exposition's samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for match in SAMPLE.finditer(text):
        if match.group("name") != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels") or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match.group("value"))
    return total


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its waited-for children (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PodWatch(threading.Thread):
    """When each step pod was first seen, by a watch started before the Runs."""

    def __init__(self, api: client.ApiClient):
        super().__init__(daemon=True)
        self.core = client.CoreV1Api(api)
        self.created: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        self.ready.set()
        while True:  # a watch broken under load is made again: its first listing re-adds what it missed
            try:
                for item in watch.Watch().stream(
                    self.core.list_namespaced_pod, NAMESPACE, label_selector=RUN_LABEL, timeout_seconds=3600
                ):
                    self.created.setdefault(item["object"].metadata.name, time.time())
            except Exception:  # noqa: BLE001 - a dropped connection, or the control plane stopped at the end
                time.sleep(0.5)


def wide_nodes(pods: int) -> dict[str, Any]:
    """Two kwok nodes that take ``pods`` pods each: hack/cluster's five take 110 each, and 5,000 pods at once
    would wait for room on them (the scheduler's backoff), measuring kwok instead of the operator."""
    items = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"kwok-wide-{index}",
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-wide-{index}", "kubernetes.io/os": "linux"},
            },
            "status": {
                "allocatable": {"cpu": "1000", "memory": "4Ti", "pods": str(pods)},
                "capacity": {"cpu": "1000", "memory": "4Ti", "pods": str(pods)},
            },
        }
        for index in range(2)
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def service_account_kubeconfig(kubectl: list[str], state: Path) -> Path:
    """A kubeconfig for the operator's service account (cluster-admin: what it may do does not matter here,
    only that APF classifies it as it would a real install's)."""
    subprocess.run(
        [*kubectl, "create", "serviceaccount", SERVICE_ACCOUNT, "-n", NAMESPACE], check=True, capture_output=True
    )
    subprocess.run(
        [*kubectl, "create", "clusterrolebinding", SERVICE_ACCOUNT, "--clusterrole=cluster-admin",
         f"--serviceaccount={NAMESPACE}:{SERVICE_ACCOUNT}"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    token = subprocess.run(
        [*kubectl, "create", "token", SERVICE_ACCOUNT, "-n", NAMESPACE, "--duration=2h"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    admin = (state / "kubeconfig").read_text()
    users = admin.index("users:")
    path = state / "operator.kubeconfig"
    path.write_text(
        admin[:users]
        + f"users:\n- name: admin\n  user:\n    token: {token}\n"
        + admin[admin.index("contexts:") :].replace("namespace: default", f"namespace: {NAMESPACE}")
    )
    return path


#: One seat for the operator's service account, no queue: over it, APF answers 429 at once.
TIGHT_APF = {
    "apiVersion": "v1",
    "kind": "List",
    "items": [
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
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [
                            {"kind": "ServiceAccount", "serviceAccount": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE}}
                        ],
                        "resourceRules": [
                            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"],
                             "clusterScope": True}
                        ],
                        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                    }
                ],
            },
        },
    ],
}  # fmt: skip


#: `kubeline operator` with N threads for its API calls (asyncio's default executor: min(32, cores + 4), 6 on
#: 2 cores) and N connections (the client's pool: 5 per core): does more concurrency in the operator help?
WITH_THREADS = """
import concurrent.futures, runpy, sys
from kubernetes.client import configuration
threads = int(sys.argv.pop(1))
executor_init, configuration_init = concurrent.futures.ThreadPoolExecutor.__init__, configuration.Configuration.__init__
def executor(self, max_workers=None, *args, **kwargs):
    executor_init(self, max_workers or threads, *args, **kwargs)
def config(self, *args, **kwargs):
    configuration_init(self, *args, **kwargs)
    self.connection_pool_maxsize = threads
concurrent.futures.ThreadPoolExecutor.__init__ = executor
configuration.Configuration.__init__ = config
runpy.run_module("kubeline", run_name="__main__", alter_sys=True)
"""


def scenario(
    apf: bool, qps: float, runs: int, steps: int, tight: bool, threads: int | None, finish_timeout: float
) -> dict[str, Any]:
    """One fresh control plane, one operator, ``runs`` Runs of ``steps`` steps created together."""
    state = Path(tempfile.mkdtemp(prefix="throughput-", dir=os.environ.get("TMPDIR")))
    cluster = [sys.executable, str(ROOT / "hack" / "cluster")]
    flags = ["--state-dir", str(state), *(["--priority-and-fairness"] if apf else [])]
    operator = None
    try:
        subprocess.run([*cluster, "up", *flags], check=True, capture_output=True)
        kubeconfig = str(state / "kubeconfig")
        kubectl = kubectl_command(kubeconfig)
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        wait = [*kubectl, "wait", "--for=condition=Established", "crd/runs.kubeline.dev", "crd/pipelines.kubeline.dev"]
        while subprocess.run(wait, capture_output=True).returncode:
            time.sleep(0.5)
        subprocess.run([*kubectl, "create", "namespace", NAMESPACE], check=True, capture_output=True)
        while subprocess.run([*kubectl, "get", "sa", "default", "-n", NAMESPACE], capture_output=True).returncode:
            time.sleep(0.2)
        subprocess.run(
            [*kubectl, "apply", "-f", "-"], input=json.dumps(wide_nodes(runs * steps)), text=True, check=True,
            capture_output=True,
        )  # fmt: skip
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Ready", "node", "kwok-wide-0", "kwok-wide-1", "--timeout=60s"],
            check=True, capture_output=True,
        )  # fmt: skip
        if tight:
            subprocess.run(
                [*kubectl, "apply", "-f", "-"], input=json.dumps(TIGHT_APF), text=True, check=True, capture_output=True
            )
        settings = state / "operator.yaml"
        settings.write_text(json.dumps({"apiQps": qps or None, "apiBurst": max(1, int(2 * qps))}))
        port = free_port()
        operator = subprocess.Popen(
            [sys.executable, *(["-c", WITH_THREADS, str(threads)] if threads else ["-m", "kubeline"]),
             "operator", "-n", NAMESPACE, "--no-leader-election",
             "--metrics-address", f"127.0.0.1:{port}"],
            env={**os.environ, "KUBECONFIG": str(service_account_kubeconfig(kubectl, state)),
                 "KUBELINE_CONFIG": str(settings), "PYTHONPATH": str(ROOT / "operator")},
            stdout=subprocess.DEVNULL,
            stderr=open(state / "operator.log", "wb"),
        )  # fmt: skip
        api = config.new_client_from_config(kubeconfig)
        custom = client.CustomObjectsApi(api)
        pods = PodWatch(api)
        pods.start()
        pods.ready.wait()
        subprocess.run(
            [*kubectl, "create", "-n", NAMESPACE, "-f", "-"],
            input=json.dumps({"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": "fan-out"},
                              "spec": fan_out(steps)}),
            text=True, check=True, capture_output=True,
        )  # fmt: skip
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        while True:
            try:
                urllib.request.urlopen(metrics_url, timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(2)  # kopf has listed and watches
        pids = {name: int((state / "pids" / name).read_text()) for name in CONTROL_PLANE}
        pids["operator"] = operator.pid
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        documents = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"apiVersion": API_VERSION, "kind": "Run", "metadata": {"name": f"r{i:03d}"},
                 "spec": {"pipelineRef": {"name": "fan-out"}}}
                for i in range(runs)
            ],
        }  # fmt: skip
        started = time.time()
        subprocess.run(
            [*kubectl, "create", "-n", NAMESPACE, "-f", "-"], input=json.dumps(documents), text=True, check=True,
            capture_output=True,
        )  # fmt: skip
        phases: dict[str, int] = {}
        creation_cpu: dict[str, float] = {}
        while True:
            if not creation_cpu and len(pods.created) >= runs * steps:
                creation_cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}
            listing = custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "runs")
            phases = {}
            for item in listing["items"]:
                phase = (item.get("status") or {}).get("phase", "Pending")
                phases[phase] = phases.get(phase, 0) + 1
            ended = phases.get("Succeeded", 0) + phases.get("Failed", 0) == runs
            all_created = len(pods.created) >= runs * steps
            if (
                ended
                or time.time() - started > 900
                or (all_created and time.time() - max(pods.created.values()) > finish_timeout)
            ):
                break
            time.sleep(0.5)
        finished = time.time()
        done = phases.get("Succeeded", 0) + phases.get("Failed", 0) == runs
        cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in pids.items()}
        operator_metrics = (
            urllib.request.urlopen(metrics_url, timeout=60).read().decode()
        )  # a busy event loop answers late
        server_metrics = subprocess.run(
            [*kubectl, "get", "--raw", "/metrics"], check=True, capture_output=True, text=True
        ).stdout
        created = sorted(pods.created.values())
        making = created[-1] - created[0] if len(created) > 1 else 0.0
        return {
            "runs": phases,
            "pods created": len(created),
            "pods/s (first to last pod)": round((len(created) - 1) / making, 1) if making else None,
            "creation to last pod (s)": round(created[-1] - started, 1) if created else None,
            "creation to all Runs finished (s)": round(finished - started, 1) if done else "not yet (--finish-timeout)",
            "CPU s until the last pod was created": creation_cpu,
            "CPU s until the end": cpu,
            "operator CPU ms per pod (to the end)": round(cpu["operator"] / max(1, len(created)) * 1000, 2),
            "operator 429 answers": metric_sum(operator_metrics, "kubeline_api_requests_total", code="429"),
            "operator retries": metric_sum(operator_metrics, "kubeline_api_retries_total"),
            "operator s waited on its limit": round(
                metric_sum(operator_metrics, "kubeline_api_wait_seconds_total", by="client"), 1
            ),
            "operator s waited on Retry-After": round(
                metric_sum(operator_metrics, "kubeline_api_wait_seconds_total", by="server"), 1
            ),
            "APF rejected (all clients)": metric_sum(server_metrics, "apiserver_flowcontrol_rejected_requests_total"),
            # the time the API server spent on each pod creation: the operator keeps at most its threads' worth
            # of calls in flight, so it can make no more than threads / this many calls a second
            "API server's mean pod POST (ms)": round(
                1000
                * metric_sum(server_metrics, "apiserver_request_duration_seconds_sum", verb="POST", resource="pods")
                / max(
                    1.0,
                    metric_sum(
                        server_metrics, "apiserver_request_duration_seconds_count", verb="POST", resource="pods"
                    ),
                ),
                1,
            ),
        }
    finally:
        if operator is not None:
            operator.terminate()
            try:
                operator.wait(timeout=15)
            except subprocess.TimeoutExpired:  # kopf stopping dozens of daemons on a loaded machine
                operator.kill()
                operator.wait()
        subprocess.run([*cluster, "down", "--state-dir", str(state)], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--qps", default="0,50,100,200", help="client-side limits to try, comma-separated (0: none)")
    parser.add_argument("--apf", default="on,off", help="API Priority and Fairness: on, off, or both")
    parser.add_argument("--tight-apf", action="store_true", help="the operator gets one APF seat: 429s happen")
    parser.add_argument("--threads", type=int, help="the operator's threads and connections for API calls")
    parser.add_argument(
        "--finish-timeout",
        type=float,
        default=900,
        help="seconds to wait for every Run to finish (kwok completes "
        "the pods: on a loaded machine it, not the operator, sets the pace of the end)",
    )
    args = parser.parse_args()
    for apf in args.apf.split(","):
        for qps in (float(value) for value in args.qps.split(",")):
            title = f"APF {apf}{' (tight)' if args.tight_apf else ''}, apiQps {qps or 'none'}"
            title += f", {args.threads} threads" if args.threads else ""
            print(title, flush=True)
            figures = scenario(
                apf == "on", qps, args.runs, args.steps, args.tight_apf, args.threads, args.finish_timeout
            )
            for key, value in figures.items():
                print(f"  {key:36} {value}", flush=True)


if __name__ == "__main__":
    main()
