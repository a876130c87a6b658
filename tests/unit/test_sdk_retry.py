"""kubeline.Client.retry_run and `kubeline retry` without a cluster: a name the new Run cannot have, taken or
refused by the API server, is a problem naming the argument (or the server's words), never an internal error."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client import ApiException

from kubeline.api.problems import PipelineInvalid
from kubeline.sdk.client import Client
from tests.helpers import kubeline, pipeline, task
from tests.unit.test_sdk_recurring import RecordingCustomObjects

FIRST = {
    "apiVersion": "kubeline.dev/v1alpha1",
    "kind": "Run",
    "metadata": {"name": "first", "namespace": "ml", "uid": "uid-first"},
    "spec": {"pipelineRef": {"name": "p"}},
    "status": {
        "phase": "Failed",
        "startedAt": "2026-11-30T10:00:00Z",
        "pipelineSpec": pipeline([task("a"), task("b", after=["a"])])["spec"],
    },
}


class RefusingCustomObjects(RecordingCustomObjects):
    """An API server whose admission (a CEL rule, a webhook) refuses every Run created, with ``message``."""

    def __init__(self, message: str | None) -> None:
        super().__init__()
        self.message = message

    def create_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, body: Any) -> Any:
        refusal = ApiException(status=422, reason="Unprocessable Entity")
        refusal.body = json.dumps({"message": self.message}) if self.message else None
        raise refusal


def client_with(custom: RecordingCustomObjects) -> Client:
    made = Client.__new__(Client)
    made.namespace = "ml"
    custom.objects["runs", "first"] = FIRST
    made.custom = custom  # type: ignore[assignment]
    return made


def test_a_retry_named_as_no_run_may_be_is_refused_before_anything_is_created() -> None:
    custom = RecordingCustomObjects()
    with pytest.raises(PipelineInvalid) as error:
        client_with(custom).retry_run("first", run_name="Bad_Name")
    assert error.value.issues[0].path == "run_name" and "Bad_Name" in str(error.value)
    assert custom.created == []


def test_a_retry_whose_name_is_taken_names_the_argument() -> None:
    client = client_with(RecordingCustomObjects())
    assert client.retry_run("first", run_name="again").resource_name == "again"
    with pytest.raises(PipelineInvalid) as error:
        client.retry_run("first", run_name="again")
    assert str(error.value) == "run_name: a Run named 'again' exists in namespace 'ml': choose another name"


@pytest.mark.parametrize(
    "message, said",
    [("spec.queue: Invalid value: 'Bad_Q'", "spec.queue: Invalid value: 'Bad_Q'"), (None, "Unprocessable Entity")],
)
def test_a_retry_the_api_server_refuses_says_what_the_server_said(message: str | None, said: str) -> None:
    with pytest.raises(PipelineInvalid) as error:
        client_with(RefusingCustomObjects(message)).retry_run("first", run_name="again")
    assert str(error.value) == f"the retry of Run first: {said}"


@pytest.mark.parametrize("where", [["--local"], ["-n", "ml"]])
def test_kubeline_retry_checks_the_name_first(tmp_path: Path, where: list[str]) -> None:
    refused = kubeline("retry", "r1", *where, "--name", "Bad_Name", home=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "\n  --name: 'Bad_Name' is not a valid name" in refused.stderr, refused.stderr


class Pods:
    """The core API's pod calls on a dictionary of pod logs by pod name; pods carry no labels here, so
    listing a Run's pods finds none (the retry's reused step has no pod of its own)."""

    def __init__(self, logs: dict[str, str]) -> None:
        self.logs = logs

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        return SimpleNamespace(items=[])

    def read_namespaced_pod_log(self, name: str, namespace: str, container: str, follow: bool) -> str:
        if name not in self.logs:
            raise ApiException(status=404, reason="Not Found")
        return self.logs[name]


def test_the_log_of_a_reused_step_is_the_log_of_its_pod_in_the_run_it_ran_in() -> None:
    """Without an artifact store no copy of the log was kept: the original Run's pod still has it."""
    client = client_with(RecordingCustomObjects())
    client.core = Pods({"first-a-a1": "a says hello\n"})  # type: ignore[assignment]
    second = {
        **FIRST,
        "metadata": {"name": "second", "namespace": "ml", "uid": "uid-second"},
        "status": {
            "phase": "Succeeded",
            "tasks": {
                "a": {"phase": "Succeeded", "attempts": 1, "pod": "first-a-a1", "reusedFrom": "first"},
                "b": {"phase": "Succeeded", "attempts": 1, "pod": "second-b-a1"},
            },
        },
    }
    client.custom.objects["runs", "second"] = second  # type: ignore[attr-defined]
    assert client.logs("second") == {"a": "a says hello\n"}
    client.core = Pods({})  # type: ignore[assignment]
    assert client.logs("second", "a") == {"a": "(no log: Not Found)"}  # the original deleted since
