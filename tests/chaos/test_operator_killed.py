"""The operator SIGKILLed at random moments while a mix of pipelines runs, and started again at once."""

from __future__ import annotations

import time

import pytest

from tests.chaos.harness import MIX, ControlPlane, Operator, PodLedger, Trial, submit

pytestmark = pytest.mark.integration

KILLS = 6  # the benchmark does hundreds (benchmarks/chaos.py)


def test_random_sigkills_create_no_pod_twice_and_every_run_ends_as_it_must(plane: ControlPlane, tmp_path) -> None:
    namespace = plane.namespace("kill")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, tmp_path / "operator.log")
    operator.start()
    trial = Trial(plane, namespace, ledger, submit(plane, namespace, MIX, "a"))
    kills = 0

    def kill_and_restart() -> None:
        nonlocal kills
        if kills < KILLS:
            operator.kill()
            operator.start()
            kills += 1

    try:
        trial.drive(time.time() + 240, kill_and_restart, every=(1.0, 5.0))
    finally:
        operator.kill()
        ledger.stop()
    verdict = trial.verdict()
    assert kills == KILLS
    assert verdict.problems == []
    assert verdict.survived == len(MIX)
