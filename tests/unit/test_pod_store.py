"""Step pods with an artifact store: the pod kubeline renders, and the hand-over between the user's container
(the sh wrapper, run for real with /bin/sh) and kubeline's container (stepdata, run for real in a thread),
over a local-directory store. What the pod's two containers do on a node, without the node."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

from kubeline.backends import stepdata
from kubeline.controller.config import ArtifactStore, OperatorConfig, StoreCredentials, StoreLocation
from kubeline.controller.pods import INPUTS_FAILED, STORE_WRAPPER, PodStore, RunRef, read_pod, render_pod
from kubeline.engine.run import decide
from kubeline.engine.state import RunState, StepState
from kubeline.store.layout import CacheRecord, ObjectRef, cache_record_key
from kubeline.store.local import LocalStore
from kubeline.store.objects import get_artifact, get_value, put_artifact
from tests.unit.simulate import plan_of

SECRET = StoreCredentials(secret_name="team-a-s3")
LOCATION = StoreLocation(bucket="ml", prefix="team-a", endpoint="http://minio:9000", path_style=True)
RUN = RunRef(
    name="r", namespace="team-a", uid="u", store=PodStore(LOCATION.model_copy(update={"credentials_secret": SECRET}))
)

COMPONENTS = [
    {
        "name": "prep",
        "outputs": [{"name": "data", "type": "artifact"}],
        "container": {"image": "python:3.11-slim", "command": ["prep", "{{outputs.data.path}}"]},
    },
    {
        "name": "train",
        "inputs": [{"name": "data", "type": "artifact"}, {"name": "rate", "type": "number"}],
        "outputs": [{"name": "model", "type": "artifact"}, {"name": "score", "type": "number"}],
        "container": {
            "image": "python:3.11-slim",
            "command": ["train", "{{inputs.data.path}}", "{{inputs.rate}}", "{{outputs.model.path}}"],
        },
    },
]


TASKS = [
    {"name": "p", "component": "prep"},
    {"name": "t", "component": "train", "arguments": {"data": "{{tasks.p.outputs.data}}", "rate": "0.1"}},
]
DATA = "sha256:" + "a" * 64


def start_of(step: str):
    """The StartStep the engine decides for ``step``: prep at first, train once prep stored its data."""
    state = RunState(started_at=0)
    if step == "t":
        state.steps["p"] = StepState("Succeeded", outputs={"data": DATA}, cache_key="p" * 64)
    starts = decide(plan_of({"spec": {"components": COMPONENTS, "tasks": TASKS}}), {}, state, 0).start
    return next(start for start in starts if start.id == step)


def test_a_store_pod_has_kubelines_container_with_the_only_credentials() -> None:
    pod = render_pod(RUN, start_of("t"), OperatorConfig(), uses_artifacts=True)
    data, main = pod["spec"]["containers"]  # kubeline's first: its start-up overlaps main's
    assert main["name"] == "main" and data["name"] == "kubeline"
    assert pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "main"
    assert main["args"] == ["train", "/kubeline/inputs/data", "0.1", "/kubeline/outputs/model"]
    assert not any("AWS" in e["name"] or "valueFrom" in e for e in main["env"])  # no credentials for the user
    assert {"name": "KUBELINE_AWAIT_INPUTS", "value": "1"} in main["env"]
    secrets = [e for e in data["env"] if "valueFrom" in e]
    assert [e["valueFrom"]["secretKeyRef"]["name"] for e in secrets] == ["team-a-s3", "team-a-s3"]
    env = {e["name"]: e.get("value") for e in data["env"]}
    assert env["KUBELINE_STORE"] == "s3://ml/team-a?endpoint=http%3A%2F%2Fminio%3A9000&pathStyle=true"
    plan = stepdata.StepData.from_json(env["KUBELINE_STEP"])
    assert plan.inputs == {"/kubeline/inputs/data": DATA}
    assert plan.artifact_outputs == ["model"] and plan.value_outputs == ["score"]
    assert plan.log_key == "logs/team-a/r/t/attempt-1.log"
    assert not any(v["name"] == "kubeline-artifacts" for v in pod["spec"]["volumes"])  # no shared volume
    read_only = {m["mountPath"]: m.get("readOnly", False) for m in data["volumeMounts"]}
    assert read_only == {
        "/kubeline/outputs": True,
        "/kubeline/inputs": False,
        "/kubeline/run": True,
        "/kubeline/control": False,
    }
    # main cannot replace the FIFOs kubeline's container reads its progress from
    assert {"name": "kubeline-control", "mountPath": "/kubeline/control", "readOnly": True} in main["volumeMounts"]


def test_a_step_without_stored_inputs_does_not_wait() -> None:
    pod = render_pod(RUN, start_of("p"), OperatorConfig(), uses_artifacts=True)
    main = pod["spec"]["containers"][1]
    assert main["name"] == "main" and not any(e["name"] == "KUBELINE_AWAIT_INPUTS" for e in main["env"])


def test_namespaces_override_the_default_store() -> None:
    store = ArtifactStore(
        bucket="shared",
        endpoint="http://minio:9000",
        namespaces={"team-b": StoreLocation(bucket="team-b", credentials_secret=SECRET)},
    )
    assert store.for_namespace("team-a") == StoreLocation(bucket="shared", endpoint="http://minio:9000")
    team_b = store.for_namespace("team-b")
    assert team_b is not None and team_b.bucket == "team-b" and team_b.endpoint == "http://minio:9000"
    assert team_b.credentials_secret == SECRET
    assert ArtifactStore().for_namespace("any") is None  # no bucket: the run's volume


def hand_over(tmp_path: Path, plan: stepdata.StepData, script: str, store: LocalStore) -> tuple[int, int, str]:
    """Runs both containers' programs as a pod would: returns main's exit code, kubeline's, and its message."""
    run_dir, control_dir, outputs = tmp_path / "run", tmp_path / "control", tmp_path / "outputs"
    for folder in (run_dir, control_dir, outputs):
        folder.mkdir(parents=True)
    result: dict[str, tuple[int, str]] = {}

    def kubelines_container() -> None:
        control = stepdata.Control(control_dir)
        result["data"] = stepdata.run(store, plan, control, run_dir, outputs)
        control.close()  # as the kernel does when kubeline's container ends

    data = threading.Thread(target=kubelines_container)
    data.start()
    env = {
        **os.environ,
        "KUBELINE_RUN_DIR": str(run_dir),
        "KUBELINE_CONTROL_DIR": str(control_dir),
        "OUT": str(outputs),
        "KUBELINE_INPUT_FILES": "",
    }
    if plan.inputs:
        env["KUBELINE_AWAIT_INPUTS"] = "1"
    main = subprocess.run(
        ["/bin/sh", "-c", STORE_WRAPPER, "kubeline-step", "/bin/sh", "-c", script], env=env, timeout=30
    )
    data.join(timeout=30)
    code, message = result["data"]
    return main.returncode, code, message


def test_inputs_arrive_before_the_command_and_outputs_log_and_cache_leave_after(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    data_ref = put_artifact(store, tmp_path / "data.csv")
    inputs = tmp_path / "inputs"
    plan = stepdata.StepData(
        inputs={str(inputs / "data"): str(data_ref)},
        artifact_outputs=["model"],
        value_outputs=["score", "report"],
        log_key="logs/ns/r/t/attempt-1.log",
        cache_key="e" * 64,
        component="train",
    )
    script = (
        f"mkdir $OUT/model && cp {inputs}/data $OUT/model/weights && echo 0.93 > $OUT/score && "
        "head -c 10000 /dev/zero | tr '\\0' x > $OUT/report && echo training done && echo warning >&2"
    )
    main, code, message = hand_over(tmp_path, plan, script, store)
    assert (main, code) == (0, 0), message
    report = stepdata.Report.decode(message)
    assert report.outputs["score"] == "0.93\n"
    assert report.stored == ["report"]  # too large for the termination message: kept in the store
    assert get_value(store, ObjectRef.parse(report.outputs["report"])) == b"x" * 10000
    model = ObjectRef.parse(report.outputs["model"])
    assert model is not None and model.directory
    get_artifact(store, model, tmp_path / "restored")
    assert (tmp_path / "restored" / "weights").read_text() == "a,b\n1,2\n"
    assert store.get_bytes(report.log).decode() == "training done\nwarning\n"
    record = CacheRecord.from_json(store.get_bytes(cache_record_key("e" * 64)))
    assert record.outputs == report.outputs and record.large_values == ["report"]
    assert len(message.encode()) <= stepdata.MESSAGE_LIMIT


def test_a_missing_input_fails_the_step_naming_the_key_and_the_command_never_runs(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    missing = "sha256:" + "0" * 64
    plan = stepdata.StepData(inputs={str(tmp_path / "inputs" / "data"): missing}, log_key="logs/x.log")
    main, code, message = hand_over(tmp_path, plan, f"touch {tmp_path}/ran", store)
    assert main == INPUTS_FAILED and code == 1
    assert "downloading the step's inputs failed" in message and "0" * 64 in message
    assert not (tmp_path / "ran").exists()


def test_a_failed_command_still_leaves_its_log_and_reports_no_outputs(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    plan = stepdata.StepData(value_outputs=["score"], log_key="logs/ns/r/t/attempt-1.log", cache_key="c" * 64)
    main, code, message = hand_over(tmp_path, plan, "echo boom; exit 3", store)
    assert (main, code) == (3, 0)
    report = stepdata.Report.decode(message)
    assert report.outputs == {} and store.get_bytes(report.log) == b"boom\n"
    assert not store.exists(cache_record_key("c" * 64))


def test_a_value_over_the_maximum_fails_the_step_saying_so(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    plan = stepdata.StepData(value_outputs=["big"], log_key="logs/x.log", max_value_bytes=1000)
    main, code, message = hand_over(tmp_path, plan, "head -c 2000 /dev/zero | tr '\\0' y > $OUT/big", store)
    assert (main, code) == (0, 1)
    assert "'big' is 2,000 bytes" in message and "maxValueBytes" in message and "artifact" in message


def finished_pod(main_code: int, data_code: int, data_message: str) -> dict:
    return {
        "spec": {"nodeName": "n1", "containers": [{"name": "main"}, {"name": "kubeline"}]},
        "status": {
            "phase": "Succeeded" if main_code == data_code == 0 else "Failed",
            "containerStatuses": [
                {"name": "main", "state": {"terminated": {"exitCode": main_code}}},
                {"name": "kubeline", "state": {"terminated": {"exitCode": data_code, "message": data_message}}},
            ],
        },
    }


def test_the_controller_reads_outputs_from_kubelines_container() -> None:
    component = start_of("t").component
    ref = "sha256:" + "b" * 64
    message = json.dumps({"outputs": {"model": ref + "/", "score": "0.5\n"}, "log": "logs/l"})
    outcome = read_pod(finished_pod(0, 0, message), component)
    assert outcome.phase == "Succeeded" and outcome.from_store
    assert outcome.outputs == {"model": ref + "/", "score": "0.5"} and outcome.log == "logs/l"


def test_an_upload_failure_is_the_steps_failure_message() -> None:
    failure = "uploading the step's outputs failed: cannot upload s3://ml/team-a/objects/sha256/ab/ab…: AccessDenied"
    outcome = read_pod(finished_pod(0, 1, failure), start_of("t").component)
    assert outcome.phase == "Failed" and outcome.retryable
    assert outcome.message == f"kubeline container: {failure}"


def test_a_pod_is_running_until_kubelines_container_has_finished_too() -> None:
    pod = finished_pod(0, 0, "")
    pod["status"] = {"phase": "Running", "containerStatuses": [pod["status"]["containerStatuses"][0]]}
    assert read_pod(pod, start_of("t").component).phase == "Running"


def test_outputs_and_logs_left_as_links_are_never_followed(tmp_path: Path) -> None:
    """A link to /proc/self/environ would hand kubeline's own environment (its store keys) to the step."""
    store = LocalStore(tmp_path / "store")
    plan = stepdata.StepData(value_outputs=["leak"], log_key="logs/x.log")
    main, code, message = hand_over(tmp_path, plan, "ln -s /proc/self/environ $OUT/leak", store)
    assert (main, code) == (0, 1) and "symbolic link" in message
    plan = stepdata.StepData(artifact_outputs=["model"], log_key="logs/y.log")  # an artifact, likewise
    main, code, message = hand_over(tmp_path / "2", plan, "ln -s /proc/self/environ $OUT/model", store)
    assert (main, code) == (0, 1) and "symbolic link" in message


def test_kubelines_container_waits_for_every_process_of_main_not_only_its_shell(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    plan = stepdata.StepData(value_outputs=["late"], log_key="logs/x.log")
    # a background child still writing after the command returned: its write is in, as the container ends with it
    script = "(sleep 0.5; echo written-late > $OUT/late) & echo started"
    main, code, message = hand_over(tmp_path, plan, script, store)
    assert (main, code) == (0, 0), message
    assert stepdata.Report.decode(message).outputs == {"late": "written-late\n"}


def test_main_is_released_when_kubelines_container_ends_early_whatever_the_reason(tmp_path: Path) -> None:
    """Main opens ``done`` on its first line: it reads end-of-file even if kubeline's container has gone."""
    control_dir, run_dir = tmp_path / "control", tmp_path / "run"
    control_dir.mkdir()
    run_dir.mkdir()
    control = stepdata.Control(control_dir)
    env = {**os.environ, "KUBELINE_RUN_DIR": str(run_dir), "KUBELINE_CONTROL_DIR": str(control_dir)}
    main = subprocess.Popen(
        ["/bin/sh", "-c", STORE_WRAPPER, "kubeline-step", "true"], env={**env, "KUBELINE_INPUT_FILES": ""}
    )
    control.await_main()
    control.close()  # kubeline's container ended (crashed, say) before main got to wait for it
    assert main.wait(timeout=10) == 0


def test_a_fifo_left_as_an_artifact_fails_the_step_instead_of_hanging(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    plan = stepdata.StepData(artifact_outputs=["model"], log_key="logs/x.log")
    main, code, message = hand_over(tmp_path, plan, "mkfifo $OUT/model", store)
    assert (main, code) == (0, 1) and "neither a regular file nor a folder" in message
