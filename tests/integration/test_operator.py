"""The operator against the real control plane: pods in dependency order, placed by the real scheduler.

Steps run on kwok's fake nodes: a step's outcome is set by its component's env (KWOK_EXIT_CODE,
KWOK_TERMINATION_MESSAGE with the outputs encoded as the step wrapper would, KWOK_DURATION).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from kubeline.api.constants import API_VERSION
from kubeline.api.yamlio import dump_all
from tests.helpers import ARITHMETIC, by_step, fake, pods_of, submit, wait_run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ns(operator_namespace):
    return operator_namespace


def test_add_subtract_multiply_runs_one_pod_per_step_in_dependency_order(ns) -> None:
    run = submit(ns, ARITHMETIC, {"value_1": 7, "value_2": 3})
    status = wait_run(ns, run)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["outputs"] == {"product": "40"}
    assert status["tasks"]["multiply"]["outputs"] == {"result": "40"}
    assert status["progressText"] == "3/3"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Succeeded": "True", "Ready": "True"}
    pods = by_step(pods_of(ns, run))
    assert sorted(pods) == ["add", "multiply", "subtract"]
    multiply = pods["multiply"]
    assert multiply["spec"]["containers"][0]["args"][-2:] == ["10", "4"]  # the parents' outputs, resolved
    created = {step: pod["metadata"]["creationTimestamp"] for step, pod in pods.items()}
    assert created["multiply"] >= max(created["add"], created["subtract"])
    assert multiply["metadata"]["ownerReferences"][0]["kind"] == "Run"
    assert multiply["spec"]["restartPolicy"] == "Never"
    header = ns[0].kubectl("get", "runs", "-n", ns[1], run).stdout.splitlines()
    assert header[1].split()[2:4] == ["Succeeded", "3/3"]


def test_a_join_waits_for_all_its_parents(ns) -> None:
    spec = {
        "components": [
            fake("quick", outputs={"out": "q"}),
            fake("slow", outputs={"out": "s"}, duration="3s"),
            fake("join", ["a", "b"]),
        ],
        "tasks": [
            {"name": "quick", "component": "quick"},
            {"name": "slow", "component": "slow"},
            {
                "name": "join",
                "component": "join",
                "arguments": {"a": "{{tasks.quick.outputs.out}}", "b": "{{tasks.slow.outputs.out}}"},
            },
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    assert wait_run(ns, run)["phase"] == "Succeeded"
    pods = by_step(pods_of(ns, run))
    slow_end = pods["slow"]["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
    assert pods["join"]["metadata"]["creationTimestamp"] >= slow_end


def test_a_false_condition_skips_a_branch_and_creates_no_pod_for_it(ns) -> None:
    spec = {
        "components": [fake("flip", outputs={"side": "heads"}), fake("say", ["what"])],
        "tasks": [
            {"name": "flip", "component": "flip"},
            {
                "name": "on-heads",
                "component": "say",
                "when": "{{tasks.flip.outputs.side}} == heads",
                "arguments": {"what": "heads"},
            },
            {
                "name": "on-tails",
                "component": "say",
                "when": "{{tasks.flip.outputs.side}} == tails",
                "arguments": {"what": "tails"},
            },
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    status = wait_run(ns, run)
    assert status["phase"] == "Succeeded"
    assert status["tasks"]["on-tails"]["phase"] == "Skipped"
    assert status["tasks"]["on-tails"]["message"] == "condition is false: heads == tails"
    assert sorted(by_step(pods_of(ns, run))) == ["flip", "on-heads"]


def test_fan_out_over_a_produced_list(ns) -> None:
    spec = {
        "components": [
            fake("make", outputs={"items": json.dumps(["a", "b", "c"])}, output_types={"items": "list"}),
            fake("each", ["x"]),
        ],
        "tasks": [
            {"name": "make", "component": "make"},
            {
                "name": "each",
                "component": "each",
                "forEach": "{{tasks.make.outputs.items}}",
                "arguments": {"x": "{{item}}"},
            },
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    assert wait_run(ns, run)["phase"] == "Succeeded"
    pods = by_step(pods_of(ns, run))
    assert {step: pod["spec"]["containers"][0]["args"][-1] for step, pod in pods.items() if step != "make"} == {
        "each[0]": "a",
        "each[1]": "b",
        "each[2]": "c",
    }


def test_exit_handler_runs_after_a_failure(ns) -> None:
    spec = {
        "components": [fake("boom", exit_code=2), fake("notify", ["status"])],
        "tasks": [
            {"name": "boom", "component": "boom"},
            {"name": "never", "component": "notify", "after": ["boom"], "arguments": {"status": "x"}},
        ],
        "onExit": {"name": "notify", "component": "notify", "arguments": {"status": "{{run.status}}"}},
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    status = wait_run(ns, run)
    assert status["phase"] == "Failed"
    assert status["tasks"]["boom"]["exitCode"] == 2
    assert status["tasks"]["never"]["phase"] == "Skipped"
    assert status["tasks"]["notify"]["phase"] == "Succeeded"
    assert by_step(pods_of(ns, run))["notify"]["spec"]["containers"][0]["args"][-1] == "Failed"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "False"


def test_placement_is_decided_by_the_real_scheduler(ns) -> None:
    arm_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]}
                ]
            }
        }
    }
    spec = {
        "components": [fake("step")],
        "tasks": [
            {"name": "kubeflow", "component": "step", "nodeSelector": {"application": "kubeflow"}},
            {
                "name": "gpu",
                "component": "step",
                "nodeSelector": {"accelerator": "nvidia-tesla-t4"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "resources": {"limits": {"nvidia.com/gpu": "1"}},
            },
            {"name": "arm", "component": "step", "affinity": arm_affinity},
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    assert wait_run(ns, run)["phase"] == "Succeeded"
    pods = by_step(pods_of(ns, run))
    assert {step: pod["spec"]["nodeName"] for step, pod in pods.items()} == {
        "kubeflow": "kwok-kubeflow",
        "gpu": "kwok-gpu",
        "arm": "kwok-arm64",
    }
    assert pods["gpu"]["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "1"}


def test_pipeline_defaults_place_every_step(ns) -> None:
    spec = {
        "components": [fake("step")],
        "tasks": [{"name": "one", "component": "step"}, {"name": "two", "component": "step"}],
        "defaults": {"nodeSelector": {"application": "kubeflow"}, "caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    assert wait_run(ns, run)["phase"] == "Succeeded"
    assert {p["spec"]["nodeName"] for p in pods_of(ns, run)} == {"kwok-kubeflow"}


def test_second_run_is_served_from_the_cache_without_pods(ns) -> None:
    spec = {**ARITHMETIC, "defaults": {"caching": {"enabled": True}}}
    first = submit(ns, spec, {"value_1": 9, "value_2": 1})
    assert wait_run(ns, first)["phase"] == "Succeeded"
    second = submit(ns, spec, {"value_1": 9, "value_2": 1})
    status = wait_run(ns, second)
    assert status["phase"] == "Succeeded"
    assert all(task.get("cached") for task in status["tasks"].values())
    assert status["progress"]["cached"] == 3
    assert pods_of(ns, second) == []
    entries = ns[0].kubectl_json("get", "cacheentries", "-n", ns[1])["items"]
    assert len(entries) >= 3
    # P0D never reuses
    fresh = submit(ns, {**ARITHMETIC, "defaults": {"caching": {"maxStaleness": "P0D"}}}, {"value_1": 9, "value_2": 1})
    assert wait_run(ns, fresh)["phase"] == "Succeeded"
    assert len(pods_of(ns, fresh)) == 3


def test_cancel_deletes_running_pods_and_runs_the_exit_handler(ns) -> None:
    cluster, namespace, _ = ns
    spec = {
        "components": [fake("long", duration="120s"), fake("notify", ["status"])],
        "tasks": [{"name": "long", "component": "long"}, {"name": "later", "component": "long", "after": ["long"]}],
        "onExit": {"component": "notify", "arguments": {"status": "{{run.status}}"}},
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    deadline = time.time() + 30
    while not any(p.get("status", {}).get("phase") == "Running" for p in pods_of(ns, run)):
        assert time.time() < deadline
        time.sleep(0.3)
    cluster.kubectl("patch", "run", run, "-n", namespace, "--type=merge", "-p", '{"spec": {"cancel": true}}')
    status = wait_run(ns, run)
    assert status["phase"] == "Cancelled"
    assert status["tasks"]["later"]["phase"] == "Skipped"
    assert status["tasks"]["exit-handler"]["phase"] == "Succeeded"
    deadline = time.time() + 30
    while "long" in by_step(pods_of(ns, run)):
        assert time.time() < deadline, "the running pod was not deleted"
        time.sleep(0.3)


def test_operator_killed_mid_run_resumes_without_duplicate_pods(ns) -> None:
    _, _, operator = ns
    spec = {
        "components": [fake("step", ["i"], duration="2s")],
        "tasks": [
            {"name": "first", "component": "step", "arguments": {"i": "1"}},
            {
                "name": "fan",
                "component": "step",
                "forEach": list(range(6)),
                "after": ["first"],
                "arguments": {"i": "{{item}}"},
            },
            {"name": "last", "component": "step", "after": ["fan"], "arguments": {"i": "9"}},
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    deadline = time.time() + 30
    while len(pods_of(ns, run)) < 3:
        assert time.time() < deadline
        time.sleep(0.2)
    operator.kill()
    time.sleep(3)  # steps finish while nobody watches
    operator.start()
    status = wait_run(ns, run, timeout=90)
    assert status["phase"] == "Succeeded", status.get("message")
    pods = pods_of(ns, run)
    names = [p["metadata"]["name"] for p in pods]
    assert len(names) == len(set(names)) == 8  # first, six iterations, last: one pod each
    assert all(task.get("attempts") == 1 for task in status["tasks"].values())


def test_a_run_of_a_missing_pipeline_waits_and_starts_when_it_appears(ns) -> None:
    cluster, namespace, _ = ns
    name = f"late-{uuid.uuid4().hex[:6]}"
    run_doc = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": name}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([run_doc]))
    status = wait_run(ns, name, phases=("Pending",))
    assert f"Pipeline '{name}' not found" in status["message"]
    pipeline = {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"components": [fake("step")], "tasks": [{"name": "only", "component": "step"}]},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([pipeline]))
    assert wait_run(ns, name)["phase"] == "Succeeded"


def test_an_invalid_pipeline_fails_the_run_with_the_reason(ns) -> None:
    spec = {
        "components": [fake("step", ["x"])],
        "tasks": [{"name": "a", "component": "step", "arguments": {"x": "{{tasks.ghost.outputs.y}}"}}],
    }
    run = submit(ns, spec)
    status = wait_run(ns, run)
    assert status["phase"] == "Failed"
    assert "unknown task 'ghost'" in status["message"]
    assert pods_of(ns, run) == []


def test_a_pod_name_held_by_someone_else_fails_the_step_and_leaves_that_pod_alone(ns) -> None:
    """Pod names can repeat across runs (run r, task a1-x and run r-a1, task x): kubeline never deletes a pod it does not own."""
    cluster, namespace, _ = ns
    run = f"r-{uuid.uuid4().hex[:6]}"
    squatter = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{run}-only-a1", "labels": {"owner": "someone-else"}},
        "spec": {
            "containers": [
                {"name": "c", "image": "python:3.11-slim", "env": [{"name": "KWOK_DURATION", "value": "60s"}]}
            ]
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([squatter]))
    submit(
        ns,
        {
            "components": [fake("step")],
            "tasks": [{"name": "only", "component": "step"}],
            "defaults": {"caching": {"enabled": False}},
        },
        name=run,
    )  # a cache hit would need no pod
    status = wait_run(ns, run)
    assert status["phase"] == "Failed"
    assert f"{run}-only-a1" in json.dumps(status), status
    still_there = cluster.kubectl_json("get", "pod", f"{run}-only-a1", "-n", namespace)
    assert still_there["metadata"]["labels"] == {"owner": "someone-else"}


def test_metrics_nested_loop_items_and_run_names_in_defaults(ns) -> None:
    """A step's metrics land in status.metrics (what `kubectl get run -o jsonpath` reads), inner loops read the
    outer item by its name, and {{run.name}} in a parameter's default is the Run's name."""
    scores = {"metrics": [{"name": "accuracy-score", "numberValue": 0.9, "format": "PERCENTAGE"}]}
    spec = {
        "params": [{"name": "model", "default": "xgb-{{run.name}}"}],
        "components": [
            fake(
                "score",
                ["model"],
                outputs={"mlpipeline-metrics": json.dumps(scores)},
                output_types={"mlpipeline-metrics": "metrics"},
            ),
            fake("pair", ["text"]),
        ],
        "tasks": [
            {"name": "score", "component": "score", "arguments": {"model": "{{params.model}}"}},
            {
                "name": "rows",
                "forEach": [1, 2],
                "itemName": "row",
                "dag": {
                    "tasks": [
                        {
                            "name": "pair",
                            "component": "pair",
                            "forEach": [3, 4],
                            "arguments": {"text": "{{items.row}}-{{item}}"},
                        }
                    ]
                },
            },
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ns, spec)
    status = wait_run(ns, run)
    assert status["phase"] == "Succeeded", status.get("message")
    shown = ns[0].kubectl("get", "run", run, "-n", ns[1], "-o", "jsonpath={.status.metrics}").stdout
    assert json.loads(shown) == {"score": {"accuracy-score": 0.9}}
    pods = by_step(pods_of(ns, run))
    assert pods["score"]["spec"]["containers"][0]["args"][-1] == f"xgb-{run}"
    pairs = {step: pod["spec"]["containers"][0]["args"][-1] for step, pod in pods.items() if step.startswith("rows")}
    assert pairs == {
        "rows[0].pair[0]": "1-3",
        "rows[0].pair[1]": "1-4",
        "rows[1].pair[0]": "2-3",
        "rows[1].pair[1]": "2-4",
    }
