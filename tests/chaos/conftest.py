"""The chaos suite's own control plane: it restarts the API server and etcd, so it shares them with no other
test module. Started once for the suite, always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.harness import ControlPlane


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    state = tmp_path_factory.mktemp("chaos-cluster")
    control_plane = ControlPlane(state)
    try:
        yield control_plane
    finally:
        control_plane.stop()
