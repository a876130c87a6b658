"""End to end on the real nodes: kubelet, containerd and runc run the steps' real code.

The two nodes are tainted so only pipelines that ask for them land there: these pipelines get a toleration
and a node selector in their defaults, so a step may run on either node. The Run's volume is a hostPath
volume, the same host folder seen from both nodes (a real ReadWriteOnce disk could not do that: see
test_nodes.py). The step image is Debian's python3, tagged python:3.11-slim
(hack/image/build step), so the examples run unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from kubeline.api import models
from kubeline.api.yamlio import dump_all, read_documents
from kubeline.controller.pods import volume_claim_name
from kubeline.engine.volumes import claim_name
from kubeline.importers.kfp_v1 import import_workflow
from kubeline.sdk.loader import pipeline_document_from_python
from tests.control_plane import REAL_NODES, Operator, new_namespace
from tests.helpers import bound_volume, by_step, migrated, pods_of, wait_run

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
API = "kubeline.dev/v1alpha1"
ON_REAL_NODE = {
    "nodeSelector": {"kubeline.dev/real-node": "true"},
    "tolerations": [{"key": "kubeline.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
}
STORAGE_CLASS = "kubeline-e2e"


@pytest.fixture(scope="module")
def node_ns(real_node, crds, tmp_path_factory) -> Iterator[tuple[Any, str, Operator]]:
    """A namespace served by an operator whose runs keep artifacts on hostPath volumes of the real node."""
    directory = tmp_path_factory.mktemp("volumes")
    volumes: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        }
    ]
    for index in range(3):
        path = directory / f"pv-{index}"
        path.mkdir()
        path.chmod(0o777)  # steps run as an unprivileged user
        volumes.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"kubeline-e2e-{uuid.uuid4().hex[:6]}"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": STORAGE_CLASS,
                    "persistentVolumeReclaimPolicy": "Delete",
                    "hostPath": {"path": str(path)},
                },
            }
        )
    real_node.kubectl("apply", "-f", "-", input=dump_all(volumes))
    config = directory / "operator.yaml"
    config.write_text(yaml.safe_dump({"artifacts": {"storageClassName": STORAGE_CLASS, "size": "1Gi"}}))
    namespace = new_namespace(real_node, "e2e")
    operator = Operator(real_node, namespace, directory / "operator.log", config)
    operator.start()
    yield real_node, namespace, operator
    operator.kill()
    real_node.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def on_real_node(document: dict[str, Any]) -> dict[str, Any]:
    document["spec"]["defaults"] = {**document["spec"].get("defaults", {}), **ON_REAL_NODE}
    return document


def start_run(
    ctx: tuple[Any, str, Operator], pipeline: dict[str, Any], arguments: dict[str, Any] | None = None
) -> tuple[str, float]:
    cluster, namespace, _ = ctx
    name = f"{pipeline['metadata']['name'][:40]}-{uuid.uuid4().hex[:5]}"
    run = {
        "apiVersion": API,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": pipeline["metadata"]["name"]}, "arguments": arguments or {}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([on_real_node(pipeline)]))
    started = time.time()
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=dump_all([run]))
    return name, started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


def example(name: str) -> dict[str, Any]:
    return next(d for d in read_documents(ROOT / "examples" / name) if d.get("kind") == "Pipeline")


def test_add_subtract_multiply_from_python_functions(node_ns, record_property) -> None:
    pipeline = pipeline_document_from_python(ROOT / "examples" / "python" / "add_subtract_multiply.py")
    run, started = start_run(node_ns, pipeline, {"value_1": 7, "value_2": 3})
    status = wait_run(node_ns, run, timeout=120)
    elapsed = time.time() - started
    record_property("apply_to_succeeded_seconds", round(elapsed, 2))
    print(f"\nadd-subtract-multiply on the real node: Run created -> Succeeded in {elapsed:.2f}s")
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["tasks"]["multiply"]["outputs"] == {"Output": "40"}
    assert {task["node"] for task in status["tasks"].values()} <= set(REAL_NODES)


def test_kubectl_logs_shows_a_steps_output(node_ns) -> None:
    cluster, namespace, _ = node_ns
    run, _ = start_run(node_ns, example("add-subtract-multiply.yaml"), {"value_1": 5, "value_2": 2})
    assert wait_run(node_ns, run, timeout=120)["phase"] == "Succeeded"
    logs = cluster.kubectl("logs", "-n", namespace, f"{run}-multiply-a1").stdout
    assert "7 multiply 3 = 21" in logs
    shown = subprocess.run(
        [sys.executable, "-m", "kubeline", "logs", run, "multiply", "-n", namespace],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "==> multiply <==" in shown.stdout and "7 multiply 3 = 21" in shown.stdout


def test_a_json_file_passes_between_steps_through_the_runs_volume(node_ns) -> None:
    cluster, namespace, _ = node_ns
    run, _ = start_run(node_ns, example("json-file-passing.yaml"), {"count": 4})
    status = wait_run(node_ns, run, timeout=120)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["tasks"]["summarize"]["outputs"]["total"] == "14"
    claim = cluster.kubectl_json("get", "pvc", f"{run}-artifacts", "-n", namespace)
    assert claim["metadata"]["ownerReferences"][0]["name"] == run


def test_a_condition_and_a_fan_out_over_a_produced_list(node_ns) -> None:
    run, _ = start_run(node_ns, example("fan-out.yaml"), {"count": 3})
    status = wait_run(node_ns, run, timeout=180)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["outputs"] == {"total": "14"}  # 1 + 4 + 9
    condition, _ = start_run(node_ns, example("condition-random.yaml"))
    status = wait_run(node_ns, condition, timeout=120)
    number = int(status["tasks"]["draw"]["outputs"]["number"])
    ran, skipped = ("high", "low") if number > 5 else ("low", "high")
    assert status["tasks"][ran]["phase"] == "Succeeded" and status["tasks"][skipped]["phase"] == "Skipped"


def test_a_failing_step_fails_the_run_and_the_exit_handler_runs(node_ns) -> None:
    cluster, namespace, _ = node_ns
    run, _ = start_run(node_ns, example("exit-handler.yaml"))
    status = wait_run(node_ns, run, timeout=120)
    assert status["phase"] == "Failed"
    assert status["tasks"]["train"]["exitCode"] == 1
    assert status["tasks"]["notify"]["outputs"] == {"report": "Failed"}
    assert "out of memory" in cluster.kubectl("logs", "-n", namespace, f"{run}-train-a1").stdout


def test_a_second_run_is_served_from_the_cache_with_no_pod(node_ns) -> None:
    pipeline = example("add-subtract-multiply.yaml")
    first, _ = start_run(node_ns, pipeline, {"value_1": 11, "value_2": 4})
    assert wait_run(node_ns, first, timeout=120)["phase"] == "Succeeded"
    second, _ = start_run(node_ns, pipeline, {"value_1": 11, "value_2": 4})
    status = wait_run(node_ns, second, timeout=60)
    assert status["phase"] == "Succeeded"
    assert status["tasks"]["multiply"] == {**status["tasks"]["multiply"], "cached": True, "outputs": {"result": "105"}}
    assert pods_of(node_ns, second) == [] and len(by_step(pods_of(node_ns, first))) == 3


def test_the_operator_installed_with_helm_from_the_local_image_runs_a_pipeline(
    real_node, crds, operator_image, tmp_path: Path
) -> None:
    """The operator as users run it: in the cluster, from its image, installed by the chart."""
    helm = subprocess.run([str(ROOT / "hack" / "helm.sh")], capture_output=True, text=True, check=True).stdout.strip()
    namespace = new_namespace(real_node, "helm-e2e")
    # no kube-proxy here: the operator reaches the API server on the node's loopback, in the node's network
    port = urlparse(real_node.server).port
    values = {
        "image": {"repository": operator_image.rsplit(":", 1)[0], "tag": operator_image.rsplit(":", 1)[1]},
        "watchNamespaces": [namespace],
        "hostNetwork": True,
        "metrics": {"port": free_port()},  # in the host's network: another test run's operator may hold a fixed one
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(port)},
        ],
        **ON_REAL_NODE,
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    release = ["-n", "kubeline-e2e", "--kubeconfig", str(real_node.kubeconfig)]
    installed = subprocess.run(
        [
            helm,
            "install",
            "kubeline-e2e",
            str(ROOT / "charts" / "kubeline"),
            "--create-namespace",
            "-f",
            str(values_file),
            *release,
        ],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    try:
        rollout = real_node.kubectl(
            "rollout",
            "status",
            "deployment/kubeline-e2e-operator",
            "-n",
            "kubeline-e2e",
            "--timeout=120s",
            check=False,
            timeout=150,
        )
        assert rollout.returncode == 0, real_node.kubectl(
            "logs", "-n", "kubeline-e2e", "deployment/kubeline-e2e-operator", check=False
        ).stdout[-3000:]
        operator = Operator(real_node, namespace, tmp_path / "unused.log")  # only for the helpers' context
        ctx = (real_node, namespace, operator)
        run, _ = start_run(ctx, example("add-subtract-multiply.yaml"), {"value_1": 7, "value_2": 3})
        status = wait_run(ctx, run, timeout=120)
        assert status["phase"] == "Succeeded", status.get("message")
        assert status["outputs"] == {"product": "40"}
    finally:
        subprocess.run([helm, "uninstall", "kubeline-e2e", *release], capture_output=True)


def test_steps_share_a_pipeline_volume_and_a_step_with_a_sidecar_ends(node_ns, tmp_path_factory) -> None:
    """KFP's VolumeOp: the Run claims the volume, a producer writes a file into it and a consumer reads it;
    the producer's sidecar (native: it would sleep an hour) is stopped when the step ends."""
    cluster, namespace, _ = node_ns
    run = f"volumes-{uuid.uuid4().hex[:5]}"
    claim = f"{run}-shared"
    folder = tmp_path_factory.mktemp("shared")
    volume = bound_volume(namespace, claim, folder)

    def step(name: str, script: str, mount: str, **component: Any) -> dict[str, Any]:
        return {
            "name": name,
            "inputs": [{"name": "pvc"}],
            "container": {
                "image": "python:3.11-slim",
                "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "shared", "mountPath": mount}],
            },
            "volumes": [{"name": "shared", "persistentVolumeClaim": {"claimName": "{{inputs.pvc}}"}}],
            **component,
        }

    produce = step(
        "produce",
        "echo 42 > /mnt/shared/model",
        "/mnt/shared",
        sidecars=[{"name": "idle", "image": "python:3.11-slim", "command": ["sleep", "3600"]}],
    )
    consume = step("consume", "cat /data/model > $0", "/data", outputs=[{"name": "out"}])
    consume["container"]["args"] = ["{{outputs.out.path}}"]
    pipeline = {
        "apiVersion": API,
        "kind": "Pipeline",
        "metadata": {"name": run},
        "spec": {
            "components": [produce, consume],
            "tasks": [
                {"name": "produce", "component": "produce", "arguments": {"pvc": "{{volumes.shared.name}}"}},
                {
                    "name": "consume",
                    "component": "consume",
                    "arguments": {"pvc": "{{volumes.shared.name}}"},
                    "after": ["produce"],
                },
            ],
            "volumes": [{"name": "shared", "size": "1Gi", "storageClassName": ""}],
            "defaults": {"caching": {"enabled": False}},
        },
    }
    document = {"apiVersion": API, "kind": "Run", "metadata": {"name": run}, "spec": {"pipelineRef": {"name": run}}}
    try:
        cluster.kubectl("apply", "-f", "-", input=dump_all([volume]))
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([on_real_node(pipeline), document]))
        status = wait_run(node_ns, run, timeout=120)  # the sidecar would keep the step an hour if it were not stopped
        print(f"\npipeline volume and native sidecar on the real node: Run {status.get('duration')}")
        assert status["phase"] == "Succeeded", status.get("message")
        assert status["tasks"]["consume"]["outputs"] == {"out": "42"}
        assert status["volumes"] == {"shared": claim}
        assert (folder / "model").read_text() == "42\n"
        assert (
            cluster.kubectl_json("get", "pvc", claim, "-n", namespace)["metadata"]["ownerReferences"][0]["name"] == run
        )
        producer = by_step(pods_of(node_ns, run))["produce"]
        assert [(c["name"], c["restartPolicy"]) for c in producer["spec"]["initContainers"]] == [("idle", "Always")]
    finally:
        cluster.kubectl("delete", "pv", volume["metadata"]["name"], "--wait=false", check=False)


def kfp_program(how: str, stem: str, tmp_path: Path, kfp_workflows: dict[str, Any]) -> dict[str, Any]:
    """A KFP v1 test program as a Pipeline: compiled by kubeline's SDK, or compiled by kfp 1.8.22 and imported.
    Its steps get the node's one step image (no registry is reachable), which has sh, cat, tee and python3."""
    if how == "sdk":
        document = pipeline_document_from_python(migrated(f"{stem}.py", tmp_path))
    else:
        document = import_workflow(yaml.safe_load(kfp_workflows[stem][0].read_text())).pipeline
    for component in document["spec"]["components"]:
        component["container"]["image"] = "python:3.11-slim"
    document["metadata"]["name"] = f"{stem.replace('_', '-')}-{how}"
    return document


@pytest.mark.parametrize("how", ["sdk", "import"])
def test_kfp_volumeop_sequential_runs_its_steps_on_one_claim(how, node_ns, kfp_workflows, tmp_path) -> None:
    """KFP's VolumeOp sample, unchanged but for its import: the Run claims the volume, step1 writes, step2 copies
    (each mounting the volume the step before returned, so in order), step3 reads both, and the VolumeOp's
    outputs (the claim's name and size) reach a step's command."""
    cluster, namespace, _ = node_ns
    pipeline = kfp_program(how, "volumeop_sequential", tmp_path, kfp_workflows)
    run = f"vop-{how}-{uuid.uuid4().hex[:5]}"
    (volume,) = pipeline["spec"]["volumes"]
    claim = claim_name(run, models.PipelineVolume.model_validate(volume))
    persistent = bound_volume(namespace, claim, tmp_path / "claim")
    reference = {"pipelineRef": {"name": pipeline["metadata"]["name"]}}
    document = {"apiVersion": API, "kind": "Run", "metadata": {"name": run}, "spec": reference}
    try:
        cluster.kubectl("apply", "-f", "-", input=dump_all([persistent]))
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([on_real_node(pipeline), document]))
        status = wait_run(node_ns, run, timeout=180)
        assert status["phase"] == "Succeeded", status.get("message")
        assert status["volumes"] == {volume["name"]: claim}
        assert (tmp_path / "claim" / "file1").read_text() == (tmp_path / "claim" / "file2").read_text() == "1\n"
        assert status["tasks"]["claim-name"]["outputs"] == {"claim": f"{claim} 10Gi"}
        started = {step: status["tasks"][step]["startedAt"] for step in ("step1", "step2", "step3")}
        finished = {step: status["tasks"][step]["finishedAt"] for step in ("step1", "step2", "step3")}
        assert finished["step1"] <= started["step2"] and finished["step2"] <= started["step3"]
        owner = cluster.kubectl_json("get", "pvc", claim, "-n", namespace)["metadata"]["ownerReferences"][0]
        assert owner["kind"] == "Run" and owner["name"] == run
    finally:
        cluster.kubectl("delete", "pv", persistent["metadata"]["name"], "--wait=false", check=False)


@pytest.mark.parametrize("how", ["sdk", "import"])
def test_kfp_metrics_land_in_the_runs_status(how, node_ns, kfp_workflows, tmp_path) -> None:
    """KFP's mlpipeline-metrics (an OutputPath('Metrics') and a NamedTuple field) in status.metrics, read as
    users read them (kubectl -o jsonpath); the mlpipeline-ui-metadata file kept on the run's volume."""
    cluster, namespace, _ = node_ns
    pipeline = kfp_program(how, "metrics_and_visualizations", tmp_path, kfp_workflows)
    run = f"metrics-{how}-{uuid.uuid4().hex[:5]}"
    artifacts = bound_volume(namespace, volume_claim_name(run), tmp_path / "artifacts", STORAGE_CLASS)
    document = {
        "apiVersion": API,
        "kind": "Run",
        "metadata": {"name": run},
        "spec": {"pipelineRef": {"name": pipeline["metadata"]["name"]}, "arguments": {"epochs": 40}},
    }
    try:
        cluster.kubectl("apply", "-f", "-", input=dump_all([artifacts]))
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([on_real_node(pipeline), document]))
        status = wait_run(node_ns, run, timeout=180)
        assert status["phase"] == "Succeeded", status.get("message")
        shown = cluster.kubectl("get", "run", run, "-n", namespace, "-o", "jsonpath={.status.metrics}").stdout
        metrics = json.loads(shown)
        assert metrics["train"] == {"accuracy-score": pytest.approx(0.9), "epochs": 40}
        assert metrics["evaluate"] == {"recall": pytest.approx(0.88)}
        bound = cluster.kubectl_json("get", "pvc", volume_claim_name(run), "-n", namespace)["spec"]["volumeName"]
        folder = Path(cluster.kubectl_json("get", "pv", bound)["spec"]["hostPath"]["path"])
        kept = list(folder.rglob("mlpipeline-ui-metadata*"))
        markdown = [json.loads(p.read_text()) for p in kept if p.is_file() and "Accuracy after 40" in p.read_text()]
        assert markdown and markdown[0]["outputs"][0]["type"] == "markdown", kept
    finally:
        cluster.kubectl("delete", "pv", artifacts["metadata"]["name"], "--wait=false", check=False)
