"""`kubeline ui` refuses to expose the user's identity: an address other machines reach needs --in-cluster (the
pod's own service account) or an explicit --allow-remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeline.commands.ui import remote_refusal
from tests.helpers import kubeline


@pytest.mark.parametrize(
    ("address", "in_cluster", "allow_remote", "refused"),
    [
        ("127.0.0.1", False, False, False),
        ("::1", False, False, False),
        ("localhost", False, False, False),
        ("0.0.0.0", False, False, True),
        ("::", False, False, True),
        ("192.168.1.5", False, False, True),
        ("0.0.0.0", True, False, False),
        ("0.0.0.0", False, True, False),
    ],
)
def test_only_loopback_unless_in_cluster_or_allowed(
    address: str, in_cluster: bool, allow_remote: bool, refused: bool
) -> None:
    refusal = remote_refusal(address, in_cluster=in_cluster, allow_remote=allow_remote)
    assert (refusal is not None) is refused
    if refused:
        assert refusal is not None and "--allow-remote" in refusal and address in refusal


@pytest.mark.parametrize("mode", [[], ["--local"]])
def test_kubeline_ui_on_every_interface_is_refused_before_it_listens(tmp_path: Path, mode: list[str]) -> None:
    result = kubeline("ui", *mode, "--address", "0.0.0.0", "--port", "0", home=tmp_path, timeout=30)
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0" in result.stderr and "--allow-remote" in result.stderr


def test_help_documents_allow_remote(tmp_path: Path) -> None:
    result = kubeline("ui", "--help", home=tmp_path)
    assert "--allow-remote" in result.stdout and "no login" in result.stdout
