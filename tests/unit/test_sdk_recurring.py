"""kubeline.Client's recurring runs without a cluster: KFP's arguments mapped onto the RecurringRun it creates,
problems named after the argument (and nothing created), and the resource read back as KFP's ApiJob. The API
server's side (the CRD accepts it, list/enable/disable/delete) is tests/integration/test_client_recurring.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiException

from kubeline.engine.plan import load_spec
from kubeline.sdk.client import Client
from kubeline.sdk.recurring import recurring_run_info
from kubeline.sdk.results import page

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = str(ROOT / "examples" / "add-subtract-multiply.yaml")


class RecordingCustomObjects:
    """The custom-objects calls the Client makes, on a dictionary: what was created, in order."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any:
        if (plural, name) not in self.objects:
            raise ApiException(status=404)
        return copy.deepcopy(self.objects[plural, name])

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, label_selector: str = ""
    ) -> Any:
        key, _, value = label_selector.partition("=")
        return {
            "items": [
                copy.deepcopy(o)
                for (kind, _name), o in self.objects.items()
                if kind == plural and (not key or (o["metadata"].get("labels") or {}).get(key) == value)
            ]
        }

    def create_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, body: Any) -> Any:
        name = body["metadata"]["name"]
        if (plural, name) in self.objects:
            raise ApiException(status=409)
        stored = copy.deepcopy(body)
        stored["metadata"].update(
            namespace=namespace,
            uid=f"00000000-0000-4000-8000-{len(self.created):012d}",
            creationTimestamp="2026-11-30T10:00:00Z",
            resourceVersion="1",
        )
        self.objects[plural, name] = stored
        self.created.append(stored)
        return copy.deepcopy(stored)

    def replace_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any
    ) -> Any:
        self.objects[plural, name] = copy.deepcopy(body)
        return body


@pytest.fixture
def client() -> Client:
    """A Client whose custom-objects API records instead of calling a cluster."""
    made = Client.__new__(Client)
    made.namespace = "ml"
    made.custom = RecordingCustomObjects()  # type: ignore[assignment]
    return made


def created(client: Client, kind: str) -> list[dict[str, Any]]:
    return [o for o in client.custom.created if o["kind"] == kind]  # type: ignore[attr-defined]


def package_spec() -> dict[str, Any]:
    """The spec of PACKAGE, as a Pipeline on the cluster holds it."""
    [document] = yaml.safe_load_all(Path(PACKAGE).read_text())
    return load_spec(document["spec"]).to_dict()


def template(client: Client, job: str) -> dict[str, Any]:
    spec: dict[str, Any] = client.custom.objects["recurringruns", job]["spec"]["template"]["spec"]  # type: ignore[attr-defined]
    return spec


def test_a_package_leaves_a_pipeline_of_the_same_name_as_it_is(client: Client) -> None:
    client.upload_pipeline(PACKAGE)
    client.custom.objects["pipelines", "add-subtract-multiply"]["spec"]["description"] = "the team's"  # type: ignore[attr-defined]
    client.create_recurring_run(None, "nightly", cron_expression="0 2 * * *", pipeline_package_path=PACKAGE)
    kept = client.custom.objects["pipelines", "add-subtract-multiply"]  # type: ignore[attr-defined]
    assert kept["spec"]["description"] == "the team's"
    assert template(client, "nightly")["pipelineSpec"] == package_spec()


def test_a_pipeline_id_keeps_the_version_current_when_scheduled(client: Client, tmp_path: Path) -> None:
    """As KFP's job keeps the workflow of the pipeline's default version: a later upload changes no schedule."""
    pipeline = client.upload_pipeline(PACKAGE)
    alone = client.create_recurring_run(None, "alone", interval_second=60, pipeline_id=pipeline.id)
    client.upload_pipeline_version(PACKAGE, "v1", pipeline_name="add-subtract-multiply")
    first = client.create_recurring_run(None, "first", interval_second=60, pipeline_id="add-subtract-multiply")
    document = yaml.safe_load(Path(PACKAGE).read_text())
    document["spec"]["description"] = "version two"
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(document))
    v2 = client.upload_pipeline_version(str(changed), "v2", pipeline_name="add-subtract-multiply")
    second = client.create_recurring_run(None, "second", interval_second=60, pipeline_id=pipeline.id)
    by_version = client.create_recurring_run(
        None, "by-version", interval_second=60, pipeline_id=pipeline.id, version_id="add-subtract-multiply-v1"
    )
    # uploaded alone, the pipeline had no version of its own: its spec is copied, as it was then
    assert template(client, alone.resource_name)["pipelineSpec"] == package_spec()
    assert template(client, first.resource_name)["pipelineRef"] == {"name": "add-subtract-multiply-v1"}
    assert template(client, second.resource_name)["pipelineRef"] == {"name": v2.resource_name}
    assert template(client, by_version.resource_name)["pipelineRef"] == {"name": "add-subtract-multiply-v1"}
    assert (first.pipeline, second.pipeline) == ("add-subtract-multiply-v1", "add-subtract-multiply-v2")
    labels = client.custom.objects["recurringruns", "second"]["metadata"]["labels"]  # type: ignore[attr-defined]
    assert labels == {"kubeline.dev/pipeline": "add-subtract-multiply"}  # the pipeline, not its version


def test_a_package_on_a_kfp_cron_becomes_a_recurring_run_that_keeps_its_spec(client: Client) -> None:
    job = client.create_recurring_run(
        None,
        "Nightly training",
        description="every night at two",
        cron_expression="0 0 2 * * *",  # KFP's six fields, seconds first
        params={"value_1": "5"},
        pipeline_package_path=PACKAGE,
        no_catchup=True,
        enabled=False,
        start_time="2026-12-01T00:00:00Z",
    )
    assert created(client, "Pipeline") == []  # as KFP: the job holds the package, no pipeline is uploaded
    [recurring] = created(client, "RecurringRun")
    assert recurring["metadata"]["name"] == "nightly-training"
    assert recurring["metadata"]["annotations"] == {
        "kubeline.dev/display-name": "Nightly training",
        "kubeline.dev/description": "every night at two",
    }
    assert recurring["metadata"]["labels"] == {"kubeline.dev/pipeline": "add-subtract-multiply"}
    assert recurring["spec"]["schedule"] == {"cron": "0 0 2 * * *", "startTime": "2026-12-01T00:00:00Z"}
    assert recurring["spec"]["template"] == {"spec": {"pipelineSpec": package_spec(), "arguments": {"value_1": "5"}}}
    assert (recurring["spec"]["maxConcurrency"], recurring["spec"]["catchUp"], recurring["spec"]["suspend"]) == (
        1,  # KFP's default
        False,
        True,
    )
    assert (job.name, job.resource_name, job.enabled, job.mode, job.no_catchup) == (
        "Nightly training",
        "nightly-training",
        False,
        "DISABLED",
        True,
    )
    assert job.trigger.cron_schedule is not None and job.trigger.cron_schedule.cron == "0 0 2 * * *"


def test_an_interval_and_caching_off_give_the_run_its_own_pipeline_copy(client: Client) -> None:
    client.create_recurring_run(
        None, "every-90s", interval_second=90, pipeline_package_path=PACKAGE, enable_caching=False, service_account="sa"
    )
    [recurring] = created(client, "RecurringRun")
    assert recurring["spec"]["schedule"] == {"interval": "90s"}
    own = recurring["spec"]["template"]["spec"]["pipelineSpec"]
    assert own == {**package_spec(), "defaults": {"caching": {"enabled": False}, "serviceAccountName": "sa"}}
    job = client.get_recurring_run("every-90s")
    assert job.trigger.periodic_schedule is not None and job.trigger.periodic_schedule.interval_second == 90


def test_a_job_name_taken_gets_a_name_of_its_own_and_keeps_the_display_name(client: Client) -> None:
    first = client.create_recurring_run(None, "nightly", cron_expression="0 2 * * *", pipeline_package_path=PACKAGE)
    second = client.create_recurring_run(None, "nightly", cron_expression="0 3 * * *", pipeline_package_path=PACKAGE)
    assert first.resource_name == "nightly" and second.resource_name.startswith("nightly-")
    assert second.name == "nightly"
    assert [j.schedule for j in client.list_recurring_runs(page_size=1).jobs] == ["0 2 * * *"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({}, r"cron_expression, interval_second: give exactly one"),
        ({"cron_expression": "* * * * *", "interval_second": 60}, r"give exactly one"),
        ({"cron_expression": "0 2 * *"}, r"cron_expression: '0 2 \* \*' has 4 fields; write 5"),
        ({"cron_expression": "0 25 * * *"}, r"cron_expression: '0 25 \* \* \*' is not a cron expression"),
        ({"interval_second": 0}, r"interval_second: must be a whole number of seconds, 1 or more"),
        ({"interval_second": 1.5}, r"interval_second: must be a whole number of seconds"),
        ({"interval_second": 60, "max_concurrency": 0}, r"max_concurrency: input should be greater than or equal to 1"),
        ({"interval_second": 60, "start_time": "tomorrow"}, r"start_time: 'tomorrow' is not an RFC 3339 time"),
        ({"interval_second": 60, "end_time": "2026-12-01T00:00:00"}, r"end_time: .* has no time zone"),
        (
            {"interval_second": 60, "start_time": "2026-12-02T00:00:00Z", "end_time": "2026-12-01T00:00:00Z"},
            r"end_time: .* is not after start_time",
        ),
        ({"interval_second": 60, "params": {"nope": "1"}}, r"params: .*the pipeline has no parameter 'nope'"),
        ({"interval_second": 60, "params": {"value_1": "seven"}}, r"params: .*'seven' is not an integer"),
    ],
)
def test_problems_name_the_argument_and_create_nothing(client: Client, arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        client.create_recurring_run(None, "nightly", pipeline_package_path=PACKAGE, **arguments)
    assert client.custom.created == []  # type: ignore[attr-defined]  # not even the Pipeline


def test_a_recurring_run_reads_as_kfps_job() -> None:
    resource = {
        "metadata": {"name": "nightly", "namespace": "ml", "uid": "u1", "creationTimestamp": "2026-11-30T10:00:00Z"},
        "spec": {
            "schedule": {"interval": "1h", "startTime": "2026-12-01T00:00:00Z"},
            "template": {"spec": {"pipelineRef": {"name": "train"}}},
            "experiment": "nightly-x",
            "concurrencyPolicy": "Forbid",
            "catchUp": False,
        },
        "status": {"nextScheduleTime": "2026-12-01T01:00:00Z", "active": ["nightly-1"], "message": "ok"},
    }
    job = recurring_run_info(resource)
    assert (job.id, job.name, job.enabled, job.mode, job.no_catchup, job.max_concurrency) == (
        "u1",
        "nightly",
        True,
        "ENABLED",
        True,
        None,
    )
    assert job.trigger.cron_schedule is None and job.trigger.periodic_schedule is not None
    assert job.trigger.periodic_schedule.interval_second == 3600
    assert job.trigger.periodic_schedule.start_time is not None and job.trigger.periodic_schedule.start_time.day == 1
    assert (job.pipeline, job.experiment, job.concurrency_policy, job.active) == (
        "train",
        "nightly-x",
        "Forbid",
        ["nightly-1"],
    )
    assert job.next_schedule_time is not None and job.next_schedule_time.hour == 1
    assert page([job], "", 10).jobs == [job]  # KFP's list_recurring_runs(...).jobs


def test_list_recurring_runs_pages_and_sorts_as_list_runs_does(client: Client) -> None:
    for name in ("b-job", "a-job", "c-job"):
        client.create_recurring_run(None, name, interval_second=60, pipeline_package_path=PACKAGE)
    first = client.list_recurring_runs(page_size=2, sort_by="name desc")
    assert ([j.name for j in first.jobs], first.total_size) == (["c-job", "b-job"], 3)
    rest = client.list_recurring_runs(page_size=2, sort_by="name desc", page_token=first.next_page_token)
    assert [j.name for j in rest.jobs] == ["a-job"] and not rest.next_page_token
    with pytest.raises(ValueError, match="filter=... is not supported"):
        client.list_recurring_runs(filter='{"predicates": []}')
