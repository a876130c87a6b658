"""The operator's connections to the API server go silent mid-run (open, carrying nothing: a dead load
balancer, a lost network path). Its watches and its calls must notice and connect again by themselves, and
every Run must finish; no error is raised anywhere to tell it."""

from __future__ import annotations

import time

import pytest

from tests.chaos.harness import (
    ControlPlane,
    Operator,
    PodLedger,
    SilentProxy,
    Trial,
    submit,
    time_to_resume,
    wait_for_pod,
)

pytestmark = pytest.mark.integration


def test_the_operator_gets_over_connections_that_go_silent(plane: ControlPlane, tmp_path) -> None:
    namespace = plane.namespace("silent")
    ledger = PodLedger(plane, namespace)
    proxy = SilentProxy((plane.state / "server").read_text())
    operator = Operator(plane, namespace, tmp_path / "operator.log", proxy.kubeconfig(plane, tmp_path / "kubeconfig"))
    operator.start()
    trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["twenty"], "a"))
    try:
        wait_for_pod(ledger, "twenty-a", "s1-0")
        silenced_at = time.time()
        assert proxy.silence() > 0
        resumed = time_to_resume(ledger, silenced_at + 1, timeout=150)
        trial.drive(time.time() + 120)
    finally:
        operator.kill()
        ledger.stop()
        proxy.close()
    print(f"connections silenced: the operator created a pod again {resumed:.0f}s later")
    assert trial.verdict().problems == []
