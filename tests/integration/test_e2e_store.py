"""End to end with an artifact store: real MinIO, two real nodes, kubeline's own container in each step pod.

The point of the store: a producer pinned to one node and its consumer pinned to the other share a file,
which a ReadWriteOnce volume cannot do (hack/README.md says why). Also: artifacts cached across runs (no
pod), logs read after the pods are gone (pod GC), a 100 MB artifact, a 1 MB value, wrong credentials.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeline.api.yamlio import dump_all
from tests.control_plane import Minio, Operator, new_namespace
from tests.helpers import kubeline, pods_of, wait_run

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
API = "kubeline.dev/v1alpha1"
NODES = ("kubeline-node-0", "kubeline-node-1")
TOLERATE = [{"key": "kubeline.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}]
BUCKET = "kubeline-e2e"


def on_node(index: int) -> dict[str, Any]:
    return {"nodeSelector": {"kubernetes.io/hostname": NODES[index]}, "tolerations": TOLERATE}


def python_step(name: str, code: str, inputs: list[dict] | None = None, outputs: list[dict] | None = None) -> dict:
    """A component running ``code``; sys.argv[1:] = its inputs' paths or values, then its outputs' paths."""
    args = [f"{{{{inputs.{i['name']}{'.path' if i.get('path') else ''}}}}}" for i in inputs or []]
    args += [f"{{{{outputs.{o['name']}.path}}}}" for o in outputs or []]
    return {
        "name": name,
        "inputs": [{k: v for k, v in i.items() if k != "path"} for i in inputs or []],
        "outputs": outputs or [],
        "container": {"image": "python:3.11-slim", "command": ["python3", "-c", code], "args": args},
    }


@contextmanager
def operator_with_store(
    cluster: Any, directory: Path, store: dict[str, Any], keys: tuple[str, str], image: str, **config: Any
) -> Iterator[tuple[Any, str, Operator]]:
    """A namespace of its own, the store's keys in its Secret `s3`, and an operator using ``store`` there."""
    namespace = new_namespace(cluster, "store")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s3"},
        "stringData": {"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([secret]))
    settings = {
        "artifactStore": {**store, "pathStyle": True, "credentialsSecret": {"secretName": "s3"}},
        "dataContainer": {"image": image},
        **config,
    }
    (directory / "operator.yaml").write_text(yaml.safe_dump(settings))
    operator = Operator(cluster, namespace, directory / "operator.log", directory / "operator.yaml")
    operator.start()
    try:
        yield cluster, namespace, operator
    finally:
        operator.kill()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def store_ns(real_node, crds, minio, operator_image, tmp_path_factory) -> Iterator[tuple[Any, str, Operator]]:
    """A namespace whose operator keeps artifacts and logs in MinIO and deletes pods of succeeded steps."""
    s3 = minio.client()
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    store = {"bucket": BUCKET, "prefix": "e2e", "endpoint": minio.pod_endpoint}
    keys = (minio.access_key, minio.secret_key)
    directory = tmp_path_factory.mktemp("store")
    with operator_with_store(real_node, directory, store, keys, operator_image, podGC="DeleteOnSuccess") as ctx:
        yield ctx


def start(ctx: tuple[Any, str, Operator], spec: dict[str, Any], name: str | None = None) -> str:
    cluster, namespace, _ = ctx
    run = name or f"s-{uuid.uuid4().hex[:6]}"
    documents = [
        {"apiVersion": API, "kind": "Pipeline", "metadata": {"name": run}, "spec": spec},
        {"apiVersion": API, "kind": "Run", "metadata": {"name": run}, "spec": {"pipelineRef": {"name": run}}},
    ]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all(documents))
    return run


def kubeline_on_store(cluster: Any, minio: Any, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubeline ARGS` on this machine, with the cluster's kubeconfig and MinIO's keys as AWS credentials."""
    keys = {"AWS_ACCESS_KEY_ID": minio.access_key, "AWS_SECRET_ACCESS_KEY": minio.secret_key}
    return kubeline(*args, home=home, env={**cluster.env, **keys})


def two_node_pipeline(text: str) -> dict[str, Any]:
    """prepare (node 0) writes a file artifact; train (node 1) reads it and reports its digest."""
    prepare = python_step(
        "prepare",
        "import sys; open(sys.argv[2], 'w').write(sys.argv[1] * 1000); print('prepared on', __import__('os').uname()[1])",
        [{"name": "text"}],
        [{"name": "data", "type": "artifact"}],
    )
    train = python_step(
        "train",
        "import hashlib, sys; open(sys.argv[2], 'w').write(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
        [{"name": "data", "type": "artifact", "path": True}],
        [{"name": "digest"}],
    )
    return {
        "components": [prepare, train],
        "tasks": [
            {"name": "prepare", "component": "prepare", "arguments": {"text": text}, **on_node(0)},
            {
                "name": "train",
                "component": "train",
                "arguments": {"data": "{{tasks.prepare.outputs.data}}"},
                **on_node(1),
            },
        ],
    }


def test_a_file_passes_from_a_step_on_one_node_to_a_step_on_the_other(store_ns) -> None:
    text = f"rows-{uuid.uuid4().hex[:8]};"
    run = start(store_ns, two_node_pipeline(text))
    status = wait_run(store_ns, run, timeout=180)
    assert status["phase"] == "Succeeded", status.get("message") or status.get("tasks")
    tasks = status["tasks"]
    assert (tasks["prepare"]["node"], tasks["train"]["node"]) == NODES
    expected = hashlib.sha256((text * 1000).encode()).hexdigest()
    assert tasks["train"]["outputs"] == {"digest": expected}
    assert tasks["prepare"]["outputs"]["data"] == f"sha256:{expected}"  # content-addressed
    assert status["artifactStore"].startswith(f"s3://{BUCKET}/e2e?")


def test_pods_of_succeeded_steps_are_deleted_and_their_logs_read_from_the_store(store_ns, minio, tmp_path) -> None:
    cluster, namespace, _ = store_ns
    run = start(store_ns, two_node_pipeline("logs;"))
    assert wait_run(store_ns, run, timeout=180)["phase"] == "Succeeded"
    deadline = time.time() + 30
    while pods_of(store_ns, run) and time.time() < deadline:
        time.sleep(0.5)
    assert pods_of(store_ns, run) == []  # podGC: DeleteOnSuccess
    logs = kubeline_on_store(cluster, minio, tmp_path, "logs", run, "prepare", "-n", namespace)
    assert logs.returncode == 0, logs.stderr
    assert "==> prepare <==" in logs.stdout and "prepared on" in logs.stdout


def test_a_second_run_serves_artifacts_from_the_cache_without_pods(store_ns) -> None:
    spec = two_node_pipeline("cached;")
    first = start(store_ns, spec)
    assert wait_run(store_ns, first, timeout=180)["phase"] == "Succeeded"
    second = start(store_ns, spec)
    status = wait_run(store_ns, second, timeout=60)
    assert status["phase"] == "Succeeded"
    assert status["tasks"]["prepare"]["cached"] and status["tasks"]["train"]["cached"]
    assert status["tasks"]["train"]["outputs"]["digest"] == hashlib.sha256(("cached;" * 1000).encode()).hexdigest()
    assert pods_of(store_ns, second) == []


def test_a_local_run_reuses_what_a_cluster_run_stored(store_ns, minio, tmp_path) -> None:
    """Same key layout, same cache keys: `kubeline run --artifact-store` on a laptop hits the cluster's results."""
    cluster, namespace, _ = store_ns
    spec = two_node_pipeline("shared;")
    run = start(store_ns, spec)
    assert wait_run(store_ns, run, timeout=180)["phase"] == "Succeeded"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        dump_all([{"apiVersion": API, "kind": "Pipeline", "metadata": {"name": "shared"}, "spec": spec}])
    )
    store_url = f"s3://{BUCKET}/e2e?endpoint={minio.endpoint}&pathStyle=true"
    local = kubeline_on_store(
        cluster, minio, tmp_path / "home", "run", str(pipeline), "--json", "--artifact-store", store_url
    )
    assert local.returncode == 0, local.stderr
    result = json.loads(local.stdout)
    tasks = result["tasks"]
    assert tasks["prepare"]["cached"] and tasks["train"]["cached"], tasks
    assert tasks["train"]["outputs"]["digest"] == hashlib.sha256(("shared;" * 1000).encode()).hexdigest()


def test_a_100_mb_artifact_and_a_1_mb_value_travel_between_nodes(store_ns, minio) -> None:
    produce = python_step(
        "produce",
        "import sys\n"
        "block = bytes(range(256)) * 4096\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    for _ in range(100): out.write(block)\n"
        "open(sys.argv[2], 'w').write('v' * 1_000_000)\n",
        outputs=[{"name": "blob", "type": "artifact"}, {"name": "report"}],
    )
    consume = python_step(
        "consume",
        "import os, sys; open(sys.argv[3], 'w').write(f'{os.path.getsize(sys.argv[1])} {os.path.getsize(sys.argv[2])}')",
        [{"name": "blob", "type": "artifact", "path": True}, {"name": "report", "path": True}],
        [{"name": "sizes"}],
    )
    spec = {
        "components": [produce, consume],
        "tasks": [
            {"name": "produce", "component": "produce", **on_node(0)},
            {
                "name": "consume",
                "component": "consume",
                "arguments": {"blob": "{{tasks.produce.outputs.blob}}", "report": "{{tasks.produce.outputs.report}}"},
                **on_node(1),
            },
        ],
    }
    run = start(store_ns, spec)
    status = wait_run(store_ns, run, timeout=300)
    assert status["phase"] == "Succeeded", status.get("message") or status.get("tasks")
    assert status["tasks"]["consume"]["outputs"] == {"sizes": f"{100 * 1024 * 1024} 1000000"}
    assert status["tasks"]["produce"]["storedOutputs"] == ["report"]
    assert status["tasks"]["produce"]["outputs"]["report"].startswith("sha256:")


def test_wrong_credentials_fail_the_step_quickly_naming_the_store(
    real_node, crds, minio, operator_image, tmp_path
) -> None:
    store = {"bucket": BUCKET, "endpoint": minio.pod_endpoint}
    with operator_with_store(real_node, tmp_path, store, (minio.access_key, "not-the-secret"), operator_image) as ctx:
        spec = two_node_pipeline("denied;")
        spec["tasks"] = spec["tasks"][:1]
        started = time.time()
        run = start(ctx, spec)
        status = wait_run(ctx, run, timeout=120)
        elapsed = time.time() - started
        assert status["phase"] == "Failed"
        message = status["tasks"]["prepare"]["message"]
        assert "kubeline container" in message and BUCKET in message, message
        assert elapsed < 60, f"took {elapsed:.0f}s"


def test_gc_keeps_what_runs_and_cache_entries_use_and_deletes_orphans_and_deleted_runs_logs(
    store_ns, minio, tmp_path
) -> None:
    cluster, namespace, _ = store_ns
    kept_run = start(store_ns, two_node_pipeline("kept;"))
    gone_run = start(store_ns, two_node_pipeline("gone;"))
    kept, gone = (wait_run(store_ns, run, timeout=180) for run in (kept_run, gone_run))
    assert kept["phase"] == gone["phase"] == "Succeeded"
    s3 = minio.client()
    orphan = "e2e/objects/sha256/00/" + "0" * 64
    s3.put_object(Bucket=BUCKET, Key=orphan, Body=b"nothing refers to me")
    cluster.kubectl("delete", "run", gone_run, "-n", namespace)
    store_url = f"s3://{BUCKET}/e2e?endpoint={minio.endpoint}&pathStyle=true"
    gc = kubeline_on_store(
        cluster, minio, tmp_path, "gc", "--artifact-store", store_url, "-n", namespace, "--keep", "0s", "--grace", "0s"
    )
    assert gc.returncode == 0, gc.stderr
    stored = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="e2e/")
        for o in page.get("Contents", [])
    }
    assert orphan not in stored
    data = kept["tasks"]["prepare"]["outputs"]["data"].removeprefix("sha256:")
    assert f"e2e/objects/sha256/{data[:2]}/{data}" in stored  # a Run still refers to it
    assert any(key.startswith(f"e2e/logs/{namespace}/{kept_run}/") for key in stored)
    assert not any(key.startswith(f"e2e/logs/{namespace}/{gone_run}/") for key in stored)
    assert not any(key.startswith("e2e/cache/") for key in stored)  # --keep 0s: every cache record went


def test_a_store_that_stops_mid_run_fails_the_step_clearly_after_its_retries(
    real_node, crds, minio, operator_image, tmp_path
) -> None:
    """A MinIO of this test's own (the session's keeps serving the others), stopped while a step runs."""
    state = tmp_path / "store"
    command = [sys.executable, str(ROOT / "hack" / "cluster"), "store", "--state-dir", str(state)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    try:
        facts = json.loads((state / "store.json").read_text())
        port = facts["endpoint"].rsplit(":", 1)[1]
        pod_endpoint = f"{minio.pod_endpoint.rsplit(':', 1)[0]}:{port}"  # MinIO listens on every host address
        s3 = Minio(facts["endpoint"], None, facts["accessKey"], facts["secretKey"]).client()
        s3.create_bucket(Bucket="doomed")
        store = {"bucket": "doomed", "endpoint": pod_endpoint}
        keys = (facts["accessKey"], facts["secretKey"])
        with operator_with_store(real_node, tmp_path, store, keys, operator_image) as ctx:
            slow = python_step(
                "slow",
                "import sys, time; time.sleep(6); open(sys.argv[1], 'w').write('weights')",
                outputs=[{"name": "model", "type": "artifact"}],
            )
            spec = {
                "components": [slow],
                "tasks": [{"name": "slow", "component": "slow", "retries": {"limit": 1}, **on_node(0)}],
            }
            run = start(ctx, spec)
            deadline = time.time() + 60
            while time.time() < deadline:
                tasks = real_node.kubectl_json("get", "run", run, "-n", ctx[1]).get("status", {}).get("tasks", {})
                if tasks.get("slow", {}).get("phase") == "Running":
                    break
                time.sleep(0.3)
            subprocess.run([*command, "--stop"], check=True, stdout=subprocess.DEVNULL)
            stopped = time.time()
            status = wait_run(ctx, run, timeout=120)
            assert status["phase"] == "Failed"
            task = status["tasks"]["slow"]
            assert task["attempts"] == 2  # the retry ran, and failed the same way
            assert "kubeline container: uploading the step's outputs failed" in task["message"], task["message"]
            assert "doomed" in task["message"] and port in task["message"]
            print(f"\nstore stopped -> run Failed after its retry: {time.time() - stopped:.1f}s")
    finally:
        subprocess.run([*command, "--stop"], stdout=subprocess.DEVNULL)
