"""Pipelines imported from the real KFP v1 SDK's output pass the API server's validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubeline.api.yamlio import dump
from kubeline.importers.kfp_v1 import import_workflow
from tests.importers.kfp_sdk import PROGRAMS, compile_with_kfp

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("program", sorted(PROGRAMS.glob("*.py")), ids=lambda p: p.stem)
def test_imported_pipeline_is_accepted_by_the_api_server(program: Path, crds, namespace, tmp_path: Path) -> None:  # noqa: ANN001
    workflow = yaml.safe_load(compile_with_kfp(program, tmp_path / "workflow.yaml").read_text())
    pipeline = import_workflow(workflow, strict=True).pipeline
    result = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=dump(pipeline))
    assert "created (server dry run)" in result.stdout
