"""Fixtures shared by the unit and integration tests, and the `toolchain` marker.

Tests that need an outside tool built or installed first (Helm from the Go module proxy, the KFP v1 SDK with
pip) are marked `toolchain` here, from the fixtures they use, so `make unit` can leave them out and stay quick.
The control plane's fixtures (`cluster`, `crds`, `namespace`, `operator_namespace`, `minio`, ...) live in
tests/control_plane.py, loaded here as a plugin so that tests/integration and tests/browser share one per session.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Kubeline
from tests.importers import kfp_sdk

pytest_plugins = ["tests.control_plane"]

TOOLCHAIN_FIXTURES = {"kfp_workflows", "helm"}


@pytest.fixture(scope="session")
def dot() -> str:
    """graphviz's `dot`, which draws the UI's graphs: `make test` installs it (hack/browser ensure); elsewhere a
    test that needs it is skipped, saying how to get it, rather than failing on a missing system package."""
    found = shutil.which("dot")
    if found is None:
        pytest.skip("graphviz's `dot` is not installed: `hack/browser ensure` (root) or `apt-get install graphviz`")
    return found


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
