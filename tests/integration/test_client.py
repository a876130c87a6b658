"""kubeline.Client and `kubeline submit|get` against the real control plane, with the operator running."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from kubeline import dsl
from kubeline.compiler import Compiler
from kubeline.controller.pods import encode_outputs
from tests.helpers import kubeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def fake_step(name: str, output: str) -> dsl.ContainerOp:
    """A step that kwok completes with this output (no code runs on fake nodes)."""
    op = dsl.ContainerOp(name=name, image="python:3.11-slim", command=["true"], file_outputs={"out": "/tmp/out"})
    op.component_spec.env.update({"KWOK_TERMINATION_MESSAGE": encode_outputs({"out": output})})
    return op


@dsl.pipeline(name="Client demo", description="Two fake steps, the second after the first.")
def client_demo(word: str = "hi"):
    first = fake_step("first", "one")
    fake_step("second", "two").after(first)


@dsl.pipeline(name="slow-demo")
def slow_demo():
    """A step kwok keeps running for a minute: for terminate_run."""
    op = fake_step("slow", "late")
    op.component_spec.env["KWOK_DURATION"] = "60s"


@pytest.fixture(scope="module")
def kfp_client(operator_namespace):
    cluster, namespace, _ = operator_namespace
    from kubeline import Client

    return Client(namespace=namespace, kubeconfig=str(cluster.kubeconfig))


def test_create_run_from_pipeline_func_as_the_kfp_docs_write_it(operator_namespace, kfp_client) -> None:
    cluster, namespace, _ = operator_namespace
    client = kfp_client
    run = client.create_run_from_pipeline_func(client_demo, arguments={"word": "hello"}, experiment_name="Exp 1")
    assert uuid.UUID(run.run_id)  # KFP's ids are UUIDs: the Run's uid
    finished = run.wait_for_run_completion(timeout=60)
    assert finished.run.status == "Succeeded"
    assert finished.run.run_status["tasks"]["second"]["outputs"] == {"out": "two"}
    assert client.get_run(run.run_id).run.status == "Succeeded"
    assert client.get_run(finished.run.resource_name).run.id == run.run_id  # the name works too
    assert json.loads(finished.pipeline_runtime.workflow_manifest)["kind"] == "Run"
    experiment = client.get_experiment(experiment_name="Exp 1")
    assert [r.id for r in client.list_runs(experiment_id=experiment.id).runs] == [run.run_id]
    other = client.create_experiment("other")
    assert client.list_runs(experiment_id=other.id).runs == []
    pipeline = cluster.kubectl_json("get", "pipeline", "client-demo", "-n", namespace)
    assert [t["name"] for t in pipeline["spec"]["tasks"]] == ["first", "second"]
    assert pipeline["metadata"]["annotations"] == {
        "kubeline.dev/display-name": "Client demo",
        "kubeline.dev/description": "Two fake steps, the second after the first.",
    }
    labels = cluster.kubectl_json("get", "run", finished.run.resource_name, "-n", namespace)["metadata"]["labels"]
    assert labels["kubeline.dev/experiment"] == "exp-1"


def test_experiments_pipelines_and_runs_as_kfp_client_calls_them(operator_namespace, kfp_client, tmp_path) -> None:
    cluster, namespace, _ = operator_namespace
    client = kfp_client
    package = tmp_path / "pipeline.yaml"
    Compiler().compile(client_demo, str(package))

    experiment = client.create_experiment(name="Nightly training", description="every night")
    assert (experiment.name, experiment.description) == ("Nightly training", "every night")
    assert client.create_experiment(name="Nightly training").id == experiment.id  # exists: the same one
    assert client.get_experiment(experiment_id=experiment.id).name == "Nightly training"
    assert "Nightly training" in [e.name for e in client.list_experiments(page_size=100).experiments]
    with pytest.raises(ValueError, match="no experiment named 'nope'"):
        client.get_experiment(experiment_name="nope")

    uploaded = client.upload_pipeline(str(package), pipeline_name="Demo pipeline", description="uploaded")
    assert (uploaded.name, uploaded.description, uploaded.resource_name) == (
        "Demo pipeline",
        "uploaded",
        "demo-pipeline",
    )
    assert client.get_pipeline_id("Demo pipeline") == uploaded.id
    assert client.get_pipeline_id("missing") is None
    with pytest.raises(ValueError, match="upload_pipeline_version"):
        client.upload_pipeline(str(package), pipeline_name="Demo pipeline")
    version = client.upload_pipeline_version(str(package), "v2", pipeline_id=uploaded.id)
    assert (version.name, version.resource_name, version.pipeline_id) == ("v2", "demo-pipeline-v2", uploaded.id)
    with pytest.raises(ValueError, match="pipeline 'demo-pipeline' has a version 'v2' already"):
        client.upload_pipeline_version(str(package), "v2", pipeline_id=uploaded.id)
    with pytest.raises(
        ValueError,
        match="version 'V2' of pipeline 'demo-pipeline' would be the Pipeline "
        "'demo-pipeline-v2', which 'v2' already is",
    ):
        client.upload_pipeline_version(str(package), "V2", pipeline_id=uploaded.id)
    listed = [p.name for p in client.list_pipelines(page_size=100).pipelines]
    assert "Demo pipeline" in listed and "v2" not in listed  # versions are not pipelines

    by_id = client.run_pipeline(experiment.id, "Nightly run", pipeline_id=uploaded.id, params={"word": "a"})
    again = client.run_pipeline(experiment.id, "Nightly run", pipeline_id=uploaded.id, params={"word": "b"})
    plain = [client.run_pipeline(job_name="plain", pipeline_id=uploaded.id) for _ in range(2)]  # no experiment
    assert [r.name for r in plain] == ["plain", "plain"] and plain[1].resource_name.startswith("plain-")
    by_package = client.run_pipeline(experiment.id, "from package", pipeline_package_path=str(package))
    by_version = client.run_pipeline(experiment.id, "versioned", version_id=version.id, enable_caching=False)
    assert by_id.name == again.name == "Nightly run" and by_id.resource_name != again.resource_name
    for run in (by_id, again, by_package, by_version, *plain):
        assert client.wait_for_run_completion(run.id, timeout=60).run.status == "Succeeded"
    runs = client.list_runs(experiment_id=experiment.id, page_size=3, sort_by="created_at desc")
    assert runs.total_size == 4 and len(runs.runs) == 3 and runs.next_page_token
    rest = client.list_runs(
        experiment_id=experiment.id, page_size=3, page_token=runs.next_page_token, sort_by="created_at desc"
    )
    paged = runs.runs + rest.runs
    assert sorted(r.id for r in paged) == sorted(r.id for r in (by_version, by_package, again, by_id))
    assert [r.created_at for r in paged] == sorted((r.created_at for r in paged), reverse=True)  # to the second
    versioned = cluster.kubectl_json("get", "run", by_version.resource_name, "-n", namespace)
    assert versioned["spec"]["pipelineSpec"]["defaults"]["caching"] == {"enabled": False}  # the Pipeline unchanged

    client.delete_run(by_id.id)
    assert cluster.kubectl("get", "run", by_id.resource_name, "-n", namespace, check=False).returncode != 0
    with pytest.raises(ValueError, match="no run with id or name"):
        client.get_run(by_id.id)


def test_terminate_run_cancels_it(kfp_client) -> None:
    client = kfp_client
    run = client.create_run_from_pipeline_func(slow_demo, arguments={})
    deadline = time.monotonic() + 30
    while client.get_run(run.run_id).run.status != "Running" and time.monotonic() < deadline:
        time.sleep(0.5)
    client.terminate_run(run.run_id)
    finished = client.wait_for_run_completion(run.run_id, timeout=60)
    assert (finished.run.status, finished.run.phase) == ("Failed", "Cancelled")  # KFP's word, kubeline's phase
    with pytest.raises(TimeoutError):
        client.wait_for_run_completion(client.create_run_from_pipeline_func(slow_demo, {}).run_id, timeout=1)


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
    assert "Client demo" in listed.stdout  # the pipeline's display name
    pipelines = kubeline("get", "--pipelines", "-n", namespace, home=tmp_path, env=kube)
    assert pipelines.returncode == 0, pipelines.stderr
    assert "client-demo" in pipelines.stdout and "Client demo" in pipelines.stdout
    bad = kubeline("submit", str(pipeline), "-n", namespace, "-p", "nope=1", home=tmp_path, env=kube)
    assert bad.returncode == 2 and "the pipeline has no parameter 'nope'" in bad.stderr
