"""Creating a step pod whose name is taken: kubeline deletes only what an older Run of the same name left; and
every call to an API server that went silent ends."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ReadTimeoutError

from kubeline.controller import kube as kube_module
from kubeline.controller.kube import Kube, PodNameTaken, claim_holder_problem, pod_name_holder


class _Core:
    """The two pod calls create_pod makes, against one existing pod owned by ``owners``."""

    def __init__(self, owners: list[dict[str, str]]):
        self.existing = {"metadata": {"ownerReferences": owners}}
        self.deleted: list[str] = []

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **_: Any) -> None:
        raise ApiException(status=409, reason="AlreadyExists")

    def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> Any:
        return self.existing

    def delete_namespaced_pod(self, name: str, namespace: str, **_: Any) -> None:
        self.deleted.append(name)


def _create(owners: list[dict[str, str]]) -> tuple[Any, list[str]]:
    kube = Kube(client.ApiClient(client.Configuration()))
    kube.core = _Core(owners)
    pod = {
        "metadata": {
            "name": "r-a1-x-a1",
            "namespace": "ns",
            "ownerReferences": [{"apiVersion": "kubeline.dev/v1alpha1", "kind": "Run", "name": "r", "uid": "new"}],
        }
    }
    try:
        return asyncio.run(kube.create_pod(pod)), kube.core.deleted
    except PodNameTaken as taken:
        return taken, kube.core.deleted


def test_our_own_pod_from_before_a_restart_counts_as_created() -> None:
    assert _create([{"kind": "Run", "name": "r", "uid": "new"}]) == (True, [])


def test_the_pod_of_an_older_run_of_the_same_name_is_deleted_and_creation_retried() -> None:
    assert _create([{"kind": "Run", "name": "r", "uid": "old"}]) == (False, ["r-a1-x-a1"])


@pytest.mark.parametrize(
    "owners, holder", [([{"kind": "Run", "name": "r-a1", "uid": "other"}], "Run r-a1"), ([], "no owner")]
)
def test_a_pod_of_another_run_or_of_a_user_is_left_alone(owners: list[dict[str, str]], holder: str) -> None:
    taken, deleted = _create(owners)
    assert isinstance(taken, PodNameTaken) and deleted == []
    assert f"pod name r-a1-x-a1 is taken by a pod of {holder}" in str(taken)


_OWNER = {"kind": "Run", "name": "r", "uid": "new"}


@pytest.mark.parametrize(
    "holders, holder",
    [
        ([{"kind": "Run", "name": "r", "uid": "new"}], "this run"),
        ([{"kind": "Job", "name": "j", "uid": "job"}, {"kind": "Run", "name": "r", "uid": "new"}], "this run"),
        ([{"kind": "Run", "name": "r", "uid": "old"}], "an older run"),
    ],
)
def test_who_holds_a_pod_name_this_run_or_an_older_run_of_its_name(holders: list[dict[str, str]], holder: str) -> None:
    assert pod_name_holder("r-a1-x-a1", _OWNER, holders) == holder


@pytest.mark.parametrize(
    "holders, named",
    [
        ([{"kind": "Run", "name": "other", "uid": "old"}], "Run other"),
        ([{"kind": "Job", "name": "r", "uid": "old"}], "Job r"),
        ([], "no owner"),
    ],
)
def test_a_pod_name_held_by_anything_else_is_taken(holders: list[dict[str, str]], named: str) -> None:
    with pytest.raises(PodNameTaken, match=f"pod name r-a1-x-a1 is taken by a pod of {named}; rename this run"):
        pod_name_holder("r-a1-x-a1", _OWNER, holders)


CLAIM = {
    "metadata": {
        "name": "train-data-x",
        "labels": {"kubeline.dev/run": "train-data"},
        "ownerReferences": [{"kind": "Run", "name": "train-data", "uid": "new"}],
    }
}


@pytest.mark.parametrize(
    "existing, expected",
    [
        ({"labels": {"kubeline.dev/run": "train-data"}, "ownerReferences": [{"uid": "new"}]}, None),
        (
            {
                "labels": {"kubeline.dev/run": "train"},
                "ownerReferences": [{"kind": "Run", "name": "train", "uid": "t"}],
            },
            "the claim train-data-x exists and belongs to Run train; rename this run or the pipeline's volume",
        ),
        (
            {
                "labels": {"kubeline.dev/run": "train-data"},
                "ownerReferences": [{"kind": "Run", "name": "train-data", "uid": "old"}],
                "deletionTimestamp": "2026-01-01T00:00:00Z",
            },
            "belongs to Run train-data and is being deleted",
        ),
        ({}, "the claim train-data-x exists and belongs to no Run (a claim made by hand?)"),
        (
            {"ownerReferences": [{"kind": "Run", "name": "train-data", "uid": "new"}]},
            "belongs to Run train-data;",
        ),  # owned, but not labelled as ours
    ],
)
def test_a_claim_of_the_name_is_used_only_when_this_run_made_it(existing: dict[str, Any], expected: str | None) -> None:
    problem = claim_holder_problem(CLAIM, existing)
    assert problem == expected if expected is None else expected in (problem or "")


def test_a_call_to_an_api_server_that_went_silent_ends_with_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that takes a request and never answers (a dead load balancer) must not hang a Run's daemon:
    the client alone would wait forever."""
    monkeypatch.setattr(kube_module, "REQUEST_TIMEOUT", (1.0, 1.0))
    with socket.create_server(("127.0.0.1", 0)) as silent:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        configuration.retries = False
        kube = Kube(client.ApiClient(configuration))
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            asyncio.run(kube.list_pods("ns", "r"))
    assert time.monotonic() - started < 5
