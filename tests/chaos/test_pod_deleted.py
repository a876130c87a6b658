"""A step's pod deleted from outside while it runs: retried when the step has retries left, else failed with
a message saying its pod was deleted; never hung."""

from __future__ import annotations

import pytest

from tests.chaos.harness import ControlPlane, Operator, PodLedger, Trial, submit, take_away_and_wait

pytestmark = pytest.mark.integration


def test_a_deleted_pod_is_retried_or_fails_the_step_saying_so(plane: ControlPlane, tmp_path) -> None:
    namespace = plane.namespace("deleted")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, tmp_path / "operator.log")
    operator.start()
    trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["long-retried", "long-once"], "a"))
    try:
        take_away_and_wait(
            plane,
            namespace,
            trial,
            ledger,
            lambda pods: [plane.core.delete_namespaced_pod(p.name, namespace) for p in pods],
        )
    finally:
        operator.kill()
        ledger.stop()
    once = trial.statuses["long-once-a"]
    assert once["phase"] == "Failed"
    assert once["tasks"]["step"]["message"] == "the step's pod was deleted"
    assert trial.statuses["long-retried-a"]["phase"] == "Cancelled"
    assert sorted(key for key, seen in ledger.snapshot().items() if len(seen) == 1) == [
        ("long-once-a", "step", 1),
        ("long-retried-a", "step", 1),
        ("long-retried-a", "step", 2),
    ]
    assert operator.errors() == []
