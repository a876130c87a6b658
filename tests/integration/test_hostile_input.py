"""Hostile and sloppy input on the real control plane, with one operator for the module.

The corpus of malformed Pipelines and Runs (tests/chaos/malformed) goes in with one kubectl call: each file is
refused by the API server naming the field, or taken and its Run failed (or left Pending) by the operator with a
message naming it. The operator neither crashes nor loops over them, and runs a normal pipeline afterwards.
Then another client writes a running Run (labels, annotations, spec.arguments, its status): the status ends as
the pods say.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from kubeline.api.constants import API_VERSION
from kubeline.api.yamlio import dump_all
from tests.helpers import ARITHMETIC, MALFORMED, by_step, fake, malformed_corpus, pods_of, submit, wait_run

pytestmark = pytest.mark.integration

CORPUS = malformed_corpus()
SETTLE_SECONDS = 120  # the operator takes every accepted Run of the corpus to its end within this


@pytest.fixture(scope="module")
def ns(operator_namespace):
    return operator_namespace


@pytest.fixture(scope="module")
def applied(ns) -> str:
    """The whole corpus, created in one kubectl call; kubectl's error output (one line per refused file)."""
    cluster, namespace, _ = ns
    return cluster.kubectl("create", "-n", namespace, "-f", str(MALFORMED), check=False, timeout=300).stderr


def runs(ns) -> dict[str, dict[str, Any]]:
    cluster, namespace, _ = ns
    return {run["metadata"]["name"]: run for run in cluster.kubectl_json("get", "runs", "-n", namespace)["items"]}


def settled(ns) -> dict[str, dict[str, Any]]:
    """The corpus's accepted Runs once each has the phase its file promises."""
    wanted = {case.run: case.outcome.capitalize() for case in CORPUS if case.outcome != "rejected"}
    deadline = time.time() + SETTLE_SECONDS
    while True:
        found = runs(ns)
        late = {name: (found.get(name, {}).get("status") or {}).get("phase") for name in wanted}
        late = {name: phase for name, phase in late.items() if phase != wanted[name]}
        if not late:
            return found
        assert time.time() < deadline, f"Runs not yet in their phase: {late}"
        time.sleep(0.5)


def test_every_refused_file_is_refused_by_the_api_server_naming_the_field(ns, applied: str) -> None:
    cluster, namespace, _ = ns
    listed = cluster.kubectl_json("get", "runs,pipelines", "-n", namespace)["items"]
    stored = {(item["kind"], item["metadata"]["name"]) for item in listed}
    wrong = {}
    for case in (c for c in CORPUS if c.outcome == "rejected"):
        said = [line for line in applied.splitlines() if f'/{case.path.name}"' in line]
        if not any(case.message in line for line in said) or case.names & stored:
            wrong[case.path.name] = said or "accepted"
    assert not wrong, json.dumps(wrong, indent=1, ensure_ascii=False)


def test_every_accepted_file_gets_a_run_failed_or_pending_with_a_message_naming_the_field(ns, applied: str) -> None:
    found = settled(ns)
    wrong = {
        case.path.name: found[case.run]["status"].get("message")
        for case in CORPUS
        if case.outcome != "rejected" and case.message not in (found[case.run]["status"].get("message") or "")
    }
    assert not wrong, json.dumps(wrong, indent=1, ensure_ascii=False)
    assert not [name for name, run in found.items() if pods_of(ns, name)], "a malformed Run created a pod"


def test_the_operator_neither_crashed_nor_loops_over_them(ns, applied: str) -> None:
    cluster, namespace, operator = ns
    before = settled(ns)
    log_before = operator.log.stat().st_size
    time.sleep(3)  # not waiting for an outcome: watching that nothing happens while nothing should
    after = runs(ns)
    assert operator.process is not None and operator.process.poll() is None, "the operator exited"
    moved = [
        name
        for name, run in after.items()
        if run["metadata"]["resourceVersion"] != before[name]["metadata"]["resourceVersion"]
    ]
    assert moved == [], "these Runs' statuses are still being written"
    assert operator.log.stat().st_size - log_before < 4096, "the operator's log still grows"
    log = operator.log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    reasons = [e["reason"] for e in cluster.kubectl_json("get", "events", "-n", namespace)["items"]]
    failed = [case for case in CORPUS if case.outcome == "failed"]
    assert reasons.count("InvalidPipeline") == len(failed), "a Run was failed more than once"


def test_a_normal_run_afterwards_succeeds(ns, applied: str) -> None:
    settled(ns)
    run = submit(ns, ARITHMETIC, {"value_1": 7, "value_2": 3})
    status = wait_run(ns, run)
    assert status["phase"] == "Succeeded", status.get("message")
    assert status["outputs"] == {"product": "40"}
    assert "StatusOverwritten" not in reasons_of(ns, run)  # kopf's own writes to the Run are not taken for another's


def reasons_of(ns, run: str) -> list[str]:
    cluster, namespace, _ = ns
    events = cluster.kubectl_json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={run}")
    return [event["reason"] for event in events["items"]]


def test_a_run_too_large_to_keep_a_copy_of_its_pipeline_fails_saying_so(ns) -> None:
    """14 components with descriptions of 60,000 characters (each allowed): the Run is taken (825 KiB), but with
    the copy of its pipeline a Run keeps in its status it would outgrow etcd's 1.5 MiB."""
    cluster, namespace, operator = ns
    run = f"huge-{uuid.uuid4().hex[:6]}"
    components = [{**fake(f"c{i}"), "description": "d" * 60_000} for i in range(14)]
    spec = {"components": components, "tasks": [{"name": "a", "component": "c0"}]}
    document = {"apiVersion": API_VERSION, "kind": "Run", "metadata": {"name": run}, "spec": {"pipelineSpec": spec}}
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=dump_all([document]))
    status = wait_run(ns, run)
    assert status["phase"] == "Failed"
    assert "status.pipelineSpec would be" in status["message"] and "use pipelineRef" in status["message"]
    assert pods_of(ns, run) == []
    assert "Traceback" not in operator.log.read_text(errors="replace")


# -- someone else writes the Run ---------------------------------------------------------------------------------

SLOW_CHAIN = {
    "params": [{"name": "v", "type": "string"}],
    "components": [fake("slow", ["v"], duration="8s"), fake("quick", ["v"])],
    "tasks": [
        {"name": "first", "component": "slow", "arguments": {"v": "{{params.v}}"}},
        {"name": "second", "component": "quick", "after": ["first"], "arguments": {"v": "{{params.v}}"}},
    ],
    "defaults": {"caching": {"enabled": False}},
}

FORGED = {
    "status": {
        "phase": "Succeeded",
        "message": "forged",
        "tasks": {"first": {"phase": "Failed", "message": "forged"}, "ghost": {"phase": "Succeeded"}},
        "outputs": {"x": "forged"},
    }
}


def status_of(ns, run: str) -> dict[str, Any]:
    cluster, namespace, _ = ns
    return cluster.kubectl_json("get", "run", run, "-n", namespace).get("status") or {}


def wait_step_running(ns, run: str, step: str) -> None:
    deadline = time.time() + 30
    while (status_of(ns, run).get("tasks") or {}).get(step, {}).get("phase") != "Running":
        assert time.time() < deadline, status_of(ns, run)
        time.sleep(0.2)


def test_another_clients_writes_to_a_running_run_change_nothing_of_its_outcome(ns) -> None:
    cluster, namespace, operator = ns
    run = submit(ns, SLOW_CHAIN, {"v": "original"})
    wait_step_running(ns, run, "first")
    cluster.kubectl("label", "run", run, "-n", namespace, "team=ml")
    cluster.kubectl("annotate", "run", run, "-n", namespace, "note=looked at by hand")
    patch = json.dumps({"spec": {"arguments": {"v": "changed"}}})
    cluster.kubectl("patch", "run", run, "-n", namespace, "--type=merge", "-p", patch)
    cluster.kubectl(
        "patch", "run", run, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(FORGED)
    )

    deadline = time.time() + 5  # well before the 8 s step ends: restored at once, not at the next resync
    while "forged" in json.dumps(status := status_of(ns, run)):
        assert time.time() < deadline, f"the forged status stayed: {status.get('phase')}, {status.get('message')}"
        time.sleep(0.2)
    assert status["phase"] == "Running" and status["tasks"]["first"]["phase"] == "Running"
    assert "ghost" not in status["tasks"]

    final = wait_run(ns, run, timeout=60)
    assert final["phase"] == "Succeeded", final.get("message")
    assert {step: task["phase"] for step, task in final["tasks"].items()} == {
        "first": "Succeeded",
        "second": "Succeeded",
    }
    assert final["arguments"] == {"v": "original"}  # the run keeps the arguments it started with
    pods = by_step(pods_of(ns, run))
    assert sorted(pods) == ["first", "second"]
    assert pods["second"]["spec"]["containers"][0]["args"][-1] == "original"
    metadata = cluster.kubectl_json("get", "run", run, "-n", namespace)["metadata"]
    assert metadata["labels"]["team"] == "ml" and metadata["annotations"]["note"] == "looked at by hand"
    assert "StatusOverwritten" in reasons_of(ns, run)
    assert "Traceback" not in operator.log.read_text(errors="replace")


def test_a_runs_inline_pipeline_edited_mid_run_and_kopfs_marks_removed_change_nothing(ns) -> None:
    """The run keeps the pipeline it started with; kopf's finalizer and annotations, removed by hand, come back
    or are not needed: the run ends as its pods say, with one pod per step."""
    cluster, namespace, operator = ns
    run = f"inline-{uuid.uuid4().hex[:6]}"
    document = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": run},
        "spec": {"pipelineSpec": SLOW_CHAIN, "arguments": {"v": "x"}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([document]))
    wait_step_running(ns, run, "first")
    edited = {**SLOW_CHAIN, "tasks": [*SLOW_CHAIN["tasks"], {"name": "third", "component": "quick"}]}
    cluster.kubectl(
        "patch", "run", run, "-n", namespace, "--type=merge", "-p", json.dumps({"spec": {"pipelineSpec": edited}})
    )
    unmarked = {"metadata": {"finalizers": None, "annotations": {"kubeline.dev/last-handled-configuration": None}}}
    cluster.kubectl("patch", "run", run, "-n", namespace, "--type=merge", "-p", json.dumps(unmarked))

    final = wait_run(ns, run, timeout=60)
    assert final["phase"] == "Succeeded", final.get("message")
    assert sorted(final["tasks"]) == ["first", "second"]
    assert sorted(by_step(pods_of(ns, run))) == ["first", "second"]
    assert "Traceback" not in operator.log.read_text(errors="replace")
