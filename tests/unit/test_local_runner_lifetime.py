"""No step process outlives its step, a cancelled run, or kubeline: real `kubeline run` processes, real
signals, and /proc afterwards. Every process of a test carries a marker in its environment."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kubeline.backends.local import LocalRunner
from tests.helpers import ESCAPERS, Kubeline, pipeline_file, shell, start
from tests.unit.simulate import plan_of

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the step guard needs Linux")


def gone_within(kubeline: Kubeline, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := kubeline.marked()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def test_background_processes_die_when_their_step_ends(tmp_path: Path, kubelines: list) -> None:
    spawn = shell(
        "spawn",
        'sleep 300 & a=$!; setsid sleep 300 & b=$!; sh -c \'sleep 300 & echo $! > "$0"\' "$1.c";'
        'echo "$a $b $(cat "$1.c")" > "$1"',
        outputs=["pids"],
    )
    check = shell(
        "check",
        'n=0; for p in $1; do kill -0 "$p" 2>/dev/null && n=$((n+1)); done; echo $n > "$2"',
        inputs=["pids"],
        outputs=["alive"],
    )
    file = pipeline_file(
        tmp_path,
        [
            {"name": "spawn", "component": "spawn"},
            {"name": "check", "component": "check", "arguments": {"pids": "{{tasks.spawn.outputs.pids}}"}},
        ],
        [spawn, check],
    )
    kubeline = start(kubelines, tmp_path, file, "--json")
    code, out, err = kubeline.finish()
    assert code == 0, err
    result = json.loads(out)
    assert len(result["tasks"]["spawn"]["outputs"]["pids"].split()) == 3  # the three escapers ran
    assert result["tasks"]["check"]["outputs"]["alive"] == "0"  # and were gone before the next step
    assert kubeline.cleanup() == []


def test_sigkilled_kubeline_takes_its_steps_with_it(tmp_path: Path, kubelines: list) -> None:
    file = pipeline_file(tmp_path, [{"name": "long", "component": "long"}], [shell("long", ESCAPERS + "sleep 300")])
    kubeline = start(kubelines, tmp_path, file)
    kubeline.await_processes(b"sleep", 4)
    kubeline.process.kill()
    kubeline.process.communicate()
    assert gone_within(kubeline, 5) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_first_signal_cancels_the_run_and_runs_the_exit_handler(tmp_path: Path, kubelines: list, signum: int) -> None:
    notify = shell("notify", 'echo "$1" > "$2"', inputs=["status"], outputs=["seen"])
    file = pipeline_file(
        tmp_path,
        [{"name": "long", "component": "long"}],
        [shell("long", ESCAPERS + "sleep 300"), notify],
        onExit={"component": "notify", "arguments": {"status": "{{run.status}}"}},
    )
    kubeline = start(kubelines, tmp_path, file, "--json")
    kubeline.await_processes(b"sleep", 4)
    started = time.monotonic()
    kubeline.process.send_signal(signum)
    code, out, err = kubeline.finish()
    assert code == 1, err
    assert "cancelling" in err
    assert json.loads(out)["tasks"]["exit-handler"]["outputs"] == {"seen": "Cancelled"}
    assert time.monotonic() - started < 10
    assert kubeline.cleanup() == []


def test_second_signal_stops_at_once_and_still_kills_every_tree(tmp_path: Path, kubelines: list) -> None:
    stubborn = shell("stubborn", "trap '' TERM; " + ESCAPERS + "while :; do sleep 1; done")
    file = pipeline_file(
        tmp_path, [{"name": "a", "component": "stubborn"}, {"name": "b", "component": "stubborn"}], [stubborn]
    )
    kubeline = start(kubelines, tmp_path, file)
    kubeline.await_processes(b"sleep 300", 6)
    kubeline.process.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the steps ignore SIGTERM: without a second signal the run would wait out the grace period
    started = time.monotonic()
    kubeline.process.send_signal(signal.SIGINT)
    code, _, err = kubeline.finish()
    assert code == 128 + signal.SIGINT, err
    assert time.monotonic() - started < 3
    assert "Traceback" not in err
    assert kubeline.cleanup() == []


def test_an_exception_in_the_runner_still_kills_running_steps(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    plan = plan_of(
        {
            "spec": {
                "components": [shell("long", f"# {marker}\n" + ESCAPERS + "sleep 300")],
                "tasks": [{"name": "long", "component": "long"}],
            }
        }
    )

    def crash_once_running(decision: Any, state: Any) -> None:
        if "long" in state.steps and time.time() - state.steps["long"].started_at > 0.5:
            raise RuntimeError("a bug in a display")

    runner = LocalRunner(plan, {}, "t", run_dir=tmp_path / "run", cache=None, on_change=crash_once_running)
    with pytest.raises(RuntimeError):
        runner.run()
    process = next(iter(runner.processes.running.values()))
    assert process.handle.poll() is not None
    left = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and _cmdline(p).startswith(b"sleep 300") and _descends_from_run(p, tmp_path)
    ]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _descends_from_run(entry: Path, tmp_path: Path) -> bool:
    """A process started in the run's folder (its working directory is the step's attempt folder)."""
    try:
        return str(tmp_path) in os.readlink(entry / "cwd")
    except OSError:
        return False
