"""The operator image built without a container engine: a valid OCI archive whose kubeline runs."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("building the root filesystem (debootstrap) needs root")
    output = tmp_path_factory.mktemp("image")
    result = subprocess.run(
        [str(ROOT / "hack" / "image" / "build"), "operator", "--output", str(output)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(result.stdout.strip())


def blob(tar: tarfile.TarFile, digest: str) -> bytes:
    member = tar.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
    assert member is not None
    return member.read()


@pytest.fixture(scope="module")
def rootfs(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's one layer unpacked, once for the tests that run programs inside it (chroot)."""
    folder = tmp_path_factory.mktemp("image")
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("index.json").read())
        manifest = json.loads(blob(tar, index["manifests"][0]["digest"]))
        layer = folder / "layer.tar.gz"
        layer.write_bytes(blob(tar, manifest["layers"][0]["digest"]))
    rootfs = folder / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-xzf", str(layer), "-C", str(rootfs)], check=True)
    return rootfs


def test_archive_is_an_oci_image_named_for_containerd(archive: Path) -> None:
    with tarfile.open(archive) as tar:
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(tar.extractfile("index.json").read())
        descriptor = index["manifests"][0]
        assert descriptor["annotations"]["io.containerd.image.name"] == "docker.io/library/kubeline:0.1.0"
        manifest = json.loads(blob(tar, descriptor["digest"]))
        config = json.loads(blob(tar, manifest["config"]["digest"]))
        assert config["config"]["User"] == "65532:65532"
        assert config["config"]["Entrypoint"] == ["kubeline"]
        assert len(manifest["layers"]) == 1 and len(config["rootfs"]["diff_ids"]) == 1


def test_kubeline_runs_inside_the_image(rootfs: Path) -> None:
    result = subprocess.run(["chroot", str(rootfs), "/usr/local/bin/kubeline", "crds"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "name: runs.kubeline.dev" in result.stdout
    version = subprocess.run(
        ["chroot", str(rootfs), "python3", "-c", "import kopf, kubernetes, pydantic; print('ok')"],
        capture_output=True,
        text=True,
    )
    assert version.stdout.strip() == "ok", version.stderr[-2000:]
    assert "kubeline:x:65532:65532:" in (rootfs / "etc" / "passwd").read_text()  # kopf looks its user up


def test_graphviz_draws_inside_the_image_as_its_user(rootfs: Path) -> None:
    """The in-cluster UI draws its graphs with dot: it is in the image and runs as the image's user."""
    drawn = subprocess.run(
        ["chroot", "--userspec=65532:65532", str(rootfs), "dot", "-Tsvg"],
        input='digraph { "train" -> "evaluate" }',
        capture_output=True,
        text=True,
    )
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert "<svg" in drawn.stdout and ">evaluate</text>" in drawn.stdout
