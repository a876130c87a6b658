"""Each Python example compiles to its checked-in YAML, byte for byte, and that YAML runs.

Regenerate the golden files on purpose with: KUBELINE_UPDATE_GOLDEN=1 pytest tests/unit/test_sdk_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubeline.api.yamlio import dump
from kubeline.backends.local import LocalRunner
from kubeline.commands.common import load_pipeline_file
from kubeline.engine.run import bind_arguments
from kubeline.sdk.loader import pipeline_document_from_python

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"
PROGRAMS = sorted(EXAMPLES.glob("*.py"))

EXPECTED = {  # step id -> outputs, for each example run with its defaults
    "add_subtract_multiply": {"multiply": {"Output": "40"}},
    "conditions_and_loops": {
        "condition-1.announce": {"Output": "big input"},
        "for-loop-1[3].process": {"Output": "120"},
    },
}


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_compiled_yaml_matches_the_golden_file(program: Path) -> None:
    compiled = dump(pipeline_document_from_python(program))
    golden = program.with_suffix(".yaml")
    if os.environ.get("KUBELINE_UPDATE_GOLDEN"):
        golden.write_text(compiled)
    assert golden.exists(), f"no golden file: run KUBELINE_UPDATE_GOLDEN=1 pytest {__file__}"
    assert compiled == golden.read_text(), f"{program.name} compiles differently from {golden.name}"


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_golden_yaml_runs_on_the_local_runner(program: Path, tmp_path: Path) -> None:
    loaded = load_pipeline_file(program.with_suffix(".yaml"))
    result = LocalRunner(loaded.plan, bind_arguments(loaded.plan, {}), "golden", run_dir=tmp_path, cache=None).run()
    assert result.decision.phase == "Succeeded", result.decision.message
    for step, outputs in EXPECTED[program.stem].items():
        assert result.state.steps[step].outputs == outputs


def test_every_example_has_expectations() -> None:
    assert {p.stem for p in PROGRAMS} == set(EXPECTED)
