"""kubeline's operator next to Argo Workflows' workflow-controller, on one test control plane with kwok nodes.

    python benchmarks/compare_argo.py [--fan-out 1000] [--chain 200] [--slow-chain 30]
                                      [--argo-qps 500] [--argo-burst 1000] [--argo-requeue 1s]

One command: builds Argo's workflow-controller v3.4.17 from the Go module proxy (a wrapper module, as hack/cluster
builds Kubernetes; cached in $KUBELINE_CACHE/bin/argo-workflows-v3.4.17), starts its own control plane with an API
server audit log (hack/cluster up --audit-log), and runs the same fan-out of N steps and chain of M steps through
kubeline's operator, then Argo at its defaults, then Argo with its client QPS/burst raised and its requeue
shortened (DEFAULT_REQUEUE_TIME). One controller runs at a time, each in its own namespace, each with a client
certificate of its own (user kubeline-operator, argo-workflow-controller; both cluster admins, group
system:masters), so the audit log's user.username tells whose writes are whose. Measured per controller and shape:
start -> last pod created, start -> workflow/Run finished, last pod finished -> workflow/Run marked finished (watch
receive times in this process), chain hand-off p50/p99 (parent pod seen Succeeded -> child pod seen created), API
writes per step (audit log: every create/update/patch/delete by the controller's user while the run lasted, with
a breakdown), the final object's size and the controller's peak RSS. Prints a markdown table and the ratios.

Why v3.4.17: it marks a step done from its pod's phase, which kwok sets (hack/kwok/stages.yaml completes every
pod on a fake node at once). From v3.5 the controller waits for the wait container's report (the
WorkflowTaskResult and its report-outputs-completed label) before it takes a pod's outcome; kwok pods run no
containers, so nothing would ever report and v3.5+ workflows would not finish here.

Argo at its defaults hands each chain step over only on its 10 s requeue, so its chain is cut to --slow-chain steps
(a 200-step chain would take over half an hour); its per-step figures (hand-off, writes per step) still compare.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from cluster_run import kubectl_command, start_run
from kubernetes import client, config, watch
from operator_bench import chain as kubeline_chain
from operator_bench import fan_out as kubeline_fan_out
from operator_bench import peak_rss_mib

from kubeline.api.constants import API_VERSION, GROUP, STEP_ANNOTATION, VERSION

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = runpy.run_path(str(ROOT / "hack" / "cluster"))  # its Go build helpers, cache and openssl wrapper
ARGO = "v3.4.17"
ARGO_MODULE = "github.com/argoproj/argo-workflows/v3"
ARGO_GROUP, ARGO_VERSION = "argoproj.io", "v1alpha1"
ARGO_NODE_NAME = "workflows.argoproj.io/node-name"
FINISHED = ("Succeeded", "Failed", "Error")


# -- building Argo --------------------------------------------------------------------------------------


def argo_binary() -> Path:
    return CLUSTER["BIN"] / f"argo-workflows-{ARGO}" / "workflow-controller"


def argo_module_dir() -> Path:
    """The module's source (for its CRDs), downloaded through the module proxy."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{ARGO_MODULE}@{ARGO}"],
        cwd=ROOT / "hack",
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    return Path(json.loads(out.stdout)["Dir"])


def upstream_replaces(go_mod: str) -> list[str]:
    """Upstream's replace directives that pin a module version (a wrapper module does not inherit them)."""
    lines, in_block = [], False
    for raw in go_mod.splitlines():
        line = raw.split("//")[0].strip()
        if line == "replace (":
            in_block = True
        elif in_block and line == ")":
            in_block = False
        elif in_block and "=>" in line:
            lines.append(line)
        elif line.startswith("replace ") and "=>" in line:
            lines.append(line.removeprefix("replace ").strip())
    return [line for line in lines if not line.split("=>")[1].strip().startswith((".", "/"))]


def build_argo() -> Path:
    target = argo_binary()
    if target.exists():
        return target
    work = CLUSTER["CACHE"] / "build" / f"argo-workflows-{ARGO}"
    upstream = CLUSTER["module_file"](ARGO_MODULE, ARGO, ROOT / "hack").read_text()
    go_version = next(line.split()[1] for line in upstream.splitlines() if line.startswith("go "))
    command = f"{ARGO_MODULE}/cmd/workflow-controller"
    CLUSTER["wrapper_module"](
        work, "argo-workflow-controller", go_version, [f"{ARGO_MODULE} {ARGO}"], upstream_replaces(upstream), [command]
    )
    CLUSTER["go"]("mod", "tidy", cwd=work)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    version = f"-X {ARGO_MODULE}.version={ARGO}"  # what `workflow-controller version` and its user agent say
    CLUSTER["go"](
        "build", "-p", "2", "-trimpath", "-ldflags", f"-s -w {version}", "-o", str(partial), command, cwd=work
    )
    partial.rename(target)
    return target


# -- the control plane and identities -------------------------------------------------------------------


def identity_kubeconfig(state: Path, user: str) -> Path:
    """A kubeconfig with a client certificate of its own (CN=user, a cluster admin), so the audit log names it."""
    pki = state / "pki"
    openssl = CLUSTER["openssl"]
    request = f"req -newkey rsa:2048 -nodes -keyout {user}.key -out {user}.csr -subj /O=system:masters/CN={user}"
    openssl(*request.split(), cwd=pki)
    (pki / f"{user}.ext").write_text("extendedKeyUsage=clientAuth\n")
    sign = (
        f"x509 -req -in {user}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out {user}.crt -days 1 -extfile {user}.ext"
    )
    openssl(*sign.split(), cwd=pki)
    text = (state / "kubeconfig").read_text().replace("admin.crt", f"{user}.crt").replace("admin.key", f"{user}.key")
    path = state / f"kubeconfig-{user}"
    path.write_text(text)
    return path


class AuditLog:
    """The API server's audit log (hack/cluster up --audit-log): the writes one user made since an offset."""

    def __init__(self, path: Path):
        self.path = path

    def offset(self) -> int:
        return self.path.stat().st_size

    def settled(self, since: int, user: str, quiet: float = 3, limit: float = 120) -> Counter[str]:
        """The writes since ``since`` once the user has written nothing for ``quiet`` seconds: what follows a
        finish (pods labelled completed, events, a last status write) counts too."""
        deadline = time.time() + limit
        last, quiet_since = Counter[str](), time.time()
        while time.time() < deadline:
            time.sleep(0.5)
            counts = self.writes(since, user)
            if counts != last:
                last, quiet_since = counts, time.time()
            elif time.time() - quiet_since >= quiet:
                return counts
        return self.writes(since, user)

    def writes(self, since: int, user: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        mark = f'"username":"{user}"'.encode()
        with self.path.open("rb") as log:
            log.seek(since)
            for line in log:
                if not line.endswith(b"\n"):
                    break  # being written
                if mark not in line:
                    continue
                event = json.loads(line)
                if event["user"]["username"] != user:
                    continue
                ref = event.get("objectRef", {})
                resource = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
                counts[f"{event['verb']} {resource}"] += 1
        return counts


# -- watching -------------------------------------------------------------------------------------------


class PodWatch(threading.Thread):
    """Receive times of pod events by step: first seen, first seen finished (Succeeded or Failed)."""

    def __init__(self, api: client.ApiClient, namespace: str, step_of: Callable[[dict[str, str]], str | None]):
        super().__init__(daemon=True)
        self.core, self.namespace, self.step_of = client.CoreV1Api(api), namespace, step_of
        self.created: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        version = self.core.list_namespaced_pod(self.namespace, limit=1).metadata.resource_version
        self.ready.set()
        # the API server may end a watch early (its watch cache starting, a timeout) or it may break under load:
        # it is made again from the last version seen, so no pod's events are missed or seen late
        while not self.stop.is_set():
            try:
                version = self.watch(version)
            except urllib3.exceptions.ProtocolError:
                time.sleep(0.2)
            except Exception:  # noqa: BLE001 - an ERROR event (410: the version is too old): from now on
                version = self.core.list_namespaced_pod(self.namespace, limit=1).metadata.resource_version

    def watch(self, version: str) -> str:
        """Events from ``version`` on, as plain JSON (V1Pod objects of thousands of events fall behind on a busy
        machine); the last version seen."""
        for line in watch.Watch().stream(
            self.core.list_namespaced_pod,
            self.namespace,
            resource_version=version,
            timeout_seconds=3600,
            deserialize=False,
        ):
            now = time.time()
            pod = line.get("object") or {}
            metadata = pod.get("metadata") or {}
            version = metadata.get("resourceVersion") or version
            step = self.step_of(metadata.get("annotations") or {})
            if step:
                self.created.setdefault(step, now)
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    self.finished.setdefault(step, now)
            if self.stop.is_set():
                break
        return version


class FinishWatch(threading.Thread):
    """The receive time of the event that first shows the named object finished, and that object."""

    def __init__(self, api: client.ApiClient, group: str, version: str, namespace: str, plural: str, name: str):
        super().__init__(daemon=True)
        self.custom = client.CustomObjectsApi(api)
        self.args = (group, version, namespace, plural)
        self.name = name
        self.finished_at: float | None = None
        self.body: dict[str, Any] = {}
        self.done = threading.Event()

    def run(self) -> None:
        stream = watch.Watch()
        for item in stream.stream(
            self.custom.list_namespaced_custom_object,
            *self.args,
            field_selector=f"metadata.name={self.name}",
            timeout_seconds=3600,
        ):
            body = item["object"]
            if (body.get("status") or {}).get("phase") in FINISHED:
                self.finished_at, self.body = time.time(), body
                self.done.set()
                stream.stop()
                return


# -- the workloads --------------------------------------------------------------------------------------


def argo_workflow(name: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """A Workflow with one DAG template; each step a trivial container (kwok completes its pod at once)."""
    step = {
        "name": "step",
        "inputs": {"parameters": [{"name": "x", "value": ""}]},
        "container": {"image": "busybox", "command": ["true"], "args": ["{{inputs.parameters.x}}"]},
    }
    return {
        "apiVersion": f"{ARGO_GROUP}/{ARGO_VERSION}",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "dag": {"tasks": tasks}}, step]},
    }


def argo_fan_out(steps: int) -> list[dict[str, Any]]:
    return [
        {
            "name": "each",
            "template": "step",
            "withSequence": {"count": str(steps)},
            "arguments": {"parameters": [{"name": "x", "value": "{{item}}"}]},
        }
    ]


def argo_chain(steps: int) -> list[dict[str, Any]]:
    """s0 -> s1 -> ...; no value passes between them: Argo's outputs need its wait container."""
    return [
        {"name": f"s{i}", "template": "step", **({"dependencies": [f"s{i - 1}"]} if i else {})} for i in range(steps)
    ]


# -- one controller -------------------------------------------------------------------------------------


@dataclass
class Controller:
    """One controller as measured: a label, its user, namespace and how its pods name their steps."""

    label: str
    user: str
    namespace: str
    step_of: Callable[[dict[str, str]], str | None]
    process: subprocess.Popen[bytes] | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def kubeline_step(annotations: dict[str, str]) -> str | None:
    return annotations.get(STEP_ANNOTATION)


def argo_step(annotations: dict[str, str]) -> str | None:
    """The DAG task of an Argo pod: its node name without the workflow's name ("chain.s3" -> "s3")."""
    node = annotations.get(ARGO_NODE_NAME)
    return node.split(".", 1)[1] if node and "." in node else None


def measure(
    bench: Bench,
    controller: Controller,
    shape: str,
    steps: int,
    create: Callable[[], float],
    kind: tuple[str, str, str],
    name: str,
) -> None:
    """Create one workflow/Run through `create` (returns its creation time) and take its figures."""
    kube = bench.kube
    pods = PodWatch(kube, controller.namespace, controller.step_of)
    pods.start()
    pods.ready.wait(30)
    finish = FinishWatch(kube, *kind[:2], controller.namespace, kind[2], name)
    finish.start()
    time.sleep(1)
    offset = bench.audit.offset()
    created_at = create()
    deadline = time.time() + bench.timeout
    while not finish.done.wait(1):
        if controller.process is not None and controller.process.poll() is not None:
            raise SystemExit(f"{controller.label} exited while its {shape} ran (its log is in {bench.state}/logs)")
        if time.time() > deadline:
            raise SystemExit(f"{controller.label}: {shape} did not finish in {bench.timeout:.0f}s")
    writes = bench.audit.settled(offset, controller.user)
    pods.stop.set()
    assert finish.finished_at is not None
    result: dict[str, Any] = {
        "steps": steps,
        "phase": finish.body["status"]["phase"],
        "start to last pod created (s)": round(max(pods.created.values()) - created_at, 2),
        "start to finished (s)": round(finish.finished_at - created_at, 2),
        "last pod done to finished (s)": round(finish.finished_at - max(pods.finished.values()), 2),
        "API writes per step": round(sum(writes.values()) / steps, 2),
        "final object (KiB)": round(len(json.dumps(finish.body)) / 1024, 1),
        "writes": dict(writes.most_common()),
    }
    handoffs = sorted(
        (pods.created[f"s{i}"] - pods.finished[f"s{i - 1}"]) * 1000
        for i in range(1, steps)
        if f"s{i}" in pods.created and f"s{i - 1}" in pods.finished
    )
    if shape == "chain" and handoffs:
        result["hand-off p50 (ms)"] = round(statistics.median(handoffs), 0)
        result["hand-off p99 (ms)"] = round(handoffs[min(len(handoffs) - 1, int(len(handoffs) * 0.99))], 0)
    controller.results[shape] = result
    print(f"[compare] {controller.label} {shape}: {json.dumps(result)}", file=sys.stderr, flush=True)


@dataclass
class Bench:
    state: Path
    kubectl: list[str]
    kube: client.ApiClient
    audit: AuditLog
    timeout: float

    def namespace(self, name: str) -> None:
        self.run("create", "namespace", name)
        while subprocess.run([*self.kubectl, "get", "sa", "default", "-n", name], capture_output=True).returncode:
            time.sleep(0.2)

    def run(self, *args: str, input: str | None = None) -> None:
        subprocess.run([*self.kubectl, *args], input=input, text=True, check=True, capture_output=True)

    def create(self, namespace: str, document: dict[str, Any]) -> float:
        created_at = time.time()
        self.run("create", "-n", namespace, "-f", "-", input=json.dumps(document))
        return created_at

    def log(self, name: str) -> Any:
        return (self.state / "logs" / f"{name}.log").open("ab")


def run_kubeline(bench: Bench, controllers: list[Controller], fan_out: int, chain: int) -> None:
    controller = Controller("kubeline", "kubeline-operator", "bench-kubeline", kubeline_step)
    controllers.append(controller)
    bench.namespace(controller.namespace)
    kubeconfig = identity_kubeconfig(bench.state, controller.user)
    controller.process = subprocess.Popen(
        # alone, as Argo runs here: on a loaded machine a Lease renewal can miss its deadline and the operator
        # then exits to stand by, which a benchmark without a Deployment to restart it cannot survive
        [sys.executable, "-m", "kubeline", "operator", "-n", controller.namespace, "--no-leader-election"],
        stdout=bench.log("kubeline-operator"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    time.sleep(3)
    kind = (GROUP, VERSION, "runs")
    try:
        for shape, steps, spec in (
            ("fan-out", fan_out, kubeline_fan_out(fan_out)),
            ("chain", chain, kubeline_chain(chain)),
        ):
            pipeline = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": shape}, "spec": spec}
            run = {
                "apiVersion": API_VERSION,
                "kind": "Run",
                "metadata": {"name": shape},
                "spec": {"pipelineRef": {"name": shape}},
            }
            measure(
                bench,
                controller,
                shape,
                steps,
                lambda p=pipeline, r=run: start_run(bench.kubectl, controller.namespace, p, r),
                kind,
                shape,
            )
        controller.results["peak RSS (MiB)"] = {"value": peak_rss_mib(controller.process.pid)}
    finally:
        controller.process.terminate()
        controller.process.wait(timeout=15)


def run_argo(
    bench: Bench,
    controllers: list[Controller],
    label: str,
    namespace: str,
    fan_out: int,
    chain: int,
    flags: list[str],
    env: dict[str, str],
) -> None:
    controller = Controller(label, "argo-workflow-controller", namespace, argo_step)
    controllers.append(controller)
    bench.namespace(namespace)
    # the configuration the controller requires (it fails without one); no metrics server (no port to claim)
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "workflow-controller-configmap"},
        "data": {"metricsConfig": "enabled: false\n"},
    }
    bench.create(namespace, configmap)
    kubeconfig = identity_kubeconfig(bench.state, f"{controller.user}-{namespace}")
    controller.user = f"{controller.user}-{namespace}"
    controller.process = subprocess.Popen(
        [
            str(argo_binary()),
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            namespace,
            "--namespaced",
            "--executor-image",
            f"quay.io/argoproj/argoexec:{ARGO}",
            *flags,
        ],
        stdout=bench.log(f"argo-{namespace}"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "LEADER_ELECTION_DISABLE": "true", **env},
    )
    time.sleep(3)
    if controller.process.poll() is not None:
        raise SystemExit(f"Argo's controller exited: see {bench.state / 'logs' / f'argo-{namespace}.log'}")
    kind = (ARGO_GROUP, ARGO_VERSION, "workflows")
    try:
        for shape, steps, tasks in (("fan-out", fan_out, argo_fan_out(fan_out)), ("chain", chain, argo_chain(chain))):
            workflow = argo_workflow(shape, tasks)
            measure(bench, controller, shape, steps, lambda w=workflow: bench.create(namespace, w), kind, shape)
        controller.results["peak RSS (MiB)"] = {"value": peak_rss_mib(controller.process.pid)}
    finally:
        controller.process.terminate()
        controller.process.wait(timeout=15)


# -- the report -----------------------------------------------------------------------------------------

ROWS = (
    ("fan-out", "start to last pod created (s)"),
    ("fan-out", "start to finished (s)"),
    ("fan-out", "last pod done to finished (s)"),
    ("fan-out", "API writes per step"),
    ("fan-out", "final object (KiB)"),
    ("chain", "start to finished (s)"),
    ("chain", "hand-off p50 (ms)"),
    ("chain", "hand-off p99 (ms)"),
    ("chain", "last pod done to finished (s)"),
    ("chain", "API writes per step"),
    ("chain", "final object (KiB)"),
    ("peak RSS (MiB)", "value"),
)
PER_STEP = {"hand-off p50 (ms)", "hand-off p99 (ms)", "API writes per step", "last pod done to finished (s)"}


def table(controllers: list[Controller]) -> str:
    kubeline, others = controllers[0], controllers[1:]
    header = ["figure", *(c.label for c in controllers), *(f"{c.label} / kubeline" for c in others)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for shape, key in ROWS:
        title = "controller peak RSS (MiB)" if shape == "peak RSS (MiB)" else f"{shape}: {key}"
        cells, values = [], []
        for c in controllers:
            value = c.results.get(shape, {}).get(key)
            steps = c.results.get(shape, {}).get("steps")
            fewer = steps and steps != kubeline.results.get(shape, {}).get("steps")
            values.append(None if fewer and key not in PER_STEP else value)  # totals of fewer steps: no ratio
            cells.append("-" if value is None else f"{value:g}" + (f" ({steps} steps)" if fewer else ""))
        base = values[0]
        ratios = ["-" if v is None or not base else f"{v / base:.1f}×" for v in values[1:]]
        lines.append("| " + " | ".join([title, *cells, *ratios]) + " |")
    return "\n".join(lines)


UNFAIR = """What is unfair, either way:
- kwok runs no containers: Argo's init and wait containers (which in a real cluster pull an image, start, and
  report outputs through the API) cost nothing here, nor do kubeline's; kubeline's steps report outputs in the
  termination message, which kwok writes, while Argo's chain passes no value (its outputs need the wait container).
- Argo writes every node's status into the Workflow object and emits a Kubernetes Event per node (nodeEvents,
  on by default); those writes are counted, as Argo does them by default.
- Argo at its defaults is limited by its client (QPS 20, burst 30) and requeues a workflow every 10 s; the raised
  run lifts both. kubeline's operator runs with its default client-side limit (200 calls a second, burst 400).
- Both run alone, without leader election (kubeline --no-leader-election, Argo LEADER_ELECTION_DISABLE=true);
  kubeline's figures include compiling the pipeline into the Run; its Pipeline is applied by kubectl before
  the clock starts.
- Both run as cluster admins with the same API server, etcd (no fsync) and kwok, one after the other in
  separate namespaces: the pods of earlier runs stay in etcd (completed, not scheduled again).
- Peak RSS: a Python process (kopf, kubernetes client, asyncio) against a Go binary; both after both shapes.
- Time stamps are the receive times of watch events in this script, the same for both controllers; this
  script's own watches (pods, the Run or Workflow) share the 2 cores with the controller being measured."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fan-out", type=int, default=1000, help="steps of the fan-out")
    parser.add_argument("--chain", type=int, default=200, help="steps of the chain")
    parser.add_argument("--slow-chain", type=int, default=30, help="steps of the chain for Argo at its defaults")
    parser.add_argument("--argo-qps", type=float, default=500, help="Argo's client QPS in the raised run")
    parser.add_argument("--argo-burst", type=int, default=1000, help="Argo's client burst in the raised run")
    parser.add_argument("--argo-requeue", default="1s", help="Argo's DEFAULT_REQUEUE_TIME in the raised run")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one workflow or Run may take")
    parser.add_argument("--keep", action="store_true", help="leave the control plane up (its state dir is printed)")
    args = parser.parse_args()
    for option in ("fan_out", "chain", "slow_chain", "argo_burst"):
        if getattr(args, option) < 2:
            parser.error(f"--{option.replace('_', '-')} must be at least 2")

    started = time.time()
    build_argo()
    module = argo_module_dir()
    state = Path(tempfile.mkdtemp(prefix="kubeline-compare-argo-"))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped, it still takes its control plane down
    controllers: list[Controller] = []
    incomplete = ""
    cluster = [sys.executable, str(ROOT / "hack" / "cluster")]
    audit_path = state / "audit" / "audit.log"
    try:
        subprocess.run(
            [*cluster, "up", "--state-dir", str(state), "--audit-log", str(audit_path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        kubeconfig = str(state / "kubeconfig")
        kubectl = kubectl_command(kubeconfig)
        crds = [path for path in sorted((module / "manifests/base/crds/minimal").glob("argoproj.io_*.yaml"))]
        for path in [ROOT / "crds", *crds]:
            subprocess.run([*kubectl, "apply", "--server-side", "-f", str(path)], check=True, capture_output=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd", "--all"], check=True, capture_output=True
        )
        bench = Bench(state, kubectl, config.new_client_from_config(kubeconfig), AuditLog(audit_path), args.timeout)
        run_kubeline(bench, controllers, args.fan_out, args.chain)
        run_argo(bench, controllers, "Argo defaults", "bench-argo", args.fan_out, args.slow_chain, [], {})
        raised = ["--qps", f"{args.argo_qps:g}", "--burst", str(args.argo_burst)]
        requeue = {"DEFAULT_REQUEUE_TIME": args.argo_requeue}
        run_argo(bench, controllers, "Argo raised", "bench-argo-raised", args.fan_out, args.chain, raised, requeue)
    except (KeyboardInterrupt, SystemExit) as stopped:  # a slow machine: the figures taken so far still print
        incomplete = f"stopped before the end ({stopped or 'interrupted'}): the figures taken so far"
    finally:
        if args.keep:
            print(f"[compare] control plane left up: hack/cluster down --state-dir {state}", file=sys.stderr)
        else:
            subprocess.run([*cluster, "down", "--state-dir", str(state)], capture_output=True)
    if not any(c.results for c in controllers):
        raise SystemExit(incomplete or "nothing was measured")
    print(f"Argo Workflows {ARGO} workflow-controller vs kubeline, fan-out of {args.fan_out}, chain of {args.chain}")
    print(
        f"(Argo defaults: QPS 20, burst 30, requeue 10s; Argo raised: QPS {args.argo_qps:g}, burst "
        f"{args.argo_burst}, requeue {args.argo_requeue}; ratios are Argo / kubeline; {time.time() - started:.0f}s)"
    )
    if incomplete:
        print(incomplete)
    print()
    print(table(controllers))
    print()
    print("API writes by kind (verb resource: count):")
    for controller in controllers:
        for shape in ("fan-out", "chain"):
            if shape not in controller.results:
                continue
            figures = controller.results[shape]
            writes = ", ".join(f"{k}: {v}" for k, v in figures["writes"].items())
            print(f"- {controller.label}, {shape} of {figures['steps']}: {writes}")
    print()
    print(UNFAIR)
    if incomplete:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
