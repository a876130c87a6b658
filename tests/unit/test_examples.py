"""Every YAML example under examples/ validates and runs on the local runner with the results it promises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import kubeline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def run_json(example: str, *params: str, home: Path) -> tuple[int, dict]:
    args = ["run", str(ROOT / "examples" / example), "--json"]
    for param in params:
        args += ["-p", param]
    result = kubeline(*args, home=home)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_validates(path: Path, tmp_path: Path) -> None:
    result = kubeline("validate", str(path), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


def test_every_example_has_a_run_test() -> None:
    tested = {"add-subtract-multiply", "json-file-passing", "condition-random", "fan-out", "exit-handler"}
    assert {p.stem for p in EXAMPLES} == tested


def test_add_subtract_multiply(tmp_path: Path) -> None:
    code, result = run_json("add-subtract-multiply.yaml", "value_1=7", "value_2=3", home=tmp_path)
    assert code == 0
    assert result["tasks"]["multiply"]["outputs"] == {"result": "40"}
    assert result["outputs"] == {"product": "40"}


def test_add_subtract_multiply_prints_40_in_its_table(tmp_path: Path) -> None:
    result = kubeline(
        "run", str(ROOT / "examples/add-subtract-multiply.yaml"), "-p", "value_1=7", "-p", "value_2=3", home=tmp_path
    )
    assert result.returncode == 0, result.stderr
    multiply_row = next(line for line in result.stdout.splitlines() if line.startswith("│ multiply "))
    assert "result=40" in multiply_row


def test_json_file_passing(tmp_path: Path) -> None:
    code, result = run_json("json-file-passing.yaml", "count=4", home=tmp_path)
    assert code == 0
    assert result["tasks"]["summarize"]["outputs"]["total"] == "14"  # 0 + 1 + 4 + 9
    assert json.loads(result["tasks"]["summarize"]["outputs"]["summary"]) == {"rows": 4, "max": 9}


def test_condition_on_a_random_number(tmp_path: Path) -> None:
    code, result = run_json("condition-random.yaml", home=tmp_path)
    assert code == 0
    number = int(result["tasks"]["draw"]["outputs"]["number"])
    ran, skipped = ("high", "low") if number > 5 else ("low", "high")
    assert result["tasks"][ran]["phase"] == "Succeeded"
    assert result["tasks"][ran]["outputs"]["said"] == f"{ran}: {number}"
    assert result["tasks"][skipped]["phase"] == "Skipped"


def test_fan_out_over_a_produced_list(tmp_path: Path) -> None:
    code, result = run_json("fan-out.yaml", "count=5", home=tmp_path)
    assert code == 0
    assert result["outputs"] == {"total": "55"}
    assert [result["tasks"][f"per-item[{i}].square"]["outputs"]["squared"] for i in range(5)] == [
        "1",
        "4",
        "9",
        "16",
        "25",
    ]


def test_exit_handler_runs_after_a_failure(tmp_path: Path) -> None:
    code, result = run_json("exit-handler.yaml", home=tmp_path)
    assert code == 1
    assert result["phase"] == "Failed"
    assert result["tasks"]["train"]["phase"] == "Failed"
    assert result["tasks"]["evaluate"]["phase"] == "Skipped"
    assert result["tasks"]["notify"]["outputs"] == {"report": "Failed"}
    code, result = run_json("exit-handler.yaml", "fail=false", home=tmp_path)
    assert code == 0
    assert result["tasks"]["notify"]["outputs"] == {"report": "Succeeded"}
