"""kube-apiserver and etcd killed and started again mid-run: the operator reconnects by itself and finishes
every Run, without a second pod for any step. Down longer than the Lease's renew deadline, the leader exits on
purpose and is started again, as its container would be (harness.Operator)."""

from __future__ import annotations

import time

import pytest

from tests.chaos.harness import ControlPlane, Operator, PodLedger, Trial, submit, time_to_resume, wait_for_pod

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_the_operator_resumes_after_a_restart(plane: ControlPlane, component: str, tmp_path) -> None:
    namespace = plane.namespace(component.split("-")[-1])
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, tmp_path / "operator.log")
    operator.start()
    trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["twenty"], "a"))
    try:
        wait_for_pod(ledger, "twenty-a", "s1-0")
        plane.restart(component, down_seconds=3)
        resumed = time_to_resume(ledger, time.time())
        trial.drive(time.time() + 120)
    finally:
        operator.kill()
        ledger.stop()
    print(
        f"{component} restarted: the operator created a pod again {resumed:.1f}s after it answered "
        f"(the operator exited by itself {operator.exits} times: a leader that cannot renew its Lease exits)"
    )
    verdict = trial.verdict()
    assert verdict.problems == []
    assert resumed < 30
