"""Many Runs at once (benchmarks/chaos.py does 50 of them): all finish as they must, the operator logs no
error, and its memory is reported before and after."""

from __future__ import annotations

import time

import pytest

from tests.chaos.harness import ControlPlane, Operator, PodLedger, Trial, submit

pytestmark = pytest.mark.integration

RUNS = 10


def test_ten_runs_of_twenty_steps_at_once_all_finish_without_an_error_logged(plane: ControlPlane, tmp_path) -> None:
    namespace = plane.namespace("load")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, tmp_path / "operator.log")
    operator.start()
    try:
        operator.wait_ready()
        before = operator.rss_mib()
        trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["twenty"], "l", copies=RUNS))
        started = time.time()
        trial.drive(started + 180)
        took, after = time.time() - started, operator.rss_mib()
    finally:
        operator.kill()
        ledger.stop()
    print(
        f"{RUNS} runs of 20 steps finished in {took:.0f}s; operator RSS {before:.0f} MiB before, {after:.0f} MiB after"
    )
    verdict = trial.verdict()
    assert verdict.problems == []
    assert verdict.survived == RUNS
    assert operator.errors() == []
