"""A kwok node deleted with step pods bound to it. Kubernetes' pod garbage collector marks such pods Failed
(condition DisruptionTarget, "PodGC: node no longer exists") and deletes them 40 to 60 s later: the step
with a retry left runs again on a node that exists, the other fails saying its node is gone; no run hangs.

(A node that goes NotReady instead keeps its pods for their toleration of node.kubernetes.io/unreachable,
300 s by default, before the taint manager evicts them with a DisruptionTarget condition too: the operator
reads both the same way, see tests/unit/test_pods.py.)"""

from __future__ import annotations

import pytest

from tests.chaos.harness import ROOT, ControlPlane, Operator, PodLedger, Trial, submit, take_away_and_wait

pytestmark = pytest.mark.integration


def test_steps_on_a_deleted_node_are_retried_or_fail_saying_the_node_is_gone(plane: ControlPlane, tmp_path) -> None:
    namespace = plane.namespace("node")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, tmp_path / "operator.log")
    operator.start()
    trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["long-retried", "long-once"], "a"))
    lost: set[str] = set()

    def delete_nodes(pods) -> None:
        lost.update(p.node for p in pods)
        for node in lost:
            plane.core.delete_node(node)

    try:
        retry = take_away_and_wait(plane, namespace, trial, ledger, delete_nodes)
    finally:
        operator.kill()
        ledger.stop()
        plane.kubectl("apply", "-f", str(ROOT / "hack" / "kwok" / "nodes.yaml"))  # the suite's other tests use them
    assert retry.node not in lost
    once = trial.statuses["long-once-a"]
    assert once["phase"] == "Failed"
    assert "(DeletionByPodGC): PodGC: node no longer exists" in once["tasks"]["step"]["message"], once
    assert trial.statuses["long-retried-a"]["phase"] == "Cancelled"
    assert operator.errors() == []
