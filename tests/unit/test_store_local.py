"""The local directory store and artifacts over it: atomic writes, content addressing, safe extraction."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

import pytest

from kubeline.store import (
    MissingObject,
    ObjectRef,
    StoreError,
    get_artifact,
    get_value,
    object_key,
    put_artifact,
    put_value,
)
from kubeline.store.local import LocalStore
from kubeline.store.objects import ArtifactError


def test_bytes_and_files_round_trip(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes("a/b.txt", b"hello")
    assert store.get_bytes("a/b.txt") == b"hello"
    assert store.exists("a/b.txt") and not store.exists("a/c.txt")
    source = tmp_path / "source"
    source.write_bytes(b"x" * 3_000_000)
    store.put_file("big", source)
    store.get_file("big", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()
    assert store.url == (tmp_path / "store").as_uri()


def test_a_missing_key_is_a_missing_object_naming_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(MissingObject, match=f"cannot read {tmp_path.as_uri()}/nothing/here: no such object"):
        store.get_bytes("nothing/here")
    with pytest.raises(MissingObject):
        store.get_file("nothing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_a_key_cannot_leave_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError, match="not a key"):
        LocalStore(tmp_path / "store").put_bytes(key, b"x")
    assert list(tmp_path.rglob("*")) == []


def test_list_and_delete(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for key in ("cache/a.json", "cache/b.json", "cachet/c", "logs/_local/r/a/attempt-1.log"):
        store.put_bytes(key, b"12")
    assert sorted(o.key for o in store.list("cache/")) == ["cache/a.json", "cache/b.json"]
    assert sorted(o.key for o in store.list("cache")) == ["cache/a.json", "cache/b.json", "cachet/c"]
    assert {o.size for o in store.list("")} == {2}
    store.delete(["cache/a.json", "never/was"])
    assert [o.key for o in store.list("cache/")] == ["cache/b.json"]


def test_a_failed_write_leaves_no_part_of_the_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(StoreError, match="cannot upload"):
        store.put_file("k", tmp_path / "no-such-file")
    store.put_bytes("k", b"old")

    def interrupted(out: BinaryIO) -> None:
        out.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store._write("k", interrupted)
    assert store.get_bytes("k") == b"old"
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["k"]


def test_a_file_artifact_is_stored_by_its_sha256(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data = tmp_path / "model.bin"
    data.write_bytes(b"weights" * 1000)
    ref = put_artifact(store, data)
    assert ref == ObjectRef(hashlib.sha256(data.read_bytes()).hexdigest())
    assert store.exists(object_key(ref))
    get_artifact(store, ref, tmp_path / "in" / "model")
    assert (tmp_path / "in" / "model").read_bytes() == data.read_bytes()


def make_tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "deeper" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "sub" / "deeper" / "run.sh").chmod(0o755)
    (root / "empty").mkdir()


def test_a_nested_directory_round_trips_with_its_modes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    make_tree(tmp_path / "tree")
    ref = put_artifact(store, tmp_path / "tree")
    assert ref.directory and store.exists(object_key(ref))
    get_artifact(store, ref, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "a.txt").read_text() == "A"
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 10
    assert os.access(out / "sub" / "deeper" / "run.sh", os.X_OK)
    assert (out / "empty").is_dir()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_identical_content_is_stored_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for name in ("one", "two"):
        make_tree(tmp_path / name)
        os.utime(tmp_path / name / "a.txt", (0, 1234567 if name == "one" else 7654321))  # times do not count
    first, second = put_artifact(store, tmp_path / "one"), put_artifact(store, tmp_path / "two")
    (tmp_path / "f1").write_text("same")
    (tmp_path / "f2").write_text("same")
    assert first == second
    assert put_artifact(store, tmp_path / "f1") == put_artifact(store, tmp_path / "f2")
    assert len(list(store.list("objects/"))) == 2


def test_a_stored_object_is_not_written_again(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "f").write_bytes(b"data" * (1 << 19))  # over SMALL_OBJECT: smaller files are simply rewritten
    ref = put_artifact(store, tmp_path / "f")
    os.utime(store.path(object_key(ref)), (1, 1))
    put_artifact(store, tmp_path / "f")
    assert store.path(object_key(ref)).stat().st_mtime == 1


def test_a_link_in_an_artifact_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a").write_text("x")
    os.symlink("/etc/passwd", tmp_path / "tree" / "passwd")
    with pytest.raises(ArtifactError, match=r"holds a symbolic link \(passwd\).*may hold only files and folders"):
        put_artifact(LocalStore(tmp_path / "store"), tmp_path / "tree")


def test_a_sparse_file_stays_sparse_in_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    (tmp_path / "tree").mkdir()
    with open(tmp_path / "tree" / "big", "wb") as file:
        file.write(b"head")
        file.truncate(64 << 20)
    for artifact in (tmp_path / "tree", tmp_path / "tree" / "big"):
        ref = put_artifact(store, artifact)
        on_disk = store.path(object_key(ref)).stat()
        assert on_disk.st_size >= 64 << 20 and on_disk.st_blocks * 512 < 4 << 20  # not 64 MiB
        get_artifact(store, ref, tmp_path / "out" / ref.digest)
        copy = tmp_path / "out" / ref.digest / ("big" if ref.directory else "")
        assert copy.stat().st_blocks * 512 < 4 << 20
        with open(copy, "rb") as file:
            assert file.read(8) == b"head\0\0\0\0"


def tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def unsafe(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, link
    return member


@pytest.mark.parametrize(
    "member, problem",
    [
        (unsafe("../escaped"), "unsafe name '../escaped'"),
        (unsafe("/tmp/escaped"), "unsafe name '/tmp/escaped'"),
        (unsafe("a/../../escaped"), "unsafe name"),
        (unsafe("link", tarfile.SYMTYPE, "/etc/passwd"), "'link', which is not a file or folder"),
        (unsafe("hard", tarfile.LNKTYPE, "/etc/passwd"), "'hard', which is not a file or folder"),
        (unsafe("dev", tarfile.CHRTYPE), "'dev', which is not a file or folder"),
        (unsafe("fifo", tarfile.FIFOTYPE), "'fifo', which is not a file or folder"),
    ],
)
def test_an_unsafe_tar_is_refused(tmp_path: Path, member: tarfile.TarInfo, problem: str) -> None:
    store = LocalStore(tmp_path / "store")
    data = tar_with(member, b"evil")
    ref = ObjectRef(hashlib.sha256(data).hexdigest(), directory=True)
    store.put_bytes(object_key(ref), data)
    (tmp_path / "work").mkdir()
    with pytest.raises(ArtifactError, match=problem):
        get_artifact(store, ref, tmp_path / "work" / "in" / "d")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "work" / "escaped").exists()
    assert list((tmp_path / "work" / "in").iterdir()) == []  # nothing half-extracted left behind


def test_values_are_stored_by_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    ref = put_value(store, b"x" * 100_000)
    assert put_value(store, b"x" * 100_000) == ref
    assert get_value(store, ref) == b"x" * 100_000
