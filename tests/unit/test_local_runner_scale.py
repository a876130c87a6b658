"""`kubeline run` with a thousand steps: a fan-out and a chain run to the end with every step's result (not timed)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from kubeline.ui.local import RUN_DOCUMENT
from tests.helpers import pipeline_file, shell

STEPS = 1000
INC = shell("inc", 'echo $(($1 + 1)) > "$2"', outputs=["y"], inputs=["x"])
ADD_UP = shell(
    "add-up", "echo \"$1\" | tr -d '[] ' | tr , '\\n' | awk '{s += $1} END {print s}' > \"$2\"", ["total"], ["values"]
)


def run(tmp_path: Path, tasks: list[dict], outputs: dict[str, str]) -> tuple[dict, dict]:
    """The run's --json result and the run document `kubeline ui --local` reads."""
    path = pipeline_file(tmp_path, tasks, [INC, ADD_UP], outputs=outputs)
    done = subprocess.run(
        [sys.executable, "-m", "kubeline", "run", str(path), "--name", "big", "--json", "--no-cache"],
        env={**os.environ, "KUBELINE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((tmp_path / "home" / "runs" / "big" / RUN_DOCUMENT).read_text())
    return json.loads(done.stdout), document


def test_a_fan_out_of_a_thousand_items_runs_every_item_and_gathers_their_outputs(tmp_path: Path) -> None:
    tasks = [
        {"name": "each", "component": "inc", "forEach": list(range(STEPS)), "arguments": {"x": "{{item}}"}},
        {"name": "add-up", "component": "add-up", "arguments": {"values": "{{tasks.each.outputs.y}}"}},
    ]
    result, document = run(tmp_path, tasks, {"total": "{{tasks.add-up.outputs.total}}"})
    assert result["phase"] == "Succeeded"
    assert result["outputs"] == {"total": str(sum(range(1, STEPS + 1)))}
    assert all(result["tasks"][f"each[{i}]"]["outputs"] == {"y": str(i + 1)} for i in range(STEPS))
    assert document["status"]["phase"] == "Succeeded"
    assert document["status"]["progressText"] == f"{STEPS + 1}/{STEPS + 1}"


def test_a_chain_of_a_thousand_steps_hands_each_output_to_the_next(tmp_path: Path) -> None:
    tasks = [{"name": "step-0", "component": "inc", "arguments": {"x": "0"}}]
    tasks += [
        {"name": f"step-{i}", "component": "inc", "arguments": {"x": f"{{{{tasks.step-{i - 1}.outputs.y}}}}"}}
        for i in range(1, STEPS)
    ]
    result, document = run(tmp_path, tasks, {"last": f"{{{{tasks.step-{STEPS - 1}.outputs.y}}}}"})
    assert result["phase"] == "Succeeded"
    assert result["outputs"] == {"last": str(STEPS)}
    assert result["progress"]["succeeded"] == STEPS
    assert document["status"]["progressText"] == f"{STEPS}/{STEPS}"


def test_the_summary_of_a_big_run_shows_its_failures_and_counts_the_rest() -> None:
    from kubeline.backends.local import RunResult
    from kubeline.commands.display import SUMMARY_ROWS, plain_console, print_result
    from kubeline.engine.state import Decision, RunState, StepState, View

    views = {f"each[{i}]": View("Succeeded") for i in range(STEPS)}
    views["each[500]"] = views["each[900]"] = View("Failed", "exit code 3")
    steps = {i: StepState("Succeeded", started_at=1, finished_at=2, outputs={"y": "1"}) for i in views}
    result = RunResult("big", Path("/nowhere"), Decision("Failed", "each[500] failed", views=views), RunState(0, steps))
    console = plain_console(record=True, width=200, file=io.StringIO())
    print_result(console, result)
    text = console.export_text()
    assert "each[500]" in text and "each[900]" in text and "each[0]" in text
    assert f"each[{SUMMARY_ROWS - 2}]" not in text  # two failures and the first 48 that succeeded
    assert f"and {STEPS - SUMMARY_ROWS} more steps ({STEPS - SUMMARY_ROWS} Succeeded)" in text
