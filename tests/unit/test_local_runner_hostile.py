"""The local runner against what the corpus cannot check: files it must leave alone, cache records it
must not leave half-written, and how much of a log it reads."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kubeline.backends import local
from kubeline.backends.local import LocalRunner, RunResult, StoreCache
from kubeline.backends.local.runner import LOG_TAIL_BYTES
from kubeline.engine.run import decide
from kubeline.engine.state import RunState
from kubeline.store import StoreError, cache_record_key
from kubeline.store.local import TEMP_PREFIX, LocalStore
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


def run_make(tmp_path: Path, cache: StoreCache, name: str) -> RunResult:
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
    result = run_make(tmp_path, StoreCache(LocalStore(tmp_path / "store")), "run")
    assert result.decision.phase == "Failed"
    assert "cannot make the step's folder" in result.decision.views["m"].message
    assert kept.read_text() == "not kubeline's"


def test_a_bad_cache_entry_is_a_miss_once_then_replaced(tmp_path: Path) -> None:
    warnings: list[str] = []
    store = LocalStore(tmp_path / "store")
    plan = plan_of({"spec": {"components": [MAKE], "tasks": [{"name": "m", "component": "make"}]}})
    key = decide(plan, {}, RunState(started_at=0), 0).start[0].cache_key
    store.put_bytes(cache_record_key(key), f'{{"cacheKey": "{key}", "component": "make", "outputs": {{}}}}'.encode())
    first = run_make(tmp_path, StoreCache(store, warn=warnings.append), "r1")
    assert first.state.steps["m"].cached is False
    assert len(warnings) == 1 and "is not a cache record (field 'createdAt' is missing" in warnings[0]
    second = run_make(tmp_path, StoreCache(store, warn=warnings.append), "r2")
    assert second.state.steps["m"].cached is True
    assert second.state.steps["m"].outputs["v"] == "fresh"
    assert len(warnings) == 1


class HalfWrites(LocalStore):
    """A store whose writes of cache records write half and then fail, as on a full disk or at Ctrl-C."""

    def __init__(self, root: Path, failure: BaseException):
        super().__init__(root)
        self.failure = failure

    def put_bytes(self, key: str, data: bytes) -> None:
        if not key.startswith("cache/"):
            return super().put_bytes(key, data)

        def half_then_fail(out: Any) -> None:
            out.write(data[: len(data) // 2])
            raise self.failure

        self._guard("write", key, lambda: self._write(key, half_then_fail))


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_no_part_of_a_cache_record_survives_a_failed_write(tmp_path: Path, failure: BaseException) -> None:
    warnings: list[str] = []
    cache = StoreCache(HalfWrites(tmp_path / "store", failure), warn=warnings.append)
    if isinstance(failure, OSError):
        assert run_make(tmp_path, cache, "r").decision.phase == "Succeeded"  # only not cached
        assert "was not cached: cannot write" in warnings[0] and "No space left on device" in warnings[0]
    else:
        with pytest.raises(KeyboardInterrupt):
            run_make(tmp_path, cache, "r")
    assert not (tmp_path / "store" / "cache").exists() or list((tmp_path / "store" / "cache").iterdir()) == []
    assert [p for p in (tmp_path / "store").rglob(f"{TEMP_PREFIX}*")] == []


def test_a_failed_artifact_upload_fails_the_step_naming_the_key(tmp_path: Path) -> None:
    class Unwritable(LocalStore):
        def put_bytes(self, key: str, data: bytes) -> None:
            if key.startswith("objects/"):
                raise StoreError(f"cannot write {self.where(key)}: No space left on device")
            super().put_bytes(key, data)

    result = run_make(tmp_path, StoreCache(Unwritable(tmp_path / "store")), "r")
    assert result.decision.phase == "Failed"
    message = result.decision.views["m"].message
    assert f"cannot write {(tmp_path / 'store').as_uri()}/objects/sha256/" in message and "No space left" in message


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
