"""Retry from the failed step on the real control plane: which steps get pods in a retry, and what its status says.

Steps run on kwok's fake nodes (see test_operator.py). A run is cancelled while its middle step runs: the
step is stopped, the next one skipped; a retry reuses the step that succeeded (caching is off) and runs the rest.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kubeline.api.constants import EXPERIMENT_LABEL, RETRY_OF_LABEL
from tests.helpers import by_step, fake, kubeline, pods_of, submit, wait_run

pytestmark = pytest.mark.integration

PIPELINE = {
    "components": [
        fake("prep", outputs={"out": "prepared"}),
        fake("train", ["data"], {"model": "m1"}, duration="6s"),
        fake("report", ["model"]),
        fake("notify", ["status"]),
    ],
    "tasks": [
        {"name": "prep", "component": "prep"},
        {"name": "train", "component": "train", "arguments": {"data": "{{tasks.prep.outputs.out}}"}},
        {"name": "report", "component": "report", "arguments": {"model": "{{tasks.train.outputs.model}}"}},
    ],
    "onExit": {"component": "notify", "arguments": {"status": "{{run.status}}"}},
    "defaults": {"caching": {"maxStaleness": "P0D"}},  # the cache never serves: what is reused, the retry reuses
}


def test_a_retry_reuses_what_succeeded_and_from_a_step_reruns_it_and_what_follows(
    operator_namespace, tmp_path: Path
) -> None:
    cluster, namespace, _ = operator_namespace
    env = {"KUBECONFIG": str(cluster.kubeconfig)}

    def retry(*args: str):
        return kubeline("retry", *args, "-n", namespace, home=tmp_path, env=env)

    run = submit(operator_namespace, PIPELINE)
    deadline = time.time() + 30
    while by_step(pods_of(operator_namespace, run)).get("train", {}).get("status", {}).get("phase") != "Running":
        assert time.time() < deadline, "train never ran"
        time.sleep(0.3)
    early = retry(run)
    assert early.returncode == 2 and f"Run '{run}' has not finished (phase Running)" in early.stderr, early.stderr
    cluster.kubectl("patch", "run", run, "-n", namespace, "--type=merge", "-p", '{"spec": {"cancel": true}}')
    original = wait_run(operator_namespace, run)
    assert original["phase"] == "Cancelled"
    assert [original["tasks"][s]["phase"] for s in ("prep", "train", "report")] == ["Succeeded", "Failed", "Skipped"]

    first = retry(run, "--name", f"{run}-1", "--wait")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"run {run}-1 retrying {run} created" in first.stdout and "Succeeded" in first.stdout
    status = wait_run(operator_namespace, f"{run}-1")
    assert sorted(by_step(pods_of(operator_namespace, f"{run}-1"))) == ["exit-handler", "report", "train"]
    assert status["tasks"]["prep"]["reusedFrom"] == run
    assert status["tasks"]["prep"]["outputs"] == {"out": "prepared"}
    train_pod = by_step(pods_of(operator_namespace, f"{run}-1"))["train"]
    assert train_pod["spec"]["containers"][0]["args"][-1] == "prepared"  # the reused output flows on
    assert status["progress"]["succeeded"] == 4 and status["message"].endswith(f"1 step reused from {run}")
    shown = kubeline("get", f"{run}-1", "-n", namespace, home=tmp_path, env={**env, "COLUMNS": "200"})
    assert f"Succeeded (reused from {run})" in shown.stdout, shown.stdout
    labels = cluster.kubectl_json("get", "run", f"{run}-1", "-n", namespace)["metadata"]["labels"]
    assert labels[RETRY_OF_LABEL] == run

    second = retry(f"{run}-1", "--from", "report", "--name", f"{run}-2", "--wait")
    assert second.returncode == 0, second.stdout + second.stderr
    status = wait_run(operator_namespace, f"{run}-2")
    assert sorted(by_step(pods_of(operator_namespace, f"{run}-2"))) == ["exit-handler", "report"]
    reused = {step: task.get("reusedFrom") for step, task in status["tasks"].items()}
    assert reused == {"prep": run, "train": f"{run}-1", "report": None, "exit-handler": None}

    unknown = retry(run, "--from", "nope")
    assert unknown.returncode == 2 and "its tasks: prep, report, train" in unknown.stderr, unknown.stderr


def test_client_retry_run_makes_a_retry_listed_with_the_original(operator_namespace) -> None:
    cluster, namespace, _ = operator_namespace
    from kubeline import Client

    client = Client(namespace=namespace, kubeconfig=str(cluster.kubeconfig))
    failing = {
        **PIPELINE,
        "components": [*PIPELINE["components"][:1], fake("train", ["data"], {"model": "m1"}, exit_code=1)],
    }
    failing["components"] += PIPELINE["components"][2:]
    run = submit(operator_namespace, failing)
    cluster.kubectl("label", "run", run, "-n", namespace, f"{EXPERIMENT_LABEL}=nightly")
    assert wait_run(operator_namespace, run)["phase"] == "Failed"
    retried = client.retry_run(run)
    assert retried.resource_name.startswith(f"{run}-retry-") and retried.experiment == "nightly"
    finished = client.wait_for_run_completion(retried.resource_name, timeout=60).run
    assert finished.phase == "Failed", (
        finished.run_status
    )  # the frozen pipeline's train fails again; prep was not run again
    assert sorted(by_step(pods_of(operator_namespace, retried.resource_name))) == ["exit-handler", "train"], (
        finished.run_status
    )
    with pytest.raises(ValueError, match="no run with id or name 'gone'"):
        client.retry_run("gone")
