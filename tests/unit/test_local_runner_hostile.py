"""The local runner against what the corpus cannot check: files it must leave alone, cache folders it
must clean up, and how much of a log it reads."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kubeline.backends import local
from kubeline.backends.local import LocalCache, LocalRunner, RunResult
from kubeline.backends.local import cache as local_cache
from kubeline.backends.local.runner import LOG_TAIL_BYTES
from kubeline.engine.run import decide
from kubeline.engine.state import RunState
from tests.helpers import kubeline
from tests.unit.simulate import plan_of

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "add-subtract-multiply.yaml"
MAKE = {
    "name": "make",
    "outputs": [{"name": "v"}, {"name": "d", "type": "artifact"}],
    "container": {
        "image": "x",
        "command": ["sh", "-c", 'echo fresh > "$0"; echo data > "$1"'],
        "args": ["{{outputs.v.path}}", "{{outputs.d.path}}"],
    },
}


def run_make(tmp_path: Path, cache: LocalCache, name: str) -> RunResult:
    plan = plan_of({"spec": {"components": [MAKE], "tasks": [{"name": "m", "component": "make"}]}})
    return LocalRunner(plan, {}, "t", run_dir=tmp_path / name, cache=cache).run()


def test_a_taken_run_name_is_refused_and_the_earlier_run_kept(tmp_path: Path) -> None:
    kept = tmp_path / "home" / "runs" / "taken" / "steps" / "add" / "attempt-1" / "keep.txt"
    kept.parent.mkdir(parents=True)
    kept.write_text("an earlier run's file")
    result = kubeline("run", str(EXAMPLE), "--name", "taken", home=tmp_path / "home")
    assert result.returncode == 2
    assert "a run named 'taken' already exists" in result.stderr
    assert kept.read_text() == "an earlier run's file"


def test_an_existing_attempt_folder_fails_the_step_and_is_not_deleted(tmp_path: Path) -> None:
    kept = tmp_path / "run" / "steps" / "m" / "attempt-1" / "keep.txt"
    kept.parent.mkdir(parents=True)
    kept.write_text("not kubeline's")
    result = run_make(tmp_path, LocalCache(tmp_path / "cache"), "run")
    assert result.decision.phase == "Failed"
    assert "cannot make the step's folder" in result.decision.views["m"].message
    assert kept.read_text() == "not kubeline's"


def test_a_bad_cache_entry_is_a_miss_once_then_replaced(tmp_path: Path) -> None:
    warnings: list[str] = []
    cache = LocalCache(tmp_path / "cache", warn=warnings.append)
    plan = plan_of({"spec": {"components": [MAKE], "tasks": [{"name": "m", "component": "make"}]}})
    entry = tmp_path / "cache" / decide(plan, {}, RunState(started_at=0), 0).start[0].cache_key / "entry.json"
    entry.parent.mkdir(parents=True)
    entry.write_text("{}")
    first = run_make(tmp_path, cache, "r1")
    assert first.state.steps["m"].cached is False
    assert len(warnings) == 1 and "has no valid createdAt time" in warnings[0]
    second = run_make(tmp_path, LocalCache(tmp_path / "cache", warn=warnings.append), "r2")
    assert second.state.steps["m"].cached is True
    assert second.state.steps["m"].outputs["v"] == "fresh"
    assert len(warnings) == 1


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_no_staging_folder_survives_a_failed_store(tmp_path: Path, monkeypatch: Any, failure: BaseException) -> None:
    def copy_then_fail(source: Path, destination: Path) -> None:
        destination.write_text("half")
        raise failure

    monkeypatch.setattr(local_cache, "copy_artifact", copy_then_fail)
    warnings: list[str] = []
    cache = LocalCache(tmp_path / "cache", warn=warnings.append)
    if isinstance(failure, OSError):
        assert run_make(tmp_path, cache, "r").decision.phase == "Succeeded"  # only not cached
        assert "was not cached: [Errno 28] No space left on device" in warnings[0]
    else:
        with pytest.raises(KeyboardInterrupt):
            run_make(tmp_path, cache, "r")
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_log_tail_reads_only_the_end_of_a_huge_line(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with log.open("wb") as out:
        out.write(b"x" * 50_000_000 + b"\n" + b"".join(b"line %d\n" % i for i in range(30)))
    result = RunResult("r", tmp_path, None, RunState(), {"s": log})
    started = time.monotonic()
    tail = result.log_tail("s")
    assert time.monotonic() - started < 0.5
    assert tail.splitlines() == [f"line {i}" for i in range(10, 30)]
    only_the_line = tmp_path / "one-line"
    only_the_line.write_bytes(b"y" * 20_000_000)
    result.logs["s"] = only_the_line
    tail = result.log_tail("s")
    assert tail.startswith("…y") and len(tail.encode()) <= LOG_TAIL_BYTES + 3


def test_max_parallel_below_one_is_refused(tmp_path: Path) -> None:
    plan = plan_of({"spec": {"components": [MAKE], "tasks": [{"name": "m", "component": "make"}]}})
    with pytest.raises(ValueError, match="at least 1"):
        LocalRunner(plan, {}, "t", run_dir=tmp_path, max_parallel=0)
    result = kubeline("run", str(EXAMPLE), "--max-parallel", "0", home=tmp_path)
    assert result.returncode == 2
    assert "argument --max-parallel: must be at least 1" in result.stderr


def test_a_relative_kubeline_home_still_gives_steps_usable_paths(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBELINE_HOME", "relative-home")
    assert local.kubeline_home() == tmp_path / "relative-home"
    assert local.create_run_dir("r") == tmp_path / "relative-home" / "runs" / "r"
