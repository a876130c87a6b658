"""The reconciler against an in-memory API server: what a user sees of a Run (phase, messages, pods)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from kubeline.api.constants import API_VERSION
from kubeline.api.records import merged_tasks
from kubeline.backends.local import LocalRunner, StoreCache
from kubeline.controller import reconciler as reconciler_module
from kubeline.controller import records as records_module
from kubeline.controller.config import OperatorConfig
from kubeline.controller.kube import ClaimNotCreated, PodRefused
from kubeline.controller.pods import encode_outputs
from kubeline.controller.reconciler import RunReconciler
from kubeline.controller.status import timestamp
from kubeline.engine.stepid import pod_name
from kubeline.store.local import LocalStore
from tests.helpers import WRITE, pipeline, task
from tests.unit.fake_kube import CHAIN, NS, RUN, UID, FakeKube
from tests.unit.simulate import plan_of


@pytest.fixture(autouse=True)
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """The Events posted on the Run (kopf posts them in the operator; here they are collected)."""
    posted: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        reconciler_module, "event", lambda run, kind, reason, message: posted.append((kind, reason, message))
    )
    return posted


def start_run(kube: FakeKube, spec: dict[str, Any], name: str = RUN, uid: str = UID) -> RunReconciler:
    kube.add_run(NS, name, uid, {"pipelineSpec": spec})
    return RunReconciler(kube, OperatorConfig(), NS, name, kube.watch(NS, name))


def reconcile(kube: FakeKube, reconciler: RunReconciler) -> float | None:
    return asyncio.run(reconciler.reconcile(kube.runs[NS, reconciler.name]))


def status(kube: FakeKube, name: str = RUN) -> dict[str, Any]:
    return kube.runs[NS, name]["status"]


def succeed(kube: FakeKube, pod: str, outputs: dict[str, str]) -> None:
    terminated = {"exitCode": 0, "message": encode_outputs(outputs)}
    kube.set_pod_status(
        NS, pod, {"phase": "Succeeded", "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}]}
    )


def run_to_the_end(kube: FakeKube, reconciler: RunReconciler) -> None:
    """Reconcile, finishing each pod as it appears (every step writes out=done), until the Run ends."""
    for _ in range(10):
        if reconcile(kube, reconciler) is None:
            return
        for (_, name), pod in list(kube.pods.items()):
            if pod["status"]["phase"] == "Pending":
                succeed(kube, name, {"out": "done"})
    raise AssertionError(f"the run did not finish: {status(kube)}")


def test_a_pipeline_runs_pod_by_pod_and_succeeds() -> None:
    kube = FakeKube()
    reconciler = start_run(kube, CHAIN)
    run_to_the_end(kube, reconciler)
    assert status(kube)["phase"] == "Succeeded"
    assert kube.created_pods == [pod_name(RUN, "a", 1), pod_name(RUN, "b", 1)]
    assert {task["phase"] for task in status(kube)["tasks"].values()} == {"Succeeded"}


def test_run_placeholders_in_parameter_defaults_take_the_run_s_values_and_arguments_stay_as_given() -> None:
    kube = FakeKube()
    spec = pipeline(
        [task("a", arguments={"a": "{{params.model}}"}), task("b", arguments={"a": "{{params.given}}"})],
        params=[{"name": "model", "default": "xgb-{{run.name}}-{{run.uid}}"}, {"name": "given"}],
    )["spec"]
    kube.add_run(NS, RUN, UID, {"pipelineSpec": spec, "arguments": {"given": "{{run.name}}"}})
    run_to_the_end(kube, RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN)))
    assert status(kube)["arguments"] == {"model": f"xgb-{RUN}-{UID}", "given": "{{run.name}}"}
    main_args = {pod["metadata"]["name"]: pod["spec"]["containers"][0]["args"][1] for pod in kube.pods.values()}
    assert main_args == {pod_name(RUN, "a", 1): f"xgb-{RUN}-{UID}", pod_name(RUN, "b", 1): "{{run.name}}"}


def test_a_pod_name_held_by_an_older_runs_pod_is_freed_and_the_step_starts_later() -> None:
    kube = FakeKube()
    older = start_run(kube, CHAIN, uid="uid-0")
    reconcile(kube, older)  # its pod for a is left behind when that Run is deleted
    del kube.runs[NS, RUN]
    reconciler = start_run(kube, CHAIN, uid=UID)
    due = reconcile(kube, reconciler)
    assert due is not None and due <= 1.0  # tries again soon
    assert kube.deleted_pods == [pod_name(RUN, "a", 1)]
    assert status(kube)["phase"] == "Running"
    reconcile(kube, reconciler)
    pod = kube.pods[NS, pod_name(RUN, "a", 1)]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == UID
    assert status(kube)["tasks"]["a"]["phase"] == "Running"


@pytest.mark.parametrize("owners", [[], [{"kind": "Job", "name": "nightly", "uid": "j"}]])
def test_a_pod_name_held_by_a_foreign_pod_fails_the_step_with_a_clear_message(owners: list[dict[str, str]]) -> None:
    kube = FakeKube()
    taken = pod_name(RUN, "a", 1)
    kube.put_pod({"metadata": {"name": taken, "namespace": NS, "ownerReferences": owners}, "status": {}})
    reconciler = start_run(kube, CHAIN)
    assert reconcile(kube, reconciler) is None  # the run ends; no crash
    assert status(kube)["phase"] == "Failed"
    message = status(kube)["tasks"]["a"]["message"]
    assert f"pod name {taken} is taken" in message and "rename this run" in message
    assert taken not in kube.deleted_pods and (NS, taken) in kube.pods  # the foreign pod is left alone
    assert kube.created_pods == []


def test_cancelling_a_run_deletes_its_running_pods(events: list[tuple[str, str, str]]) -> None:
    kube = FakeKube()
    parallel = pipeline([task("a", arguments={"a": "1"}), task("b", arguments={"a": "2"})])["spec"]
    reconciler = start_run(kube, parallel)
    reconcile(kube, reconciler)
    assert len(kube.created_pods) == 2
    kube.runs[NS, RUN]["spec"]["cancel"] = True
    reconcile(kube, reconciler)
    assert sorted(kube.deleted_pods) == sorted(kube.created_pods)
    assert status(kube)["phase"] == "Cancelled"
    assert ("Warning", "Cancelled") in [(kind, reason) for kind, reason, _ in events]


def test_a_pod_deleted_by_someone_else_fails_its_step() -> None:
    kube = FakeKube()
    reconciler = start_run(kube, CHAIN)
    reconcile(kube, reconciler)
    asyncio.run(kube.delete_pod(NS, pod_name(RUN, "a", 1)))
    reconcile(kube, reconciler)
    assert status(kube)["tasks"]["a"]["message"] == "the step's pod was deleted"
    assert status(kube)["phase"] == "Failed"


def test_a_status_written_by_someone_else_is_restored_and_the_run_goes_on(
    events: list[tuple[str, str, str]],
) -> None:
    kube = FakeKube()
    reconciler = start_run(kube, CHAIN)
    reconcile(kube, reconciler)
    truth = status(kube)
    kube.write_status_as_someone_else(NS, RUN, {"phase": "Succeeded", "tasks": {"a": {"phase": "Failed"}}})
    assert reconciler.overwritten(kube.runs[NS, RUN])
    reconcile(kube, reconciler)
    assert (status(kube)["phase"], status(kube)["tasks"]) == (truth["phase"], truth["tasks"])
    assert not reconciler.overwritten(kube.runs[NS, RUN])
    assert ("Warning", "StatusOverwritten") in [(kind, reason) for kind, reason, _ in events]
    run_to_the_end(kube, reconciler)
    assert status(kube)["phase"] == "Succeeded"
    assert len(kube.created_pods) == 2


def test_two_writers_of_a_status_take_turns_no_faster_than_the_restore_interval() -> None:
    """A second operator acting on the same Run (no leader election) restores its own status too: each restores
    at most once per RESTORE_SECONDS, so the two do not write in a tight loop."""
    kube = FakeKube()
    reconciler = start_run(kube, CHAIN)
    reconcile(kube, reconciler)
    kube.write_status_as_someone_else(NS, RUN, {"message": "mine"})
    assert reconciler.to_restore(kube.runs[NS, RUN], time.time())
    reconcile(kube, reconciler)
    kube.write_status_as_someone_else(NS, RUN, {"message": "mine again"})
    assert reconciler.overwritten(kube.runs[NS, RUN])
    assert not reconciler.to_restore(kube.runs[NS, RUN], time.time())
    assert reconciler.to_restore(kube.runs[NS, RUN], time.time() + reconciler_module.RESTORE_SECONDS)


def test_labels_and_annotations_written_by_someone_else_leave_the_status_alone(
    events: list[tuple[str, str, str]],
) -> None:
    kube = FakeKube()
    reconciler = start_run(kube, CHAIN)
    reconcile(kube, reconciler)
    run = kube.runs[NS, RUN]
    run["metadata"].update(labels={"team": "x"}, annotations={"note": "y"}, resourceVersion="1000")
    assert not reconciler.overwritten(run)
    reconcile(kube, reconciler)
    assert "StatusOverwritten" not in [reason for _, reason, _ in events]


def test_a_run_too_large_to_keep_a_copy_of_its_pipeline_fails_at_once_saying_so(
    events: list[tuple[str, str, str]],
) -> None:
    """An inline pipeline with a dozen long descriptions: with its copy in status.pipelineSpec the Run would
    outgrow etcd's limit, and the status write would fail on every pass."""
    kube = FakeKube()
    big = {**CHAIN, "components": [{**c, "description": "d" * 60_000} for c in CHAIN["components"] * 12]}
    big["components"] = [{**c, "name": f"op{i}" if i else c["name"]} for i, c in enumerate(big["components"])]
    reconciler = start_run(kube, big)
    assert reconcile(kube, reconciler) is None
    assert status(kube)["phase"] == "Failed"
    assert "KiB, over the 1024 KiB kubeline allows" in status(kube)["message"]
    assert "use pipelineRef" in status(kube)["message"]
    assert "pipelineSpec" not in status(kube)
    assert kube.created_pods == []
    assert ("Warning", "PipelineTooLarge") in [(kind, reason) for kind, reason, _ in events]


def test_the_frozen_pipeline_is_recorded_before_the_first_pod() -> None:
    """A pass that fails after starting the run (the API server down) leaves the frozen pipeline recorded."""

    class Failing(FakeKube):
        async def create_pod(self, body: dict[str, Any]) -> bool:
            raise ConnectionError("the API server is down")

    kube = Failing()
    reconciler = start_run(kube, CHAIN)
    with pytest.raises(ConnectionError):
        reconcile(kube, reconciler)
    assert status(kube)["phase"] == "Running"
    assert status(kube)["pipelineSpec"] == CHAIN


def test_pod_changes_a_silent_watch_never_delivered_are_seen_at_the_next_resync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A watch can stop delivering events without an error (a known kopf failure mode): once per resync period
    the reconciler lists the Run's pods again, so a finished pod, or a deleted one, is seen all the same."""
    kube = FakeKube()
    reconciler = start_run(kube, CHAIN)
    reconcile(kube, reconciler)
    first = pod_name(RUN, "a", 1)
    kube.pods[NS, first]["status"] = {  # stored by the API server; its event never arrives
        "phase": "Succeeded",
        "containerStatuses": [
            {"name": "main", "state": {"terminated": {"exitCode": 0, "message": encode_outputs({"out": "1"})}}}
        ],
    }
    kube.pods[NS, first]["metadata"]["resourceVersion"] = "99"
    reconcile(kube, reconciler)
    assert kube.created_pods == [first]  # within the resync period the watched pods are trusted
    later = time.time() + OperatorConfig().resync_seconds
    monkeypatch.setattr(reconciler_module.time, "time", lambda: later)
    reconcile(kube, reconciler)
    second = pod_name(RUN, "b", 1)
    assert kube.created_pods == [first, second]
    del kube.pods[NS, second]  # deleted; the DELETED event lost too
    monkeypatch.setattr(reconciler_module.time, "time", lambda: later + OperatorConfig().resync_seconds)
    reconcile(kube, reconciler)
    assert status(kube)["tasks"]["b"]["message"] == "the step's pod was deleted"


def test_the_started_event_is_posted_once_though_the_first_write_fails(events: list[tuple[str, str, str]]) -> None:
    class FailingOnce(FakeKube):
        failed = False

        async def write_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> str:
            if not self.failed:
                self.failed = True
                raise ConnectionError("the API server is down")
            return await super().write_run_status(namespace, name, status)

    kube = FailingOnce()
    reconciler = start_run(kube, CHAIN)
    with pytest.raises(ConnectionError):
        reconcile(kube, reconciler)
    reconcile(kube, reconciler)
    assert status(kube)["phase"] == "Running"
    assert [reason for _, reason, _ in events].count("Started") == 1


def test_a_run_served_entirely_from_the_cache_creates_no_pod() -> None:
    kube = FakeKube()
    run_to_the_end(kube, start_run(kube, CHAIN, name="first", uid="uid-first"))
    assert len(kube.cache_entries) == 2
    created = list(kube.created_pods)
    second = start_run(kube, CHAIN, name="second", uid="uid-second")
    assert reconcile(kube, second) is None
    assert kube.created_pods == created  # no new pod
    assert status(kube, "second")["phase"] == "Succeeded"
    assert status(kube, "second")["progress"]["cached"] == 2
    tasks = status(kube, "second")["tasks"]
    assert all(task["cached"] for task in tasks.values())
    assert tasks["b"]["outputs"] == {"out": "done"}
    assert tasks["a"]["message"].startswith("served from the cache (made ")
    assert tasks["a"]["message"].endswith(" by run first)")


def finished_run(kube: FakeKube, finished_ago: float, ttl: str) -> RunReconciler:
    reconciler = start_run(kube, CHAIN)
    kube.runs[NS, RUN]["status"] = {
        "phase": "Succeeded",
        "finishedAt": timestamp(time.time() - finished_ago),
        "pipelineSpec": {**CHAIN, "ttlAfterFinished": ttl},
    }
    return reconciler


def test_a_finished_run_past_its_ttl_is_deleted() -> None:
    kube = FakeKube()
    assert reconcile(kube, finished_run(kube, finished_ago=120, ttl="1m")) is None
    assert (NS, RUN) not in kube.runs


def test_a_finished_run_within_its_ttl_is_kept_until_then() -> None:
    kube = FakeKube()
    due = reconcile(kube, finished_run(kube, finished_ago=30, ttl="1h"))
    assert due is not None and 3500 < due <= 3570
    assert (NS, RUN) in kube.runs


def test_both_backends_record_the_component_name_in_the_cache(tmp_path: Path) -> None:
    spec = {"components": [WRITE], "tasks": [{"name": "w", "component": "write", "arguments": {"text": "hi"}}]}
    LocalRunner(
        plan_of({"spec": spec}), {}, "local", run_dir=tmp_path / "run", cache=StoreCache(LocalStore(tmp_path))
    ).run()
    [record] = [json.loads(path.read_text()) for path in tmp_path.glob("cache/*.json")]
    kube = FakeKube()
    reconciler = start_run(kube, spec)
    reconcile(kube, reconciler)
    succeed(kube, pod_name(RUN, "w", 1), {"out": "hi"})
    reconcile(kube, reconciler)
    [entry] = kube.cache_entries.values()
    assert record["component"] == entry["spec"]["component"] == "write"
    assert entry["apiVersion"] == API_VERSION and entry["kind"] == "CacheEntry"
    assert record["cacheKey"] == entry["spec"]["key"]  # the same step hits the same result on both


def test_a_run_waits_for_its_missing_pipeline_then_runs(events: list[tuple[str, str, str]]) -> None:
    kube = FakeKube()
    kube.add_run(NS, RUN, UID, {"pipelineRef": {"name": "chain"}})
    reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    assert reconcile(kube, reconciler) == reconciler_module.PIPELINE_RETRY_SECONDS
    assert status(kube)["phase"] == "Pending"
    assert status(kube)["message"].startswith("Pipeline 'chain' not found in namespace team")
    assert {(c["type"], c["status"], c["reason"]) for c in status(kube)["conditions"]} == {
        ("Succeeded", "Unknown", "PipelineNotFound"),
        ("Ready", "Unknown", "PipelineNotFound"),
    }
    kube.pipelines[NS, "chain"] = {"spec": CHAIN}
    reconcile(kube, reconciler)
    assert status(kube)["phase"] == "Running" and kube.created_pods == [pod_name(RUN, "a", 1)]
    assert [reason for _, reason, _ in events] == ["PipelineNotFound", "Started", "StepsStarted"]


def test_a_run_of_an_invalid_pipeline_fails_at_once_and_says_why() -> None:
    kube = FakeKube()
    reconciler = start_run(kube, {**CHAIN, "tasks": [task("a", component="missing")]})
    assert reconcile(kube, reconciler) is None
    assert status(kube)["phase"] == "Failed"
    assert status(kube)["message"].startswith("the run cannot start (fix the pipeline or arguments")
    assert {c["status"] for c in status(kube)["conditions"]} == {"False"}
    assert kube.created_pods == []


def store_step_finished(kube: FakeKube, pod: str, main_code: int, report: dict[str, Any], phase: str | None) -> None:
    """kubeline's container and main have ended; the pod's own phase may still lag behind (None: Running)."""
    kube.set_pod_status(
        NS,
        pod,
        {
            "phase": phase or "Running",
            "containerStatuses": [
                {"name": "main", "state": {"terminated": {"exitCode": main_code}}},
                {"name": "kubeline", "state": {"terminated": {"exitCode": 0, "message": json.dumps(report)}}},
            ],
        },
    )


@pytest.mark.parametrize(
    "policy, a_code, a_phase, kept",
    [
        ("KeepAll", 0, "Succeeded", {"a", "b"}),
        ("DeleteOnSuccess", 0, "Succeeded", {"b"}),  # b still runs
        ("DeleteOnSuccess", 0, None, {"b"}),  # the pod's phase lags its containers': the recorded outcome counts
        ("DeleteOnSuccess", 3, "Failed", {"a"}),  # a failed pod stays for its post-mortem
        ("DeleteOnCompletion", 3, "Failed", set()),
    ],
)
def test_the_pod_gc_policy_deletes_pods_once_the_status_records_their_outcome(
    policy: str, a_code: int, a_phase: str | None, kept: set[str]
) -> None:
    kube = FakeKube()
    kube.add_run(NS, RUN, UID, {"pipelineSpec": CHAIN})
    config = OperatorConfig.model_validate({"podGC": policy, "artifactStore": {"bucket": "ml"}})
    reconciler = RunReconciler(kube, config, NS, RUN, kube.watch(NS, RUN))
    reconcile(kube, reconciler)
    store_step_finished(kube, pod_name(RUN, "a", 1), a_code, {"outputs": {"out": "done"}, "log": "logs/a"}, a_phase)
    reconcile(kube, reconciler)
    assert status(kube)["tasks"]["a"]["log"] == "logs/a"
    assert {kube.pods[key]["metadata"]["annotations"]["kubeline.dev/step"] for key in kube.pods} == kept


VOLUMES_SPEC = pipeline(
    [task("a", arguments={"a": "{{volumes.scratch.name}}"}), task("b", arguments={"a": "{{volumes.models.name}}"})],
    volumes=[
        {"name": "scratch", "size": "1Gi", "annotations": {"backup": "no"}},
        {"name": "models", "size": "5Gi", "claimName": "team-models", "accessModes": ["ReadWriteMany"]},
        {"name": "kept", "size": "1Gi", "keep": True, "storageClassName": "fast"},
    ],
)["spec"]


def test_a_runs_volumes_are_claimed_before_its_first_step_and_recorded() -> None:
    kube = FakeKube()
    reconciler = start_run(kube, VOLUMES_SPEC)
    reconcile(kube, reconciler)
    scratch = kube.volume_claims[NS, f"{RUN}-scratch"]
    assert scratch["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    assert scratch["metadata"]["annotations"] == {"backup": "no"}
    assert scratch["metadata"]["labels"] == {"kubeline.dev/run": RUN}
    assert scratch["metadata"]["ownerReferences"][0]["uid"] == UID
    shared = kube.volume_claims[NS, "team-models"]
    assert "ownerReferences" not in shared["metadata"]  # a fixed name is shared by runs: kept
    assert shared["spec"]["accessModes"] == ["ReadWriteMany"]
    kept = kube.volume_claims[NS, f"{RUN}-kept"]
    assert "ownerReferences" not in kept["metadata"] and kept["spec"]["storageClassName"] == "fast"
    assert status(kube)["volumes"] == {"scratch": f"{RUN}-scratch", "models": "team-models", "kept": f"{RUN}-kept"}
    pods = [pod["spec"]["containers"][0]["args"] for pod in kube.pods.values()]
    assert sorted(args[1] for args in pods) == sorted([f"{RUN}-scratch", "team-models"])
    run_to_the_end(kube, reconciler)
    assert status(kube)["phase"] == "Succeeded" and status(kube)["volumes"]["models"] == "team-models"


def test_a_claim_the_api_server_refuses_fails_the_run_with_the_reason(events: list[tuple[str, str, str]]) -> None:
    class Refusing(FakeKube):
        async def ensure_volume_claim(self, body: dict[str, Any]) -> None:
            raise ClaimNotCreated(f"PersistentVolumeClaim {body['metadata']['name']} could not be created: quota")

    kube = Refusing()
    reconciler = start_run(kube, VOLUMES_SPEC)
    assert reconcile(kube, reconciler) is None
    assert status(kube)["phase"] == "Failed"
    assert f"PersistentVolumeClaim {RUN}-scratch could not be created: quota" in status(kube)["message"]
    assert not kube.pods
    assert events[-1][1] == "VolumeNotCreated"
    assert reconcile(kube, reconciler) is None  # finished: nothing more is tried


#: Two steps mounting the run's volume ``data`` one after the other.
MOUNTING = {
    "name": "mount",
    "inputs": [{"name": "pvc"}],
    "outputs": [{"name": "out"}],
    "container": {
        "image": "busybox",
        "command": ["sh", "-c", "ls /d > $0", "{{outputs.out.path}}"],
        "volumeMounts": [{"name": "d", "mountPath": "/d"}],
    },
    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "{{inputs.pvc}}"}}],
}
MOUNTS_SPEC = {
    "components": [MOUNTING],
    "tasks": [
        {"name": "a", "component": "mount", "arguments": {"pvc": "{{volumes.data.name}}"}},
        {
            "name": "b",
            "component": "mount",
            "arguments": {"pvc": "{{volumes.data.name}}"},
            "after": ["a"],
            "caching": {"enabled": False},
        },
    ],
    "volumes": [{"name": "data", "size": "1Gi"}],
}


def test_after_a_restart_claims_are_not_made_again_and_a_deleted_one_fails_the_steps_mounting_it(
    events: list[tuple[str, str, str]],
) -> None:
    kube = FakeKube()
    reconcile(kube, start_run(kube, MOUNTS_SPEC))
    succeed(kube, pod_name(RUN, "a", 1), {"out": "x"})
    del kube.volume_claims[NS, f"{RUN}-data"]  # deleted by hand while the operator was down
    restarted = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    assert reconcile(kube, restarted) is None
    assert (NS, f"{RUN}-data") not in kube.volume_claims  # not made again, empty, under a running run
    tasks = status(kube)["tasks"]
    assert tasks["a"]["phase"] == "Succeeded" and tasks["b"]["phase"] == "Failed"
    assert f"volume data (PersistentVolumeClaim {RUN}-data) was deleted while the run ran" in tasks["b"]["message"]
    assert status(kube)["phase"] == "Failed" and "b failed" in status(kube)["message"]
    assert ("Warning", "VolumeMissing") in [(kind, reason) for kind, reason, _ in events]
    assert kube.created_pods == [pod_name(RUN, "a", 1)]


def test_a_claim_another_run_holds_fails_the_run_that_would_share_it() -> None:
    kube = FakeKube()
    train = {**MOUNTS_SPEC, "volumes": [{"name": "data-x", "size": "1Gi"}]}
    train["tasks"] = [{"name": "a", "component": "mount", "arguments": {"pvc": "{{volumes.data-x.name}}"}}]
    reconcile(kube, start_run(kube, train, name="train", uid="uid-train"))
    other = {**train, "volumes": [{"name": "x", "size": "1Gi"}]}
    other["tasks"] = [{"name": "a", "component": "mount", "arguments": {"pvc": "{{volumes.x.name}}"}}]
    assert reconcile(kube, start_run(kube, other, name="train-data", uid="uid-2")) is None
    failed = status(kube, "train-data")
    assert failed["phase"] == "Failed"
    assert "the claim train-data-x exists and belongs to Run train; rename this run" in failed["message"]
    assert kube.created_pods == [pod_name("train", "a", 1)]


def test_an_artifact_volume_the_run_cannot_have_fails_its_steps_and_the_run_keeps_its_tasks(
    events: list[tuple[str, str, str]],
) -> None:
    kube = FakeKube()
    made_by_hand = {"metadata": {"name": f"{RUN}-artifacts", "namespace": NS}}
    kube.volume_claims[NS, f"{RUN}-artifacts"] = made_by_hand
    spec = pipeline([task("a", arguments={"a": "x"}), task("b", arguments={"a": "y"}, after=["a"])])["spec"]
    spec["components"] = [{**spec["components"][0], "outputs": [{"name": "out", "type": "artifact"}]}]
    assert reconcile(kube, start_run(kube, spec)) is None
    assert status(kube)["phase"] == "Failed"
    message = status(kube)["tasks"]["a"]["message"]
    assert f"the claim {RUN}-artifacts exists and belongs to no Run" in message
    assert "fix the operator's artifacts settings" in message
    assert status(kube)["tasks"]["b"]["phase"] == "Skipped"
    assert kube.volume_claims[NS, f"{RUN}-artifacts"] is made_by_hand and not kube.pods
    assert ("Warning", "VolumeNotCreated") in [(kind, reason) for kind, reason, _ in events]


def test_a_pod_the_api_server_refuses_fails_its_step_once_with_the_api_servers_words(
    events: list[tuple[str, str, str]],
) -> None:
    class Refusing(FakeKube):
        async def create_pod(self, body: dict[str, Any]) -> bool:
            raise PodRefused(f'the API server refused the step\'s pod: Pod "{body["metadata"]["name"]}" is invalid')

    kube = Refusing()
    spec = {**CHAIN, "defaults": {"retries": {"limit": 3}}}
    assert reconcile(kube, start_run(kube, spec)) is None  # ends at once: no retry, no crash loop
    a = status(kube)["tasks"]["a"]
    assert a["phase"] == "Failed" and a["attempts"] == 1
    assert f'the API server refused the step\'s pod: Pod "{pod_name(RUN, "a", 1)}" is invalid' in a["message"]
    assert status(kube)["phase"] == "Failed"
    failed = [message for kind, reason, message in events if (kind, reason) == ("Warning", "StepsFailed")]
    assert failed == [
        f'1 step failed: a (the API server refused the step\'s pod: Pod "{pod_name(RUN, "a", 1)}" is invalid)'
    ]
    assert "StepsStarted" not in [reason for _, reason, _ in events]  # its pod never existed


def test_a_started_run_whose_frozen_pipeline_an_upgraded_operator_refuses_fails_keeping_its_steps() -> None:
    kube = FakeKube()
    reconcile(kube, start_run(kube, CHAIN))
    frozen = status(kube)["pipelineSpec"]
    frozen["components"][0]["container"]["env"] = [{"name": "A=B", "value": "x"}]  # accepted by an older operator
    restarted = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    assert reconcile(kube, restarted) is None
    failed = status(kube)
    assert failed["phase"] == "Failed" and failed["message"].startswith("the run cannot go on")
    assert "env[A=B].name" in failed["message"]
    assert failed["tasks"]["a"]["phase"] == "Running" and failed["startedAt"] and failed["arguments"] == {}


def test_a_parallelism_limited_run_posts_a_handful_of_events_not_one_a_pass(
    events: list[tuple[str, str, str]],
) -> None:
    """20 steps, 4 at a time, a pass each time a pod ends: the starts come as one Event at once and the rest
    summed when the run ends (within the 10 s interval), not one Event a pass."""
    kube = FakeKube()
    spec = pipeline([task(f"t{i}", arguments={"a": f"x{i}"}) for i in range(20)], parallelism=4)["spec"]
    reconciler = start_run(kube, spec)
    for _ in range(40):
        if reconcile(kube, reconciler) is None:
            break
        pending = [name for (_, name), pod in kube.pods.items() if pod["status"]["phase"] == "Pending"]
        succeed(kube, pending[0], {"out": "done"})
    assert status(kube)["phase"] == "Succeeded"
    started = [message for _, reason, message in events if reason == "StepsStarted"]
    assert started == ["started 4 steps: t0, t1, t2 and 1 more", "started 16 steps: t4, t5, t6 and 13 more"]
    assert [reason for _, reason, _ in events] == ["Started", "StepsStarted", "StepsStarted", "Succeeded"]


# -- retry from the failed step ---------------------------------------------------------------------


def failed_chain(kube: FakeKube) -> None:
    """Run RUN of CHAIN: a succeeds, b's pod exits with 1, the run fails."""
    reconciler = start_run(kube, CHAIN)
    reconcile(kube, reconciler)
    succeed(kube, pod_name(RUN, "a", 1), {"out": "from a"})
    reconcile(kube, reconciler)
    terminated = {"exitCode": 1, "message": ""}
    kube.set_pod_status(
        NS,
        pod_name(RUN, "b", 1),
        {"phase": "Failed", "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}]},
    )
    reconcile(kube, reconciler)
    assert status(kube)["phase"] == "Failed"


def start_retry(kube: FakeKube, retry_of: dict[str, Any], name: str = "r-retry") -> RunReconciler:
    kube.add_run(NS, name, f"uid-{name}", {"retryOf": retry_of})
    return RunReconciler(kube, OperatorConfig(), NS, name, kube.watch(NS, name))


def test_a_retry_reuses_the_succeeded_steps_and_runs_the_failed_one(events: list[tuple[str, str, str]]) -> None:
    kube = FakeKube()
    failed_chain(kube)
    kube.created_pods.clear()
    retry = start_retry(kube, {"name": RUN})
    run_to_the_end(kube, retry)
    retried = status(kube, "r-retry")
    assert kube.created_pods == [pod_name("r-retry", "b", 1)]
    assert retried["phase"] == "Succeeded"
    assert retried["tasks"]["a"]["reusedFrom"] == RUN
    assert retried["tasks"]["a"]["outputs"] == {"out": "from a"}
    assert "reusedFrom" not in retried["tasks"]["b"]
    assert retried["pipelineSpec"] == CHAIN and retried["arguments"] == status(kube)["arguments"]
    assert retried["progress"]["succeeded"] == 2
    assert retried["message"].endswith("1 step reused from r")
    assert any(reason == "Started" and "reusing 1 from Run r" in message for _, reason, message in events)


def test_a_retry_from_a_step_reruns_it_and_what_follows_and_a_restart_reuses_the_same() -> None:
    kube = FakeKube()
    failed_chain(kube)
    kube.created_pods.clear()
    retry = start_retry(kube, {"name": RUN, "fromSteps": ["a"]})
    reconcile(kube, retry)
    assert kube.created_pods == [pod_name("r-retry", "a", 1)]
    assert "reusedFrom" not in str(status(kube, "r-retry").get("tasks"))  # a was cached: asked for, it runs
    restarted = RunReconciler(kube, OperatorConfig(), NS, "r-retry", kube.watch(NS, "r-retry"))
    run_to_the_end(kube, restarted)
    assert kube.created_pods == [pod_name("r-retry", "a", 1), pod_name("r-retry", "b", 1)]
    assert status(kube, "r-retry")["phase"] == "Succeeded"


def test_a_restarted_operator_keeps_the_reused_steps_it_recorded_at_the_start() -> None:
    kube = FakeKube()
    failed_chain(kube)
    kube.created_pods.clear()
    reconcile(kube, start_retry(kube, {"name": RUN}))
    del kube.runs[NS, RUN]  # the original is gone: the retry recorded what it reuses when it started
    run_to_the_end(kube, RunReconciler(kube, OperatorConfig(), NS, "r-retry", kube.watch(NS, "r-retry")))
    assert kube.created_pods == [pod_name("r-retry", "b", 1)]
    assert status(kube, "r-retry")["tasks"]["a"]["reusedFrom"] == RUN


@pytest.mark.parametrize(
    "spec, original_phase, expected",
    [
        pytest.param({"retryOf": {"name": "gone"}}, None, "Run 'gone' not found in namespace team", id="missing"),
        pytest.param({"retryOf": {"name": RUN}}, "Running", "Run 'r' has not finished (phase Running)", id="running"),
        pytest.param(
            {"retryOf": {"name": RUN, "fromSteps": ["nope"]}},
            None,
            "'nope': the pipeline has no such task or step; its tasks: a, b",
            id="unknown step",
        ),
        pytest.param({"retryOf": {"name": RUN}}, "Exploded", "Run 'r' has a status kubeline did not write", id="junk"),
        pytest.param(
            {"retryOf": {"name": RUN}, "arguments": {"x": 1}}, None, "spec.arguments: a retry runs with", id="arguments"
        ),
    ],
)
def test_a_retry_that_cannot_be_made_fails_saying_why_without_pods(
    spec: dict[str, Any], original_phase: str | None, expected: str
) -> None:
    kube = FakeKube()
    failed_chain(kube)
    if original_phase:
        status(kube)["phase"] = original_phase
    kube.created_pods.clear()
    kube.add_run(NS, "r-retry", "uid-r-retry", spec)
    assert reconcile(kube, RunReconciler(kube, OperatorConfig(), NS, "r-retry", kube.watch(NS, "r-retry"))) is None
    retried = status(kube, "r-retry")
    assert retried["phase"] == "Failed"
    assert expected in retried["message"]
    assert kube.created_pods == []


def test_a_retry_without_an_artifact_store_runs_again_the_steps_whose_files_were_on_the_original_volume_and_after(
    events: list[tuple[str, str, str]],
) -> None:
    kube = FakeKube()
    spec = pipeline(
        [task("gen", "writer"), task("a", after=["gen"]), task("b", arguments={"a": "{{tasks.a.outputs.out}}"})]
    )["spec"]
    writer = {
        "name": "writer",
        "outputs": [{"name": "model", "type": "artifact"}],
        "container": {"image": "x", "command": ["w", "{{outputs.model.path}}"]},
    }
    spec["components"] = [*spec["components"], writer]
    spec["defaults"] = {"caching": {"enabled": False}}
    original = start_run(kube, spec)
    for step, outputs in (("gen", {}), ("a", {"out": "x"})):
        reconcile(kube, original)
        succeed(kube, pod_name(RUN, step, 1), outputs)
    reconcile(kube, original)
    terminated = {"exitCode": 1, "message": ""}
    failed = {"phase": "Failed", "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}]}
    kube.set_pod_status(NS, pod_name(RUN, "b", 1), failed)
    reconcile(kube, original)
    assert status(kube)["phase"] == "Failed"
    kube.created_pods.clear()
    retry = start_retry(kube, {"name": RUN})
    for step, outputs in (("gen", {}), ("a", {"out": "x"}), ("b", {"out": "y"})):
        reconcile(kube, retry)
        succeed(kube, pod_name("r-retry", step, 1), outputs)
    assert reconcile(kube, retry) is None
    assert kube.created_pods == [pod_name("r-retry", step, 1) for step in ("gen", "a", "b")]
    assert status(kube, "r-retry")["phase"] == "Succeeded"
    started = next(message for _, reason, message in events if reason == "Started" and "reusing" in message)
    assert "reusing 0 from Run r; running again steps that succeeded there: a, gen" in started
    assert "Run r kept the files of gen on its own volume: they run again with what follows them" in started


def test_a_retry_runs_again_the_steps_that_mount_a_volume_it_has_new_and_says_so(
    events: list[tuple[str, str, str]],
) -> None:
    kube = FakeKube()
    spec = {**VOLUMES_SPEC, "tasks": [*VOLUMES_SPEC["tasks"], task("c", after=["a", "b"])]}
    original = start_run(kube, spec)
    reconcile(kube, original)
    for step in ("a", "b"):
        succeed(kube, pod_name(RUN, step, 1), {"out": step})
    reconcile(kube, original)
    terminated = {"exitCode": 1, "message": ""}
    failed = {"phase": "Failed", "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}]}
    kube.set_pod_status(NS, pod_name(RUN, "c", 1), failed)
    reconcile(kube, original)
    assert status(kube)["phase"] == "Failed"
    kube.created_pods.clear()
    retry = start_retry(kube, {"name": RUN})
    reconcile(kube, retry)
    assert kube.created_pods == [pod_name("r-retry", "a", 1)]  # b's claim is the original's: b is reused
    assert status(kube, "r-retry")["tasks"]["b"]["reusedFrom"] == RUN
    started = next(message for _, reason, message in events if reason == "Started" and "reusing" in message)
    assert "(a mount a pipeline volume this Run has new and empty: they run again with what follows them" in started


def test_a_retry_from_a_step_runs_what_follows_it_even_where_the_cache_holds_it() -> None:
    kube = FakeKube()
    run_to_the_end(kube, start_run(kube, CHAIN))
    assert kube.cache_entries  # b's result is in the cache, and a makes the same output again
    kube.created_pods.clear()
    run_to_the_end(kube, start_retry(kube, {"name": RUN, "fromSteps": ["a"]}))
    assert kube.created_pods == [pod_name("r-retry", "a", 1), pod_name("r-retry", "b", 1)]
    assert not any(task.get("cached") for task in status(kube, "r-retry")["tasks"].values())


@pytest.mark.parametrize("waits_for", ["nothing", "its pipeline"])
def test_a_run_cancelled_before_it_started_ends_cancelled_at_once_with_nothing_run(
    waits_for: str, events: list[tuple[str, str, str]]
) -> None:
    """Created cancelled, or cancelled while its Pipeline is missing: no claim, no pod, no exit handler."""
    kube = FakeKube()
    spec = {**VOLUMES_SPEC, "onExit": task("notify", arguments={"a": "done"})}
    if waits_for == "nothing":
        kube.add_run(NS, RUN, UID, {"pipelineSpec": spec, "cancel": True})
    else:
        kube.add_run(NS, RUN, UID, {"pipelineRef": {"name": "later"}})
    reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    if waits_for == "its pipeline":
        reconcile(kube, reconciler)
        assert status(kube)["phase"] == "Pending"
        kube.pipelines[NS, "later"] = {"spec": spec}
        kube.runs[NS, RUN]["spec"]["cancel"] = True
    assert reconcile(kube, reconciler) is None
    assert (status(kube)["phase"], status(kube)["message"]) == ("Cancelled", "cancelled before it started")
    assert "startedAt" not in status(kube) and status(kube)["finishedAt"]
    assert kube.created_pods == [] and kube.volume_claims == {}
    assert events[-1] == ("Warning", "Cancelled", "cancelled before it started")


# -- large runs: finished steps move to RunRecords -------------------------------------------------------

#: A fan-out of 40 steps and a step reading all their outputs: with the bounds made small, the run needs records.
FAN_IN = pipeline(
    [
        task("each", forEach=list(range(40)), arguments={"a": "{{item}}"}),
        task("join", arguments={"a": "{{tasks.each.outputs.out}}"}),
    ]
)["spec"]


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A status lists at most 2 KiB of steps and a record holds at most 1.5 KiB (the real bounds are 256 and 512 KiB)."""
    monkeypatch.setattr(records_module, "LISTED_BYTES", 2048)
    monkeypatch.setattr(records_module, "RECORD_BYTES", 1536)


def every_task(kube: FakeKube, name: str = RUN) -> dict[str, Any]:
    """What `kubeline get` shows: the records' steps, then the status's own."""
    found = [kube.run_records[NS, record]["spec"]["tasks"] for record in status(kube, name).get("records") or []]
    return merged_tasks(status(kube, name).get("tasks"), found)


def test_a_large_run_keeps_its_status_small_and_every_steps_outcome_in_its_records(small_bounds: None) -> None:
    kube = FakeKube()
    reconciler = start_run(kube, FAN_IN)
    reconcile(kube, reconciler)  # 40 pods
    for index in range(40):
        succeed(kube, pod_name(RUN, f"each[{index}]", 1), {"out": f"item {index}"})
        if index % 10 == 9:
            reconcile(kube, reconciler)
            assert len(json.dumps(status(kube).get("tasks"))) <= 2048 + 256  # the bound is on entries, about
    run_to_the_end(kube, reconciler)
    final = status(kube)
    assert final["phase"] == "Succeeded" and final["progressText"] == "41/41"
    assert len(final["records"]) >= 2
    tasks = every_task(kube)
    assert len(tasks) == 41 and {task["phase"] for task in tasks.values()} == {"Succeeded"}
    assert tasks["each[7]"]["outputs"] == {"out": "item 7"}
    for record in final["records"]:  # owned by the Run: deleted with it
        owner = kube.run_records[NS, record]["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("Run", RUN, UID)
    assert kube.created_pods.count(pod_name(RUN, "join", 1)) == 1


def fan_in_with_each_done(kube: FakeKube) -> RunReconciler:
    """FAN_IN with its 40 steps succeeded (each writes "item N") and recorded; the join is running."""
    reconciler = start_run(kube, FAN_IN)
    reconcile(kube, reconciler)
    for index in range(40):
        succeed(kube, pod_name(RUN, f"each[{index}]", 1), {"out": f"item {index}"})
    reconcile(kube, reconciler)
    return reconciler


def test_a_restarted_operator_reads_a_large_runs_records_and_runs_no_step_again(small_bounds: None) -> None:
    kube = FakeKube()
    fan_in_with_each_done(kube)
    assert status(kube)["records"]
    for key in [key for key in kube.pods if "each" in key[1]]:  # the finished pods are gone (the pod GC policy)
        del kube.pods[key]
        kube.watch(NS, RUN).pop(key[1], None)
    restarted = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))
    run_to_the_end(kube, restarted)
    assert status(kube)["phase"] == "Succeeded"
    assert len(kube.created_pods) == 41  # 40 steps and the join, each once
    assert every_task(kube)["join"]["phase"] == "Succeeded"


def test_a_retry_of_a_large_run_reuses_the_steps_its_records_hold(small_bounds: None) -> None:
    kube = FakeKube()
    reconciler = fan_in_with_each_done(kube)
    terminated = {"exitCode": 1, "message": ""}
    failed = {"phase": "Failed", "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}]}
    kube.set_pod_status(NS, pod_name(RUN, "join", 1), failed)
    reconcile(kube, reconciler)
    assert status(kube)["phase"] == "Failed" and status(kube)["records"]
    kube.created_pods.clear()
    run_to_the_end(kube, start_retry(kube, {"name": RUN}))
    assert kube.created_pods == [pod_name("r-retry", "join", 1)]
    retried = every_task(kube, "r-retry")
    assert retried["each[3]"]["reusedFrom"] == RUN and retried["join"]["phase"] == "Succeeded"


def test_a_wide_fan_out_starts_a_bounded_number_of_steps_a_pass_and_says_how_far_it_got(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconciler_module, "STARTS_PER_PASS", 15)
    kube = FakeKube()
    reconciler = start_run(kube, FAN_IN)
    assert reconcile(kube, reconciler) == 0.0  # the next pass is due at once
    assert len(kube.created_pods) == 15
    assert status(kube)["progress"]["running"] == 15 and status(kube)["progressText"] == "0/41"
    reconcile(kube, reconciler)
    assert len(kube.created_pods) == 30
    run_to_the_end(kube, reconciler)
    assert status(kube)["phase"] == "Succeeded" and len(set(kube.created_pods)) == 41


class FullPodRoom:
    """The namespace's step pod limit reached: every Run may start, no step pod may be made."""

    async def ask(self, namespace: str, run: Any) -> None:
        return None

    async def take_pod(self, namespace: str, run: str, pod: str) -> bool:
        return False

    def pods_not_wanted(self, namespace: str, run: str) -> None: ...


def test_a_fan_out_held_back_by_the_pod_limit_waits_for_room_instead_of_passing_again_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconciler_module, "STARTS_PER_PASS", 15)
    kube = FakeKube()
    kube.add_run(NS, RUN, UID, {"pipelineSpec": FAN_IN})
    reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN), FullPodRoom())  # type: ignore[arg-type]
    due = reconcile(kube, reconciler)
    assert kube.created_pods == [] and due is not None and due > 0  # admission wakes it when room frees


def test_the_pod_cache_forgets_the_pods_of_ended_steps() -> None:
    """Without a store (or with KeepAll) a run's pods stay in the cluster: the cache must not hold them all."""
    kube = FakeKube()
    reconciler = start_run(kube, FAN_IN)
    reconcile(kube, reconciler)
    for index in range(30):
        succeed(kube, pod_name(RUN, f"each[{index}]", 1), {"out": "x"})
    reconcile(kube, reconciler)
    assert sorted(reconciler.pods) == sorted(pod_name(RUN, f"each[{index}]", 1) for index in range(30, 40))
    run_to_the_end(kube, reconciler)
    assert status(kube)["phase"] == "Succeeded" and reconciler.pods == {}
