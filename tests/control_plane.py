"""A real control plane for the integration and browser tests, started once per session (see hack/cluster);
loaded by tests/conftest.py as a plugin, so tests/integration and tests/browser share it.

With KUBECONFIG set to a reachable cluster the tests use it instead (kind, or a real cluster), and start
nothing. Otherwise `hack/cluster up` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok with fake nodes in a state directory of its own, and the session stops it at the end, whatever
happens. `real_node` adds the two real nodes to it; `minio` starts the artifact store (MinIO) in it, or
alone when the session starts no cluster.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HACK_CLUSTER = ROOT / "hack" / "cluster"


@dataclass
class Cluster:
    kubeconfig: Path
    server: str
    kubectl_path: str
    env: dict[str, str] = field(default_factory=dict)
    state: Path | None = None  # hack/cluster's state directory; None for a cluster the tests did not start

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_path, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    @property
    def api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(str(self.kubeconfig))

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def service_account_kubeconfig(
        self, account: str, namespace: str, path: Path, context_namespace: str | None = None
    ) -> Path:
        """A kubeconfig at ``path`` acting as the service account (a token from `kubectl create token`), for
        checking what that account's RBAC allows; ``context_namespace``: the context's default namespace."""
        token = self.kubectl("create", "token", account, "-n", namespace).stdout.strip()
        entry = yaml.safe_load(self.kubeconfig.read_text())["clusters"][0]["cluster"]
        ca = (
            entry.get("certificate-authority-data")
            or base64.b64encode(Path(entry["certificate-authority"]).read_bytes()).decode()
        )
        context: dict[str, str] = {"cluster": "c", "user": account}
        if context_namespace:
            context["namespace"] = context_namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": entry["server"], "certificate-authority-data": ca}}],
            "users": [{"name": account, "user": {"token": token}}],
            "contexts": [{"name": account, "context": context}],
            "current-context": account,
        }
        path.write_text(yaml.safe_dump(config))
        return path


def _reachable(kubeconfig: str, kubectl: str) -> bool:
    result = subprocess.run(
        [kubectl, "--kubeconfig", kubeconfig, "version", "--request-timeout=5s"], capture_output=True, text=True
    )
    return result.returncode == 0


def _hack_kubectl() -> str:
    out = subprocess.run(
        [sys.executable, "-c", "import runpy; m = runpy.run_path('hack/cluster'); print(m['binary']('kubectl'))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    existing = os.environ.get("KUBECONFIG")
    if existing and _reachable(existing, shutil.which("kubectl") or "kubectl"):
        server = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                existing,
                "config",
                "view",
                "--minify",
                "-o",
                "jsonpath={.clusters[0].cluster.server}",
            ],
            capture_output=True,
            text=True,
        ).stdout
        yield Cluster(Path(existing), server, shutil.which("kubectl") or "kubectl", dict(os.environ))
        return
    state = tmp_path_factory.mktemp("cluster")
    command = [sys.executable, str(HACK_CLUSTER), "--state-dir", str(state)]
    started = time.time()
    try:
        subprocess.run([*command[:2], "up", *command[2:]], check=True, cwd=ROOT)
        kubeconfig = state / "kubeconfig"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        print(f"\ncontrol plane up in {time.time() - started:.1f}s", file=sys.stderr)
        yield Cluster(kubeconfig, (state / "server").read_text(), _hack_kubectl(), env, state)
    finally:
        subprocess.run([*command[:2], "down", *command[2:]], cwd=ROOT)


def new_namespace(cluster: Cluster, prefix: str) -> str:
    """A fresh namespace whose default service account exists (pods are refused before it does)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    deadline = time.time() + 30
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode != 0:
        if time.time() > deadline:
            raise AssertionError(f"namespace {name} got no default service account")
        time.sleep(0.2)
    return name


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    name = new_namespace(cluster, "t")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """kubeline's CRDs applied and established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
    return cluster


class Operator:
    """`kubeline operator` in a subprocess, watching one namespace (``args``: more of its flags; ``env``: more
    variables, e.g. POD_NAME)."""

    def __init__(
        self,
        cluster: Any,
        namespace: str,
        log: Path,
        config: Path | None = None,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ):
        self.cluster, self.namespace, self.log, self.config = cluster, namespace, log, config
        self.args, self.env = list(args), env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = ["--config", str(self.config)] if self.config else []
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kubeline", "operator", "-n", self.namespace, *config, *self.args],
                env={**self.cluster.env, "KUBECONFIG": str(self.cluster.kubeconfig), **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def operator_namespace(
    crds: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Cluster, str, Operator]]:
    """A namespace of its own with `kubeline operator` watching it, for one test module."""
    namespace = new_namespace(crds, "op")
    operator = Operator(crds, namespace, tmp_path_factory.mktemp("operator") / "operator.log")
    operator.start()
    yield crds, namespace, operator
    operator.kill()
    crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _node_can_run() -> str:
    """Why this host cannot run the real nodes, or an empty string."""
    return subprocess.run(
        [sys.executable, "-c", "import runpy; print(runpy.run_path('hack/cluster')['node_can_run']() or '')"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="session")
def real_node(cluster: Cluster) -> Cluster:
    """Two real nodes (kubelet, containerd, runc) beside the fake ones: steps really run (hack/cluster node).

    They are `REAL_NODES`, labelled and tainted `kubeline.dev/real-node=true`: a pod that tolerates the taint
    and selects the label lands on either.
    """
    if cluster.state is None:
        pytest.skip("the cluster was not started by the tests: no real nodes to add")
    reason = _node_can_run()
    if reason:
        pytest.skip(f"this host cannot run containers: {reason}")
    subprocess.run([sys.executable, str(HACK_CLUSTER), "node", "--state-dir", str(cluster.state)], check=True, cwd=ROOT)
    return cluster


REAL_NODES = ("kubeline-node-0", "kubeline-node-1")


@dataclass(frozen=True)
class Minio:
    """A running MinIO (hack/cluster store): the host reaches it at `endpoint`, pods on the real nodes at
    `pod_endpoint` (None when the session has no real nodes)."""

    endpoint: str
    pod_endpoint: str | None
    access_key: str
    secret_key: str

    def client(self) -> Any:
        """A boto3 S3 client with the root credentials (for tests that set up or inspect buckets)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


def _session_uses(request: pytest.FixtureRequest, fixture: str) -> bool:
    return any(fixture in getattr(item, "fixturenames", ()) for item in request.session.items)


def _store_state(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session cluster's state directory when the session starts one (after its real nodes, when it
    adds them, so that the store knows its pod endpoint), else a directory of the store's own."""
    for fixture in ("real_node", "cluster"):
        if _session_uses(request, fixture):
            try:
                state: Path | None = request.getfixturevalue(fixture).state
            except pytest.skip.Exception:
                continue
            if state is not None:
                return state
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="session")
def minio(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Minio]:
    """MinIO started for the session (hack/cluster store) with fresh root credentials; always stopped."""
    state = _store_state(request, tmp_path_factory)
    command = [sys.executable, str(HACK_CLUSTER), "store", "--state-dir", str(state)]
    try:
        facts_file = subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True).stdout.strip()
        facts = json.loads(Path(facts_file).read_text())
        yield Minio(facts["endpoint"], facts["podEndpoint"], facts["accessKey"], facts["secretKey"])
    finally:
        subprocess.run([*command, "--stop"], cwd=ROOT)


@pytest.fixture(scope="session")
def operator_image(real_node: Cluster) -> str:
    """kubeline's image, built from this tree (hack/image/build operator) and imported on the real nodes: the
    operator's own image, and the image of kubeline's container in step pods when a store is set."""
    subprocess.run([str(ROOT / "hack" / "image" / "build"), "operator"], check=True, stdout=subprocess.DEVNULL)
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy; m = runpy.run_path('hack/image/build'); print(m['archive_path']('operator'), m['IMAGES']['operator']['name'])",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    archive, name = found
    subprocess.run(
        [sys.executable, str(HACK_CLUSTER), "load", archive, "--state-dir", str(real_node.state)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return name
