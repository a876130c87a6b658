"""kubeline.Client and `kubeline submit|get` against the real control plane, with the operator running."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeline import dsl
from kubeline.controller.pods import encode_outputs
from tests.helpers import kubeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def fake_step(name: str, output: str) -> dsl.ContainerOp:
    """A step that kwok completes with this output (no code runs on fake nodes)."""
    op = dsl.ContainerOp(name=name, image="python:3.11-slim", command=["true"], file_outputs={"out": "/tmp/out"})
    op.component_spec.env.update({"KWOK_TERMINATION_MESSAGE": encode_outputs({"out": output})})
    return op


@dsl.pipeline(name="client-demo")
def client_demo(word: str = "hi"):
    first = fake_step("first", "one")
    fake_step("second", "two").after(first)


def test_client_creates_pipeline_and_run_and_follows_it(operator_namespace) -> None:
    cluster, namespace, _ = operator_namespace
    from kubeline import Client

    client = Client(namespace=namespace, kubeconfig=str(cluster.kubeconfig))
    run = client.create_run_from_pipeline_func(client_demo, {"word": "hello"}, experiment_name="exp-1")
    finished = client.wait_for_run_completion(run.run_id, timeout=60)
    assert finished.phase == "Succeeded"
    assert finished.status["tasks"]["second"]["outputs"] == {"out": "two"}
    assert [r.name for r in client.list_runs(experiment_name="exp-1")] == [run.name]
    assert client.list_runs(experiment_name="other") == []
    pipeline = cluster.kubectl_json("get", "pipeline", "client-demo", "-n", namespace)
    assert [t["name"] for t in pipeline["spec"]["tasks"]] == ["first", "second"]
    labels = cluster.kubectl_json("get", "run", run.name, "-n", namespace)["metadata"]["labels"]
    assert labels["kubeline.dev/experiment"] == "exp-1"


def test_submit_waits_and_get_shows_steps(operator_namespace, tmp_path: Path) -> None:
    cluster, namespace, _ = operator_namespace
    pipeline = tmp_path / "p.yaml"
    from kubeline.api.yamlio import dump
    from kubeline.sdk.compiler import compile_pipeline

    pipeline.write_text(dump(compile_pipeline(client_demo)))
    kube = {"KUBECONFIG": str(cluster.kubeconfig)}
    submitted = kubeline(
        "submit", str(pipeline), "-n", namespace, "--name", "cli-run", "--wait", "-p", "word=x", home=tmp_path, env=kube
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert "run cli-run of pipeline client-demo created" in submitted.stdout
    assert "Succeeded" in submitted.stdout
    shown = kubeline("get", "cli-run", "-n", namespace, home=tmp_path, env=kube)
    assert shown.returncode == 0, shown.stderr
    assert "second" in shown.stdout and "out=two" in shown.stdout
    listed = kubeline("get", "-n", namespace, home=tmp_path, env=kube)
    assert "cli-run" in listed.stdout
    bad = kubeline("submit", str(pipeline), "-n", namespace, "-p", "nope=1", home=tmp_path, env=kube)
    assert bad.returncode == 2 and "the pipeline has no parameter 'nope'" in bad.stderr
