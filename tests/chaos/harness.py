"""The fault-injection harness shared by tests/chaos (a few trials) and benchmarks/chaos.py (many).

A control plane of the harness's own (hack/cluster, so that restarting its API server or etcd disturbs no
other test), `kubeline operator` in a subprocess, a mix of pipelines whose outcomes are known in advance
(tests/chaos/pipelines/), and a pod ledger: one watch held for the whole trial, through every fault, that
records each pod the operator ever created. The verdict compares the ledger and the Runs' statuses with
what each pipeline must do: at most one pod per (run, step, attempt), none for a step that must not run,
the exit handler exactly once, the right final phase and outputs, and every Run finished.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kubeline.api.constants import API_VERSION, ATTEMPT_ANNOTATION, GROUP, RUN_LABEL, STEP_ANNOTATION, VERSION

ROOT = Path(__file__).resolve().parents[2]
HACK_CLUSTER = ROOT / "hack" / "cluster"
PIPELINES = Path(__file__).resolve().parent / "pipelines"
FINISHED = ("Succeeded", "Failed", "Cancelled")
#: What a call to an API server that is restarting raises: retried by the harness until its deadline.
UNREACHABLE = (ApiException, HTTPError, OSError)

PodKey = tuple[str, str, int]  # run, step, attempt


# -- the control plane and the operator ----------------------------------------------------------------


class ControlPlane:
    """hack/cluster up in a state directory of its own; `stop` takes down every process it started."""

    def __init__(self, state: Path):
        self.state = state
        self.kubeconfig = state / "kubeconfig"
        self._hack("up")
        self.api = config.new_client_from_config(str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        # once: applying them again would make the API server re-initialize their storage under a running operator
        self.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        for path in sorted((ROOT / "crds").glob("*.yaml")):
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")

    def _hack(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(HACK_CLUSTER), *args, "--state-dir", str(self.state)],
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )

    def kubectl(self, *args: str, input: str | None = None) -> str:
        kubectl = json.loads((self.state / "argv" / "kube-apiserver.json").read_text())[0]
        kubectl = str(Path(kubectl).with_name("kubectl"))
        result = subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args], input=input, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def restart(self, component: str, down_seconds: float = 0.0) -> None:
        """Kill one control-plane process as a crash would and start it again; returns once it answers."""
        self._hack("restart", component, "--down-seconds", str(down_seconds))

    def namespace(self, prefix: str) -> str:
        """A fresh namespace with its default service account (pods are refused before it exists) and every
        pipeline of tests/chaos/pipelines in it."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", name)
        poll(lambda: self._has_service_account(name), 30, f"namespace {name} got no default service account")
        self.kubectl("apply", "-n", name, "-f", str(PIPELINES))
        return name

    def _has_service_account(self, namespace: str) -> bool:
        try:
            self.core.read_namespaced_service_account("default", namespace)
            return True
        except ApiException:
            return False

    def stop(self) -> None:
        self._hack("down")


#: A log line at ERROR or CRITICAL in kopf's text format ("[time] logger [ERROR   ] ...").
ERROR_LINE = re.compile(r"\[(ERROR|CRITICAL)\s*\]")


class Operator:
    """`kubeline operator -n NS` in a subprocess (its own process group), killed and started at will, and
    started again at once when it exits by itself, as the kubelet restarts a container: a leader that cannot
    renew its Lease (the API server down longer than the renew deadline) exits on purpose."""

    def __init__(self, plane: ControlPlane, namespace: str, log: Path, kubeconfig: Path | None = None):
        self.plane, self.namespace, self.log = plane, namespace, log
        self.kubeconfig = kubeconfig or plane.kubeconfig
        self.process: subprocess.Popen[bytes] | None = None
        self.metrics = ""
        self.exits = 0  # times it exited by itself (and was started again)
        self._stopped = threading.Event()

    def start(self) -> None:
        """Started as its container would be restarted in its pod: the same identity (POD_NAME), so it takes its
        own Lease back at once instead of waiting for it to expire."""
        self._stopped.clear()
        self._spawn()
        threading.Thread(target=self._supervise, daemon=True).start()

    def _spawn(self) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PYTHONPATH": str(ROOT / "operator"),
            "POD_NAME": f"chaos-operator-{self.namespace}",
        }
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{probe.getsockname()[1]}"
        self.metrics = f"http://{address}/metrics"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kubeline", "operator", "-n", self.namespace, "--metrics-address", address],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _supervise(self) -> None:
        process = self.process
        while process is not None:
            process.wait()
            if self._stopped.is_set() or process is not self.process:
                return
            self.exits += 1
            self._spawn()
            process = self.process

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the operator says it leads (its /metrics has kubeline_leader 1): kopf is starting to act."""

        def answers() -> bool:
            try:
                with urllib.request.urlopen(self.metrics, timeout=1) as response:
                    return b"\nkubeline_leader 1.0\n" in response.read()
            except OSError:
                return False

        poll(answers, timeout, f"the operator did not come up; its log: {self.log}")

    def kill(self) -> None:
        self._stopped.set()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def rss_mib(self) -> float:
        """The operator's resident memory now, from /proc."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS for the operator")

    def errors(self) -> list[str]:
        """ERROR lines and tracebacks in the operator's log."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return [line for line in lines if ERROR_LINE.search(line) or line.startswith("Traceback")]


# -- the pod ledger -------------------------------------------------------------------------------------


@dataclass
class PodSeen:
    uid: str
    name: str
    node: str | None
    created: float  # the API server's creationTimestamp: whole seconds


class PodLedger:
    """Every pod of the namespace's Runs, from one watch held for the whole trial. When the API server goes
    away, the watch starts again from its last resourceVersion (or, when that has expired, from a list,
    which holds every pod that still exists): a pod the operator creates is seen by either, unless it was
    created and deleted again while the API server was away (the operator deletes pods only on cancel)."""

    def __init__(self, plane: ControlPlane, namespace: str):
        self.core, self.namespace = plane.core, namespace
        self.pods: dict[PodKey, dict[str, PodSeen]] = defaultdict(dict)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="pod-ledger")
        self.thread.start()

    def _record(self, pod: Any) -> None:
        metadata = pod["metadata"]
        annotations = metadata.get("annotations") or {}
        run = (metadata.get("labels") or {}).get(RUN_LABEL)
        if run is None or STEP_ANNOTATION not in annotations:
            return
        key = (run, annotations[STEP_ANNOTATION], int(annotations.get(ATTEMPT_ANNOTATION, "0")))
        node = (pod.get("spec") or {}).get("nodeName")
        created = datetime.strptime(metadata["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        with self.lock:
            seen = self.pods[key].setdefault(metadata["uid"], PodSeen(metadata["uid"], metadata["name"], node, created))
            seen.node = node or seen.node

    def _watch(self) -> None:
        version: str | None = None
        while not self.stopping.is_set():
            try:
                if version is None:
                    listed = self.core.list_namespaced_pod(self.namespace, _preload_content=False, _request_timeout=10)
                    document = json.loads(listed.data)
                    for pod in document["items"]:
                        self._record(pod)
                    version = document["metadata"]["resourceVersion"]
                # a watch the API server accepted while starting may stay silent: a read timeout ends it
                stream = watch.Watch().stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
                    resource_version=version,
                    timeout_seconds=10,
                    allow_watch_bookmarks=True,
                    _request_timeout=(5, 15),
                )
                for event in stream:
                    raw = event["raw_object"]
                    version = raw["metadata"].get("resourceVersion") or version
                    if event["type"] != "BOOKMARK":
                        self._record(raw)
                    if self.stopping.is_set():
                        return
            except ApiException:
                version = None  # 410 Gone (the version expired) or a server starting: list again
                time.sleep(0.2)
            except (HTTPError, OSError):
                time.sleep(0.2)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=70)

    def snapshot(self) -> dict[PodKey, list[PodSeen]]:
        with self.lock:
            return {key: list(seen.values()) for key, seen in self.pods.items()}

    def created_since(self, moment: float) -> float | None:
        """When the first pod created in or after the second of ``moment`` was created (the operator acting
        again), or None."""
        with self.lock:
            times = [s.created for seen in self.pods.values() for s in seen.values() if s.created >= int(moment)]
        return min(times) if times else None


# -- the pipelines and what each must do ------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A pipeline's outcome, known in advance: final phase, outputs, and exactly which pods it creates."""

    phase: str
    outputs: dict[str, str] | None
    pods: frozenset[tuple[str, int]]  # (step, attempt)
    exit_handler: str | None = None
    must_not_run: frozenset[str] = frozenset()


def _steps(*names: str, attempts: int = 1) -> set[tuple[str, int]]:
    return {(name, attempt) for name in names for attempt in range(1, attempts + 1)}


EXPECTED: dict[str, Expected] = {
    "chain": Expected("Succeeded", {"last": "linked"}, frozenset(_steps(*(f"link-{i}" for i in range(30))))),
    "fanout": Expected(
        "Succeeded", {"total": "100"}, frozenset(_steps("split", "join", *(f"work[{i}]" for i in range(100))))
    ),
    "branches": Expected(
        "Succeeded",
        {"heads": "yes"},
        frozenset(_steps("flip", "on-heads", *(f"shard[{i}].{t}" for i in range(3) for t in ("prep", "use")))),
        must_not_run=frozenset({"on-tails", "after-tails", *(f"shard[{i}].check" for i in range(3))}),
    ),
    "retries": Expected(
        "Failed",
        None,
        frozenset(_steps("boom", attempts=3) | _steps("notify")),
        exit_handler="notify",
        must_not_run=frozenset({"never"}),
    ),
    "cancelled": Expected(
        "Cancelled",
        None,
        frozenset(_steps("long", "notify")),
        exit_handler="notify",
        must_not_run=frozenset({"later"}),
    ),
    "twenty": Expected(
        "Succeeded", {"out": "ok"}, frozenset(_steps(*(f"s{r}-{i}" for r in range(5) for i in range(4))))
    ),
}

MIX = ("chain", "fanout", "branches", "retries", "cancelled")


def submit(plane: ControlPlane, namespace: str, pipelines: Iterable[str], tag: str, copies: int = 1) -> dict[str, str]:
    """``copies`` Runs of each pipeline, in one kubectl apply; returns pipeline by run name."""
    suffixes = [tag] if copies == 1 else [f"{tag}{index}" for index in range(copies)]
    runs = {f"{pipeline}-{suffix}": pipeline for pipeline in pipelines for suffix in suffixes}
    documents = [
        {"apiVersion": API_VERSION, "kind": "Run", "metadata": {"name": run}, "spec": {"pipelineRef": {"name": p}}}
        for run, p in runs.items()
    ]
    plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents))
    return runs


# -- a trial ------------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    runs: int = 0
    survived: int = 0
    duplicates: int = 0  # (run, step, attempt) with more than one pod
    lost: int = 0  # pods a finished run must have created and did not
    hung: int = 0  # runs not finished by the deadline
    should_not_have_run: int = 0
    exit_handlers_wrong: int = 0
    wrong: int = 0  # runs finished with the wrong phase or outputs
    problems: list[str] = field(default_factory=list)

    def add(self, other: Verdict) -> None:
        for name in (
            "runs",
            "survived",
            "duplicates",
            "lost",
            "hung",
            "should_not_have_run",
            "exit_handlers_wrong",
            "wrong",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems


class Trial:
    """Runs of the mix in one namespace, watched by the ledger, driven to their end while faults happen."""

    def __init__(self, plane: ControlPlane, namespace: str, ledger: PodLedger, runs: dict[str, str]):
        self.plane, self.namespace, self.ledger, self.runs = plane, namespace, ledger, runs
        self.statuses: dict[str, dict[str, Any]] = {}
        self.cancelled: set[str] = set()

    def refresh(self) -> bool:
        """Read the Runs (False while the API server does not answer); cancel a `cancelled` run once its long
        step's pod exists."""
        try:
            listed = self.plane.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "runs", _request_timeout=10
            )
        except UNREACHABLE:
            return False
        for item in listed["items"]:
            if item["metadata"]["name"] in self.runs:
                self.statuses[item["metadata"]["name"]] = item.get("status") or {}
        pods = self.ledger.snapshot()
        for run, pipeline in self.runs.items():
            if pipeline == "cancelled" and run not in self.cancelled and (run, "long", 1) in pods:
                try:
                    self.plane.custom.patch_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, "runs", run, {"spec": {"cancel": True}}, _request_timeout=10
                    )
                    self.cancelled.add(run)
                except UNREACHABLE:
                    return False
        return True

    def finished(self) -> bool:
        return all((self.statuses.get(run) or {}).get("phase") in FINISHED for run in self.runs)

    def drive(
        self, deadline: float, fault: Callable[[], None] | None = None, every: tuple[float, float] = (1, 1)
    ) -> None:
        """Poll until every Run has finished or ``deadline``; ``fault`` is called at random intervals (seconds,
        uniform in ``every``) while runs are going on."""
        next_fault = time.time() + random.uniform(*every)
        while time.time() < deadline:
            if self.refresh() and self.finished():
                return
            if fault is not None and time.time() >= next_fault:
                fault()
                next_fault = time.time() + random.uniform(*every)
            time.sleep(0.2)

    def verdict(self) -> Verdict:
        verdict = Verdict(runs=len(self.runs))
        pods = self.ledger.snapshot()
        for run, pipeline in self.runs.items():
            before = len(verdict.problems)
            expected = EXPECTED[pipeline]
            status = self.statuses.get(run) or {}
            mine = {(step, attempt): seen for (r, step, attempt), seen in pods.items() if r == run}
            for (step, attempt), seen in sorted(mine.items()):
                if len(seen) > 1:
                    verdict.duplicates += 1
                    verdict.problems.append(
                        f"{run}: {len(seen)} pods for {step} attempt {attempt}: {[s.name for s in seen]}"
                    )
                if step in expected.must_not_run:
                    verdict.should_not_have_run += 1
                    verdict.problems.append(f"{run}: {step} ran and must not have")
            if expected.exit_handler is not None:
                runs_of_handler = sum(len(seen) for (step, _), seen in mine.items() if step == expected.exit_handler)
                if runs_of_handler != 1:
                    verdict.exit_handlers_wrong += 1
                    verdict.problems.append(f"{run}: exit handler ran {runs_of_handler} times")
            phase = status.get("phase")
            if phase not in FINISHED:
                verdict.hung += 1
                verdict.problems.append(f"{run}: still {phase} ({status.get('progressText')}) at the deadline")
            else:
                missing = expected.pods - mine.keys()
                verdict.lost += len(missing)
                if missing:
                    verdict.problems.append(f"{run}: finished without pods for {sorted(missing)[:5]}")
                if phase != expected.phase or (status.get("outputs") or None) != expected.outputs:
                    verdict.wrong += 1
                    verdict.problems.append(
                        f"{run}: {phase} with outputs {status.get('outputs')}, expected {expected.phase} "
                        f"with {expected.outputs}: {status.get('message')}"
                    )
            if len(verdict.problems) == before:
                verdict.survived += 1
        return verdict


def poll(check: Callable[[], Any], timeout: float, message: str) -> Any:
    """``check()``'s first true value within ``timeout`` seconds (AssertionError with ``message`` after)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


def running_pods(
    ledger: PodLedger, run: str, steps: Iterable[str], attempt: int = 1, timeout: float = 60
) -> dict[str, PodSeen]:
    """The pod of ``attempt`` of each of ``steps``, once all of them exist and are bound to a node."""
    wanted = list(steps)

    def found() -> dict[str, PodSeen] | None:
        pods = ledger.snapshot()
        seen = {step: (pods.get((run, step, attempt)) or [None])[0] for step in wanted}
        return seen if all(s is not None and s.node for s in seen.values()) else None  # type: ignore[misc]

    return poll(found, timeout, f"{run}: no bound pods for {wanted} (attempt {attempt})")


def wait_for_pod(ledger: PodLedger, run: str, step: str, timeout: float = 120) -> None:
    """Until the pod of ``step``'s first attempt exists."""
    poll(lambda: (run, step, 1) in ledger.snapshot(), timeout, f"{run}: no pod for {step} in {timeout:.0f}s")


def time_to_resume(ledger: PodLedger, since: float, timeout: float = 60) -> float:
    """Seconds from ``since`` (a fault over) until the operator created a pod again, to the second (the
    API server's timestamps): 0 means within the same second."""
    created = poll(lambda: ledger.created_since(since), timeout, "the operator created no pod after the fault")
    return max(0.0, created - int(since))


# -- connections that go silent -----------------------------------------------------------------------------


class SilentProxy:
    """A TCP proxy to the API server whose open connections can be made to go silent: they stay open and
    carry nothing more, as through a load balancer that died or a network path that was lost; connections
    made afterwards go through. TLS passes through untouched (the server's certificate names 127.0.0.1)."""

    def __init__(self, server: str):
        host, port = server.removeprefix("https://").rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[tuple[socket.socket, socket.socket]] = []
        self.silenced: set[int] = set()  # ids of the client sockets that carry nothing more
        threading.Thread(target=self._accept, daemon=True, name="silent-proxy").start()

    def kubeconfig(self, plane: ControlPlane, path: Path) -> Path:
        """A copy of the plane's kubeconfig that goes through this proxy."""
        server = (plane.state / "server").read_text()
        path.write_text(plane.kubeconfig.read_text().replace(server, f"https://127.0.0.1:{self.port}"))
        return path

    def _accept(self) -> None:
        while True:
            try:
                client_side, _ = self.listener.accept()
                server_side = socket.create_connection(self.target)
            except OSError:
                return
            self.connections.append((client_side, server_side))
            for source, target in ((client_side, server_side), (server_side, client_side)):
                threading.Thread(target=self._pump, args=(source, target, id(client_side)), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, connection: int) -> None:
        try:
            while data := source.recv(65536):
                if connection not in self.silenced:
                    target.sendall(data)
        except OSError:
            pass
        if connection not in self.silenced:
            target.close()

    def silence(self) -> int:
        """Make every open connection go silent; returns how many."""
        self.silenced |= {id(client_side) for client_side, _ in self.connections}
        return len(self.silenced)

    def close(self) -> None:
        self.listener.close()
        for client_side, server_side in self.connections:
            client_side.close()
            server_side.close()


def take_away_and_wait(
    plane: ControlPlane,
    namespace: str,
    trial: Trial,
    ledger: PodLedger,
    how: Callable[[list[PodSeen]], None],
    tag: str = "a",
) -> PodSeen:
    """The first pods of both `long-` runs (submitted with ``tag``) taken away by ``how``; returns the retried
    step's second pod once it is bound, after which that run is cancelled (rather than waiting 90 s for it):
    every run must then end."""
    retried, once = f"long-retried-{tag}", f"long-once-{tag}"
    how([running_pods(ledger, run, ["step"])["step"] for run in (retried, once)])
    retry = running_pods(ledger, retried, ["step"], attempt=2, timeout=120)["step"]
    plane.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "runs", retried, {"spec": {"cancel": True}})
    trial.drive(time.time() + 60)
    return retry
