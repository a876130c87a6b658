"""`kubeline graph`: every example draws; a Run document is drawn with its steps' phases; bad requests exit 2.

Regenerate the golden DOT files on purpose with: KUBELINE_UPDATE_GOLDEN=1 pytest tests/unit/test_cli_graph.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kubeline.commands import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples" / "python").glob("*.py"))
GOLDEN = Path(__file__).resolve().parent / "golden" / "graph"
GOLDEN_EXAMPLES = [ROOT / "examples" / "fan-out.yaml", ROOT / "examples" / "python" / "conditions_and_loops.py"]
needs_dot = pytest.mark.usefixtures("dot")  # skipped, saying how to install it, where Graphviz is missing


@needs_dot
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
@pytest.mark.parametrize("suffix", ["dot", "svg"])
def test_every_example_draws(example: Path, suffix: str, tmp_path: Path) -> None:
    output = tmp_path / f"dag.{suffix}"
    assert main(["graph", str(example), "-o", str(output)]) == 0
    text = output.read_text()
    assert text.startswith("digraph pipeline {") if suffix == "dot" else "<svg" in text and 'id="n0"' in text


@pytest.mark.parametrize("example", GOLDEN_EXAMPLES, ids=[p.name for p in GOLDEN_EXAMPLES])
def test_dot_matches_the_golden_file(example: Path, tmp_path: Path) -> None:
    output = tmp_path / "dag.dot"
    assert main(["graph", str(example), "-o", str(output)]) == 0
    golden = GOLDEN / f"{example.stem}.dot"
    if os.environ.get("KUBELINE_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(output.read_text())
    assert golden.exists(), f"no golden file: run KUBELINE_UPDATE_GOLDEN=1 pytest {__file__}"
    assert output.read_text() == golden.read_text(), f"{example.name} draws differently from {golden.name}"


def test_a_run_document_is_drawn_with_its_steps_phases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = yaml.safe_load((ROOT / "examples" / "fan-out.yaml").read_text())
    run = {
        "apiVersion": "kubeline.dev/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "r1"},
        "spec": {"pipelineRef": {"name": "fan-out"}},
        "status": {
            "phase": "Running",
            "pipelineSpec": pipeline["spec"],
            "tasks": {
                "make-list": {"phase": "Succeeded", "cached": True},
                "per-item[0].square": {"phase": "Succeeded"},
                "per-item[1].square": {"phase": "Running"},
            },
        },
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    assert main(["graph", str(path), "-o", "-"]) == 0
    dot = capsys.readouterr().out
    assert 'class="phase-succeeded cached" label="make-list\\n(cached)"' in dot
    assert 'class="phase-running" label="square\\n1/2 ✓  1 ▶"' in dot


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["examples/fan-out.yaml", "-o", "dag.txt"], "-o dag.txt: name the drawing's format"),
        (["no/such/file.yaml", "-o", "dag.svg"], "no/such/file.yaml: no such file"),
    ],
)
def test_bad_requests_name_the_fix(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["graph", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_an_invalid_pipeline_lists_its_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubeline.dev/v1alpha1",
                "kind": "Pipeline",
                "metadata": {"name": "bad"},
                "spec": {"components": [], "tasks": [{"name": "a", "component": "nope"}]},
            }
        )
    )
    assert main(["graph", str(path), "-o", str(tmp_path / "dag.svg")]) == 2
    assert "spec.components" in capsys.readouterr().err


def test_a_local_runs_name_draws_it_with_its_steps_phases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBELINE_HOME", str(tmp_path / "home"))
    assert main(["run", str(ROOT / "examples" / "add-subtract-multiply.yaml"), "--name", "drawn", "--json"]) == 0
    capsys.readouterr()
    assert main(["graph", "drawn", "-o", "-"]) == 0
    dot_text = capsys.readouterr().out
    assert dot_text.count("phase-succeeded") == 3, dot_text


def test_a_name_with_no_local_run_and_no_kube_config_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    assert main(["graph", "nowhere", "-o", "-"]) == 2
    assert "KUBECONFIG: no cluster to talk to" in capsys.readouterr().err
