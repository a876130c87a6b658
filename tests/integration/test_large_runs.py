"""A run too large to list every step in its status, on the real API server: its finished steps go to RunRecords
it owns, and every reader still sees every step.

300 steps, each reporting a 900-character value, make about 330 KiB of step entries: past the 128 KiB a status
lists, so the operator writes records as they finish (10,000 steps work the same way: benchmarks/large_run_bench.py).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import fake, submit, wait_run

pytestmark = pytest.mark.integration

STEPS = 300
VALUE = "v" * 900


@pytest.fixture(scope="module")
def ns(operator_namespace):
    return operator_namespace


def test_a_large_run_keeps_finished_steps_in_records_it_owns_and_every_reader_sees_them_all(ns) -> None:
    from kubeline import Client

    cluster, namespace, _ = ns
    spec = {
        "components": [fake("each", ["x"], outputs={"out": VALUE})],
        "tasks": [{"name": "each", "component": "each", "forEach": list(range(STEPS)), "arguments": {"x": "{{item}}"}}],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    status = wait_run(ns, run, timeout=300)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["progressText"] == f"{STEPS}/{STEPS}"
    assert status["records"], "the finished steps should have moved to RunRecords"
    stored = cluster.kubectl_json("get", "run", run, "-n", namespace)
    assert len(json.dumps(stored)) < 1024 * 1024
    records = cluster.kubectl_json("get", "runrecords", "-n", namespace, "-l", f"kubeline.dev/run={run}")["items"]
    assert sorted(r["metadata"]["name"] for r in records) == sorted(status["records"])
    for record in records:
        owner = record["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Run", run, stored["metadata"]["uid"])
    tasks = Client(namespace=namespace, kubeconfig=str(cluster.kubeconfig)).get_run(run).run.run_status["tasks"]
    assert len(tasks) == STEPS
    assert all(task["phase"] == "Succeeded" and task["outputs"] == {"out": VALUE} for task in tasks.values())
    listing = cluster.kubectl("get", "runs", run, "-n", namespace).stdout.splitlines()[1].split()
    assert listing[2:4] == ["Succeeded", f"{STEPS}/{STEPS}"]

    cluster.kubectl("delete", "run", run, "-n", namespace)
    deadline = time.time() + 60
    while cluster.kubectl_json("get", "runrecords", "-n", namespace, "-l", f"kubeline.dev/run={run}")["items"]:
        assert time.time() < deadline, "the Run's records should be deleted with it"
        time.sleep(1)
