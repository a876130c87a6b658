"""A step's pod deleted from outside while it runs: retried when the step has retries left, else failed with
a message saying its pod was deleted; never hung."""

from __future__ import annotations

import time

import pytest

from tests.chaos.harness import ControlPlane, Operator, PodLedger, Trial, running_pods, submit

pytestmark = pytest.mark.integration


def test_a_deleted_pod_is_retried_or_fails_the_step_saying_so(plane: ControlPlane, tmp_path) -> None:
    namespace = plane.namespace("deleted")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, tmp_path / "operator.log")
    operator.start()
    trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["victims"], "a"))
    try:
        pods = running_pods(ledger, "victims-a", ["retried", "once"])
        for seen in pods.values():
            plane.core.delete_namespaced_pod(seen.name, namespace)
        trial.drive(time.time() + 60)
    finally:
        operator.kill()
        ledger.stop()
    status = trial.statuses["victims-a"]
    assert status["phase"] == "Failed", status
    retried, once = status["tasks"]["retried"], status["tasks"]["once"]
    assert (retried["phase"], retried["attempts"], retried["outputs"]) == ("Succeeded", 2, {"out": "done"})
    assert once["phase"] == "Failed"
    assert "deleted" in once["message"], once
    assert sorted(key[1:] for key in ledger.snapshot()) == [("once", 1), ("retried", 1), ("retried", 2)]
    assert operator.errors() == []
