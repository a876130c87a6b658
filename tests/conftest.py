"""Fixtures shared by the unit and integration tests, and the `toolchain` marker.

Tests that need an outside tool built or installed first (Helm from the Go module proxy, the KFP v1 SDK with
pip) are marked `toolchain` here, from the fixtures they use, so `make unit` can leave them out and stay quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Kubeline
from tests.importers import kfp_sdk

TOOLCHAIN_FIXTURES = {"kfp_workflows", "helm"}


@pytest.fixture(scope="session")
def kfp_workflows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The KFP v1 test programs compiled by the real KFP v1 SDK (see tests/importers/kfp_sdk.py)."""
    return kfp_sdk.compiled_workflows(tmp_path_factory)


@pytest.fixture
def kubelines() -> Any:
    """The `kubeline run` processes a test starts (tests.helpers.start): killed at its end, with their steps."""
    started: list[Kubeline] = []
    yield started
    for kubeline in started:
        if kubeline.process.poll() is None:
            kubeline.process.kill()
            kubeline.process.communicate()
        kubeline.cleanup()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TOOLCHAIN_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.toolchain)
