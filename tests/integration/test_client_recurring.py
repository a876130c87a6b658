"""RecurringRuns made by kubeline.Client and `kubeline schedule` on the real API server: accepted as created,
refused (with the CRD's CEL message) when invalid, listed, suspended, resumed and deleted. Making Runs of
them is the operator's part (its own tests); no operator runs here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from kubeline.api.constants import API_VERSION, GROUP, VERSION
from tests.helpers import kubeline, migrated

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = str(ROOT / "examples" / "add-subtract-multiply.yaml")


@pytest.fixture
def kfp_client(crds, namespace):
    from kubeline import Client

    return Client(namespace=namespace, kubeconfig=str(crds.kubeconfig))


def recurring_runs(cluster, namespace: str) -> dict[str, dict]:
    listed = cluster.kubectl_json("get", "recurringruns", "-n", namespace)["items"]
    return {item["metadata"]["name"]: item for item in listed}


def test_client_creates_lists_disables_enables_and_deletes_as_kfp(crds, namespace, kfp_client) -> None:
    client = kfp_client
    experiment = client.create_experiment("Nightly training")
    nightly = client.create_recurring_run(
        experiment.id,
        "Nightly retrain",
        cron_expression="0 0 2 * * *",
        params={"value_1": "5"},
        pipeline_package_path=PIPELINE,
        max_concurrency=2,
        no_catchup=True,
    )
    assert client.get_pipeline_id("add-subtract-multiply") is None  # the package is kept in the job, as KFP's
    pipeline_id = client.upload_pipeline(PIPELINE).id
    client.upload_pipeline_version(PIPELINE, "v1", pipeline_id=pipeline_id)
    frequent = client.create_recurring_run(
        experiment.id, "every minute", interval_second=60, pipeline_id=pipeline_id, enable_caching=False
    )
    other = client.create_recurring_run(None, "no experiment", cron_expression="@hourly", pipeline_id=pipeline_id)
    client.upload_pipeline_version(PIPELINE, "v2", pipeline_id=pipeline_id)  # changes no RecurringRun
    stored = recurring_runs(crds, namespace)
    assert set(stored) == {"nightly-retrain", "every-minute", "no-experiment"}
    spec = stored["nightly-retrain"]["spec"]
    assert spec["schedule"] == {"cron": "0 0 2 * * *"}
    assert (spec["maxConcurrency"], spec["catchUp"], spec["experiment"]) == (2, False, "nightly-training")
    assert spec["template"]["spec"]["arguments"] == {"value_1": "5"}
    assert spec["template"]["spec"]["pipelineSpec"]["description"] == "(value_1 + value_2) * (value_1 - value_2)"
    caching = stored["every-minute"]["spec"]["template"]["spec"]["pipelineSpec"]["defaults"]["caching"]
    assert caching == {"enabled": False}
    # the pipeline's current version as stored by the API server: the one its spec matched when scheduled
    assert stored["no-experiment"]["spec"]["template"]["spec"]["pipelineRef"] == {"name": "add-subtract-multiply-v1"}

    jobs = client.list_recurring_runs(experiment_id=experiment.id, page_size=1, sort_by="name")
    assert (jobs.total_size, [j.name for j in jobs.jobs]) == (2, ["Nightly retrain"]) and jobs.next_page_token
    rest = client.list_recurring_runs(
        experiment_id=experiment.id, page_size=1, page_token=jobs.next_page_token, sort_by="name"
    )
    assert [j.id for j in rest.jobs] == [frequent.id]
    assert {j.id for j in client.list_recurring_runs(page_size=10).jobs} == {nightly.id, frequent.id, other.id}

    assert client.get_recurring_run(nightly.id).resource_name == "nightly-retrain"  # by uid, KFP's id
    client.disable_job(nightly.id)
    assert recurring_runs(crds, namespace)["nightly-retrain"]["spec"]["suspend"] is True
    assert client.get_recurring_run("nightly-retrain").enabled is False
    client.enable_job(nightly.id)
    assert client.get_recurring_run(nightly.id).mode == "ENABLED"

    with pytest.raises(ValueError, match=r"cron_expression: '0 25 \* \* \*' is not a cron expression"):
        client.create_recurring_run(None, "bad", cron_expression="0 25 * * *", pipeline_id=pipeline_id)
    assert set(recurring_runs(crds, namespace)) == {"nightly-retrain", "every-minute", "no-experiment"}  # not "bad"
    # deleting a schedule keeps the Runs it made (KFP keeps a job's runs), unless asked: the garbage collector acts
    kept = made_run(client, namespace, frequent)
    made_run(client, namespace, other)
    client.delete_job(frequent.id)
    client.delete_job(other.id, delete_runs=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = {item["metadata"]["name"]: item for item in crds.kubectl_json("get", "runs", "-n", namespace)["items"]}
        if set(recurring_runs(crds, namespace)) == {"nightly-retrain"} and set(runs) == {kept}:
            break
        time.sleep(0.5)
    assert set(recurring_runs(crds, namespace)) == {"nightly-retrain"}
    assert set(runs) == {kept} and not runs[kept]["metadata"].get("ownerReferences")  # orphaned, kept
    with pytest.raises(ValueError, match="no recurringrun with id or name"):
        client.get_recurring_run(frequent.id)


def made_run(client, namespace: str, job) -> str:
    """A Run as the operator makes one for the RecurringRun ``job`` (owned by it); its name."""
    name = f"{job.resource_name}-1796083200"
    owner = {"apiVersion": API_VERSION, "kind": "RecurringRun", "name": job.resource_name, "uid": job.id}
    run = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name, "ownerReferences": [{**owner, "controller": True}]},
        "spec": {"pipelineRef": {"name": "add-subtract-multiply"}},
    }
    client.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "runs", run)
    return name


def test_the_api_server_refuses_what_the_crd_forbids_with_its_message(crds, namespace, kfp_client) -> None:
    from kubeline.api.problems import PipelineInvalid

    both = {
        "apiVersion": "kubeline.dev/v1alpha1",
        "kind": "RecurringRun",
        "metadata": {"name": "both"},
        "spec": {
            "schedule": {"cron": "@daily", "interval": "1h"},
            "template": {"spec": {"pipelineRef": {"name": "p"}}},
        },
    }
    refused = crds.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump(both), check=False)
    assert refused.returncode != 0 and "set exactly one of cron and interval" in refused.stderr
    with pytest.raises(PipelineInvalid, match="RecurringRun both: .*set exactly one of cron and interval"):
        kfp_client.create_recurring_run_document(both)  # unchecked by the SDK: the server's words come back
    assert recurring_runs(crds, namespace) == {}


def test_kubeline_schedule_create_list_suspend_resume_delete(crds, namespace, tmp_path: Path) -> None:
    def schedule(*args: str):
        env = {"KUBECONFIG": str(crds.kubeconfig), "COLUMNS": "250"}
        return kubeline("schedule", *args, home=tmp_path, env=env)

    crds.kubectl("apply", "-n", namespace, "-f", PIPELINE)  # the Pipeline a GitOps user keeps on the cluster
    made = schedule(
        "create", PIPELINE, "--cron", "0 2 * * 1-5", "--timezone", "Europe/Paris", "-p", "value_1=4",
        "--name", "weekdays", "--experiment", "Nightly", "--policy", "forbid", "-n", namespace,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"recurring run weekdays (0 2 * * 1-5) created in namespace {namespace}" in made.stdout
    by_name = schedule("create", "add-subtract-multiply", "--every", "30s", "--name", "fast", "-n", namespace)
    assert by_name.returncode == 0, by_name.stderr
    stored = recurring_runs(crds, namespace)
    assert "pipelineSpec" in stored["weekdays"]["spec"]["template"]["spec"]  # the file's spec, kept
    assert stored["fast"]["spec"]["template"]["spec"]["pipelineRef"] == {"name": "add-subtract-multiply"}
    assert stored["weekdays"]["spec"]["concurrencyPolicy"] == "Forbid"
    assert stored["weekdays"]["metadata"]["labels"]["kubeline.dev/experiment"] == "nightly"
    assert stored["fast"]["spec"]["schedule"] == {"interval": "30s"}
    assert "nightly" in crds.kubectl("get", "configmaps", "-n", namespace, "-l", "kubeline.dev/experiment").stdout

    again = schedule("create", "add-subtract-multiply", "--every", "30s", "--name", "fast", "-n", namespace)
    assert again.returncode == 2 and f"RecurringRun fast: exists in namespace {namespace!r}" in again.stderr
    missing = schedule("create", "no-such-pipeline", "--every", "30s", "-n", namespace)
    assert (
        missing.returncode == 2 and "FILE_OR_PIPELINE: no pipeline with id or name 'no-such-pipeline'" in missing.stderr
    )
    wrong = schedule(
        "create", "add-subtract-multiply", "--every", "30s", "--name", "w", "-p", "nope=1", "-n", namespace
    )
    assert wrong.returncode == 2 and "-p: arguments.nope: the pipeline has no parameter 'nope'" in wrong.stderr
    assert set(recurring_runs(crds, namespace)) == {"weekdays", "fast"}

    listed = schedule("list", "-n", namespace)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "Europe/Paris" in rows["weekdays"] and "0 2 * * 1-5" in rows["weekdays"]
    assert "every 30s" in rows["fast"]
    assert namespace in schedule("list", "-A").stdout

    assert schedule("suspend", "fast", "-n", namespace).returncode == 0
    assert recurring_runs(crds, namespace)["fast"]["spec"]["suspend"] is True
    assert '"suspended": true' in schedule("list", "-n", namespace, "--json").stdout
    assert schedule("resume", "fast", "-n", namespace).returncode == 0
    assert recurring_runs(crds, namespace)["fast"]["spec"]["suspend"] is False
    assert schedule("delete", "fast", "-n", namespace).returncode == 0
    assert set(recurring_runs(crds, namespace)) == {"weekdays"}
    gone = schedule("delete", "fast", "-n", namespace)
    assert gone.returncode == 2 and "NAME: no recurringrun with id or name 'fast'" in gone.stderr


def test_the_kfp_v1_program_schedules_its_pipeline(crds, namespace, tmp_path: Path) -> None:
    """tests/kfp_v1_programs/recurring_run.py run as a script with `kfp` replaced by `kubeline`, in a kube
    context whose namespace is the test's (kfp.Client() takes the context's)."""
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copy(crds.kubeconfig, kubeconfig)
    crds.kubectl("--kubeconfig", str(kubeconfig), "config", "set-context", "--current", f"--namespace={namespace}")
    program = migrated("recurring_run.py", tmp_path)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONPATH": str(ROOT / "operator")}
    result = subprocess.run(
        [sys.executable, str(program)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    job = recurring_runs(crds, namespace)["nightly-training"]
    assert job["metadata"]["uid"] == result.stdout.strip()  # job.id, as KFP prints it
    assert job["metadata"]["annotations"]["kubeline.dev/display-name"] == "Nightly training"
    assert job["spec"]["schedule"] == {"cron": "0 0 2 * * *"}
    assert (job["spec"]["catchUp"], job["spec"]["maxConcurrency"], job["spec"]["experiment"]) == (False, 1, "nightly")
    assert job["spec"]["template"]["spec"]["arguments"] == {"epochs": "5"}
