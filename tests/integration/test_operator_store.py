"""What the operator decides when an artifact store is configured, against the real control plane (kwok nodes).

kwok ends every container of a pod with the first container's KWOK_TERMINATION_MESSAGE: here that is the
report kubeline's container would write (JSON, object references for artifacts), so the operator's side of
the data path is tested without moving data: pod specs, object references handed to consumers, cache
entries holding them, and the pod GC policy. The data itself moves in test_e2e_store.py, on real nodes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from kubeline.backends.stepdata import StepData
from tests.control_plane import Operator, new_namespace
from tests.helpers import by_step, pods_of, submit, wait_run

pytestmark = pytest.mark.integration

DATA = "sha256:" + "d" * 64
MODEL = "sha256:" + "e" * 64 + "/"


def reporting(name: str, report: dict[str, Any], inputs: list[dict] | None = None, outputs: list[dict] | None = None):
    """A component whose pod ends with kubeline's container reporting ``report``."""
    return {
        "name": name,
        "inputs": inputs or [],
        "outputs": outputs or [],
        "container": {
            "image": "python:3.11-slim",
            "command": ["train", *(f"{{{{inputs.{i['name']}.path}}}}" for i in inputs or [])],
            "env": [{"name": "KWOK_TERMINATION_MESSAGE", "value": json.dumps(report)}],
        },
    }


PIPELINE = {
    "components": [
        reporting(
            "prepare", {"outputs": {"data": DATA}, "log": "logs/x"}, outputs=[{"name": "data", "type": "artifact"}]
        ),
        reporting(
            "train",
            {"outputs": {"model": MODEL, "summary": "sha256:" + "f" * 64}, "stored": ["summary"], "log": "logs/y"},
            inputs=[{"name": "data", "type": "artifact"}],
            outputs=[{"name": "model", "type": "artifact"}, {"name": "summary"}],
        ),
    ],
    "tasks": [
        {"name": "prepare", "component": "prepare"},
        {"name": "train", "component": "train", "arguments": {"data": "{{tasks.prepare.outputs.data}}"}},
    ],
}


@pytest.fixture(scope="module")
def store_ns(crds, tmp_path_factory) -> Iterator[tuple[Any, str, Operator]]:
    directory = tmp_path_factory.mktemp("operator-store")
    config = directory / "operator.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "artifactStore": {
                    "bucket": "ml",
                    "endpoint": "http://minio.example:9000",
                    "pathStyle": True,
                    "credentialsSecret": {"secretName": "s3"},
                },
                "dataContainer": {"image": "example.com/kubeline:test"},
                "podGC": "DeleteOnSuccess",
            }
        )
    )
    namespace = new_namespace(crds, "opstore")
    operator = Operator(crds, namespace, directory / "operator.log", config)
    operator.start()
    yield crds, namespace, operator
    operator.kill()
    crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_consumers_get_object_references_results_are_cached_and_pods_collected(store_ns) -> None:
    cluster, namespace, _ = store_ns
    run = submit(store_ns, PIPELINE)
    status = wait_run(store_ns, run)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["artifactStore"] == "s3://ml?endpoint=http%3A%2F%2Fminio.example%3A9000&pathStyle=true"
    assert status["tasks"]["prepare"]["outputs"] == {"data": DATA} and status["tasks"]["prepare"]["log"] == "logs/x"
    assert status["tasks"]["train"]["storedOutputs"] == ["summary"]
    entries = {
        e["spec"]["component"]: e["spec"] for e in cluster.kubectl_json("get", "cacheentries", "-n", namespace)["items"]
    }
    assert entries["prepare"]["outputs"] == {"data": DATA}
    assert entries["train"]["storedOutputs"] == ["summary"] and entries["train"]["outputs"]["model"] == MODEL
    # podGC DeleteOnSuccess: the pods go once the status records their outcome
    wait_for_no_pods(store_ns, run)

    second = submit(store_ns, PIPELINE)
    cached = wait_run(store_ns, second)
    assert cached["phase"] == "Succeeded"
    assert cached["tasks"]["train"]["cached"] and cached["tasks"]["train"]["storedOutputs"] == ["summary"]
    assert pods_of(store_ns, second) == []


def test_the_consumers_pod_downloads_the_producers_object_and_only_kubelines_container_has_keys(store_ns) -> None:
    spec = json.loads(json.dumps(PIPELINE))
    spec["components"][1]["container"]["env"].append({"name": "KWOK_DURATION", "value": "30s"})
    spec["defaults"] = {"caching": {"enabled": False}}
    run = submit(store_ns, spec)
    train = wait_for_pod(store_ns, run, "train")
    containers = {c["name"]: c for c in train["spec"]["containers"]}
    main, data = containers["main"], containers["kubeline"]
    assert main["args"] == ["train", "/kubeline/inputs/data"]  # the object, downloaded where the command reads it
    env = {e["name"]: e for e in data["env"]}
    plan = StepData.from_json(env["KUBELINE_STEP"]["value"])
    assert plan.inputs == {"/kubeline/inputs/data": DATA}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "s3", "key": "AWS_SECRET_ACCESS_KEY"}
    assert not any("valueFrom" in e for e in main["env"])
    assert data["image"] == "example.com/kubeline:test"
    wait_run(store_ns, run, timeout=90)


def wait_for_pod(ctx: tuple[Any, str, Operator], run: str, step: str, timeout: float = 120) -> dict[str, Any]:
    """The step's pod once the operator has made it; the Run's status and the operator's log if it does not."""
    cluster, namespace, operator = ctx
    deadline = time.time() + timeout
    while time.time() < deadline:
        pods = by_step(pods_of(ctx, run))
        if step in pods:
            return pods[step]
        time.sleep(0.3)
    status = cluster.kubectl_json("get", "run", run, "-n", namespace).get("status") or {}
    status.pop("pipelineSpec", None)
    raise AssertionError(
        f"no pod for {step} in {timeout:.0f}s: {json.dumps(status)}\n{operator.log.read_text()[-3000:]}"
    )


def wait_for_no_pods(ctx: tuple[Any, str, Operator], run: str) -> None:
    deadline = time.time() + 30
    while pods_of(ctx, run) and time.time() < deadline:
        time.sleep(0.3)
    assert pods_of(ctx, run) == []
