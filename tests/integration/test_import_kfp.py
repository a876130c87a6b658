"""Pipelines imported from what the real KFP v1 SDK compiles pass the API server's validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeline.api.yamlio import dump
from kubeline.importers.kfp_v1 import import_workflow
from tests.importers.kfp_sdk import all_programs

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("program", [p.stem for p in all_programs()])
def test_imported_pipeline_is_accepted_by_the_api_server(
    program: str,
    kfp_workflows: dict[str, tuple[Path, dict[str, Any]]],
    crds: Any,
    namespace: str,
) -> None:
    pipeline = import_workflow(yaml.safe_load(kfp_workflows[program][0].read_text())).pipeline
    result = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=dump(pipeline))
    assert "created (server dry run)" in result.stdout
