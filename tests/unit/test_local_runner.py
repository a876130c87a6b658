"""The local runner: real processes, files, the on-disk cache, timeouts and cancellation."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kubeline.backends.local import LocalRunner, RunResult, StoreCache
from kubeline.engine.run import bind_arguments
from kubeline.store import ObjectRef, get_artifact
from kubeline.store.local import LocalStore
from tests.helpers import WRITE, python_component
from tests.unit.simulate import plan_of


def run(
    tmp_path: Path,
    components: list[dict],
    tasks: list[dict],
    params: dict | None = None,
    cache: bool = True,
    before: Any = None,
    **spec: Any,
) -> RunResult:
    plan = plan_of({"spec": {"components": components, "tasks": tasks, **spec}})
    runner = LocalRunner(
        plan,
        bind_arguments(plan, params or {}),
        "test",
        run_dir=tmp_path / "run" / str(time.time()),
        cache=StoreCache(LocalStore(tmp_path / "store")) if cache else None,
    )
    if before:
        before(runner)
    return runner.run()


def test_second_run_is_served_from_the_cache(tmp_path: Path) -> None:
    tasks = [{"name": "w", "component": "write", "arguments": {"text": "hello"}}]
    first = run(tmp_path, [WRITE], tasks)
    second = run(tmp_path, [WRITE], tasks)
    assert first.state.steps["w"].cached is False
    assert second.state.steps["w"].cached is True
    assert second.state.steps["w"].outputs == {"out": "hello"}
    changed = run(tmp_path, [WRITE], [{"name": "w", "component": "write", "arguments": {"text": "other"}}])
    assert changed.state.steps["w"].cached is False


def test_max_staleness_zero_never_reuses(tmp_path: Path) -> None:
    tasks = [{"name": "w", "component": "write", "arguments": {"text": "x"}, "caching": {"maxStaleness": "P0D"}}]
    run(tmp_path, [WRITE], tasks)
    assert run(tmp_path, [WRITE], tasks).state.steps["w"].cached is False


def test_staleness_bound_is_measured_from_when_the_result_was_made(tmp_path: Path) -> None:
    tasks = [{"name": "w", "component": "write", "arguments": {"text": "x"}, "caching": {"maxStaleness": "1h"}}]
    plan = plan_of({"spec": {"components": [WRITE], "tasks": tasks}})
    cache = StoreCache(LocalStore(tmp_path / "store"))
    LocalRunner(plan, {}, "t", run_dir=tmp_path / "r1", cache=cache).run()
    from kubeline.engine.run import decide
    from kubeline.engine.state import RunState

    start = decide(plan, {}, RunState(started_at=0), 0).start[0]
    assert cache.lookup(start, time.time() + 3500) == ({"out": "x"}, frozenset())
    assert cache.lookup(start, time.time() + 3700) is None


def test_artifacts_pass_as_files_and_directories_and_survive_the_cache(tmp_path: Path) -> None:
    make = python_component(
        "make",
        "import os, sys; os.makedirs(sys.argv[1]); open(os.path.join(sys.argv[1], 'a.txt'), 'w').write('A')",
        outputs=[{"name": "folder", "type": "artifact"}],
    )
    read = python_component(
        "read",
        "import os, sys; open(sys.argv[2], 'w').write(open(os.path.join(sys.argv[1], 'a.txt')).read())",
        inputs=[{"name": "folder", "type": "artifact"}],
        outputs=[{"name": "content"}],
    )
    tasks = [
        {"name": "make", "component": "make"},
        {"name": "read", "component": "read", "arguments": {"folder": "{{tasks.make.outputs.folder}}"}},
    ]
    assert run(tmp_path, [make, read], tasks).state.steps["read"].outputs == {"content": "A"}
    again = run(tmp_path, [make, read], tasks)
    assert again.state.steps["make"].cached and again.state.steps["read"].cached
    ref = ObjectRef.parse(again.state.steps["make"].outputs["folder"])
    assert ref is not None and ref.directory
    get_artifact(LocalStore(tmp_path / "store"), ref, tmp_path / "check")
    assert (tmp_path / "check" / "a.txt").read_text() == "A"


def test_a_value_can_feed_an_artifact_input(tmp_path: Path) -> None:
    read = python_component(
        "read",
        "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())",
        inputs=[{"name": "data", "type": "artifact"}],
        outputs=[{"name": "out"}],
    )
    result = run(tmp_path, [read], [{"name": "r", "component": "read", "arguments": {"data": "abc"}}])
    assert result.state.steps["r"].outputs == {"out": "ABC"}


@pytest.mark.parametrize(
    "code, outputs, message",
    [
        ("pass", [{"name": "n", "type": "integer"}], "the step wrote no output 'n'"),
        (
            "import sys; open(sys.argv[1], 'w').write('x' * (64 * 1024 * 1024 + 1))",
            [{"name": "big"}],
            "over the largest value allowed (67,108,864 bytes",
        ),
        (
            "import sys; open(sys.argv[1], 'w').write('3.5')",
            [{"name": "n", "type": "integer"}],
            "output 'n': 3.5 is not an integer",
        ),
        ("import sys; sys.exit(3)", [], "exit code 3"),
    ],
)
def test_step_failures_say_why(tmp_path: Path, code: str, outputs: list, message: str) -> None:
    result = run(tmp_path, [python_component("c", code, outputs=outputs)], [{"name": "t", "component": "c"}])
    assert result.decision.phase == "Failed"
    assert message in result.decision.views["t"].message


def test_a_missing_program_fails_the_step_without_a_traceback(tmp_path: Path) -> None:
    component = {"name": "c", "container": {"image": "x", "command": ["/no/such/program"]}}
    result = run(tmp_path, [component], [{"name": "t", "component": "c"}])
    assert result.decision.phase == "Failed"
    assert "cannot start /no/such/program" in result.decision.views["t"].message


def test_echo_newline_is_not_part_of_the_value(tmp_path: Path) -> None:
    component = {
        "name": "c",
        "outputs": [{"name": "n", "type": "integer"}],
        "container": {"image": "x", "command": ["sh", "-c", "echo 42 > $0"], "args": ["{{outputs.n.path}}"]},
    }
    assert run(tmp_path, [component], [{"name": "t", "component": "c"}]).state.steps["t"].outputs == {"n": "42"}


def test_independent_steps_run_side_by_side(tmp_path: Path) -> None:
    timed = python_component(
        "timed",
        "import sys, time, json; s = time.time(); time.sleep(0.4); open(sys.argv[1], 'w').write(json.dumps([s, time.time()]))",
        outputs=[{"name": "span", "type": "list"}],
    )
    result = run(
        tmp_path, [timed], [{"name": "a", "component": "timed"}, {"name": "b", "component": "timed"}], cache=False
    )
    (a0, a1), (b0, b1) = (json.loads(result.state.steps[t].outputs["span"]) for t in ("a", "b"))
    assert a0 < b1 and b0 < a1, "the two steps' running times should overlap"


def test_task_timeout_kills_the_step(tmp_path: Path) -> None:
    sleeper = python_component("sleeper", "import time; time.sleep(60)")
    started = time.time()
    result = run(tmp_path, [sleeper], [{"name": "s", "component": "sleeper", "timeout": "1s"}], cache=False)
    assert result.decision.phase == "Failed"
    assert result.decision.views["s"].message == "timed out after 1.0s"
    assert time.time() - started < 30


def test_retries_run_new_attempts(tmp_path: Path) -> None:
    flaky = python_component(
        "flaky",
        "import os, sys; marker = os.path.join(sys.argv[1], 'tried');"
        "sys.exit(0) if os.path.exists(marker) else (open(marker, 'w').close(), sys.exit(1))",
        inputs=[{"name": "dir"}],
    )
    tasks = [
        {
            "name": "f",
            "component": "flaky",
            "arguments": {"dir": str(tmp_path)},
            "retries": {"limit": 2, "backoff": {"duration": "100ms"}},
        }
    ]
    result = run(tmp_path, [flaky], tasks, cache=False)
    assert result.decision.phase == "Succeeded"
    assert result.state.steps["f"].attempt == 2


def test_cancel_stops_running_steps_and_runs_the_exit_handler(tmp_path: Path) -> None:
    sleeper = python_component("sleeper", "import time; time.sleep(60)")
    notify = python_component(
        "notify", "import sys; open(sys.argv[2], 'w').write(sys.argv[1])", [{"name": "status"}], [{"name": "seen"}]
    )

    def cancel_soon(runner: LocalRunner) -> None:
        threading.Timer(0.5, runner.cancel).start()

    result = run(
        tmp_path,
        [sleeper, notify],
        [{"name": "s", "component": "sleeper"}],
        cache=False,
        before=cancel_soon,
        onExit={"component": "notify", "arguments": {"status": "{{run.status}}"}},
    )
    assert result.decision.phase == "Cancelled"
    assert result.state.steps["exit-handler"].outputs == {"seen": "Cancelled"}


def test_local_parallelism_limits_processes_at_once(tmp_path: Path) -> None:
    timed = python_component(
        "timed",
        "import sys, time, json; s = time.time(); time.sleep(0.2); open(sys.argv[2], 'w').write(json.dumps([s, time.time()]))",
        inputs=[{"name": "i"}],
        outputs=[{"name": "span", "type": "list"}],
    )
    plan = plan_of(
        {
            "spec": {
                "components": [timed],
                "tasks": [
                    {"name": "each", "component": "timed", "forEach": list(range(6)), "arguments": {"i": "{{item}}"}}
                ],
            }
        }
    )
    result = LocalRunner(plan, {}, "t", run_dir=tmp_path / "r", cache=None, max_parallel=2).run()
    spans = [json.loads(result.state.steps[f"each[{i}]"].outputs["span"]) for i in range(6)]
    for start, _ in spans:
        overlapping = sum(1 for s, e in spans if s <= start < e)
        assert overlapping <= 2


BIG = python_component("big", "import sys; open(sys.argv[1], 'w').write('v' * 1_000_000)", outputs=[{"name": "report"}])
SIZE = python_component(
    "size",
    "import os, sys; open(sys.argv[2], 'w').write(str(os.path.getsize(sys.argv[1])))",
    inputs=[{"name": "report", "type": "artifact"}],
    outputs=[{"name": "n"}],
)
ECHO = python_component(
    "echo", "import sys; open(sys.argv[2], 'w').write(sys.argv[1][:10])", [{"name": "t"}], [{"name": "o"}]
)


def test_a_value_too_large_to_pass_inline_is_stored_and_read_as_a_file_as_on_a_cluster(tmp_path: Path) -> None:
    tasks = [
        {"name": "big", "component": "big"},
        {"name": "size", "component": "size", "arguments": {"report": "{{tasks.big.outputs.report}}"}},
    ]
    result = run(tmp_path, [BIG, SIZE], tasks)
    assert result.state.steps["big"].stored_values == {"report"}
    assert result.state.steps["big"].outputs["report"].startswith("sha256:")
    assert result.state.steps["size"].outputs == {"n": "1000000"}
    again = run(tmp_path, [BIG, SIZE], tasks)  # the same store: both cached, the large value still by reference
    assert again.state.steps["big"].cached and again.state.steps["big"].stored_values == {"report"}


def test_a_stored_value_used_inline_fails_its_consumer_saying_to_read_it_as_a_file(tmp_path: Path) -> None:
    tasks = [
        {"name": "big", "component": "big"},
        {"name": "echo", "component": "echo", "arguments": {"t": "{{tasks.big.outputs.report}}"}},
    ]
    result = run(tmp_path, [BIG, ECHO], tasks)
    assert result.decision.phase == "Failed"
    message = result.decision.views["echo"].message
    assert "too large to pass inline" in message and "InputPath" in message


def test_bad_metrics_leave_their_step_succeeded_and_say_what_was_ignored(tmp_path: Path) -> None:
    score = python_component(
        "score",
        "import json, sys; json.dump({'metrics': [{'name': 'auc', 'numberValue': 0.75}, "
        "{'name': 'F1', 'numberValue': 0.5}]}, open(sys.argv[1], 'w'))",
        outputs=[{"name": "mlpipeline-metrics", "type": "metrics"}],
    )
    result = run(tmp_path, [score], [{"name": "score", "component": "score"}], cache=False)
    assert result.decision.phase == "Succeeded"
    assert result.metrics.by_step == {"score": {"auc": 0.75}}
    assert "metrics ignored, as KFP ignores them: output 'mlpipeline-metrics', metrics[1]: name 'F1'" in (
        result.decision.views["score"].message
    )
