"""Artifacts and large values over a store, content-addressed: an object's key is the SHA-256 of its bytes.

A file is stored as it is. A directory is stored as a deterministic uncompressed tar (names sorted,
mtime 0, owner 0 and no owner names, modes kept), so the same files give the same object wherever and
whenever they were written, and identical artifacts are stored once. A directory may hold only files
and directories: a link could point anywhere on the machine that extracts it, so none is stored.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from kubeline.store.base import ObjectStore, StoreError
from kubeline.store.layout import ObjectRef, object_key

CHUNK = 1 << 20
#: Bytes up to which a file artifact is uploaded whole in one request, without asking whether it is stored.
SMALL_OBJECT = 1 << 20


class ArtifactError(StoreError):
    """An artifact cannot be stored or extracted as it is (a link, a device, an unsafe name in a tar)."""


def put_artifact(store: ObjectStore, path: Path) -> ObjectRef:
    """Store the file or directory at ``path`` (a link at the top is followed); skip the upload when the
    store already holds the same bytes, except for a file of at most SMALL_OBJECT bytes, whose upload is
    as cheap as that question (rewriting an object with its own bytes changes nothing)."""
    if path.is_dir():
        with tempfile.TemporaryDirectory(prefix="kubeline-tar-") as temp:
            tar_path = Path(temp) / "artifact.tar"
            with open(tar_path, "wb") as out:
                digest = write_tar(path, out)
            return _upload(store, ObjectRef(digest, directory=True), tar_path)
    try:
        with open(path, "rb") as source:
            head = source.read(SMALL_OBJECT + 1)
        if len(head) <= SMALL_OBJECT:
            ref = ObjectRef(hashlib.sha256(head).hexdigest())
            store.put_bytes(object_key(ref), head)  # one request: asking first whether it exists costs as much
            return ref
        digest = file_digest(path)
    except OSError as error:
        raise ArtifactError(f"cannot read the artifact {path}: {error.strerror or error}") from None
    return _upload(store, ObjectRef(digest), path)


def _upload(store: ObjectStore, ref: ObjectRef, path: Path) -> ObjectRef:
    key = object_key(ref)
    if not store.exists(key):
        store.put_file(key, path)
    return ref


def get_artifact(store: ObjectStore, ref: ObjectRef, path: Path) -> None:
    """Download the artifact to ``path`` (its parent folders made); a directory is extracted safely."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not ref.directory:
        store.get_file(object_key(ref), path)
        return
    with tempfile.TemporaryDirectory(prefix=".kubeline-tar-", dir=path.parent) as temp:
        tar_path = Path(temp) / "artifact.tar"
        store.get_file(object_key(ref), tar_path)
        extract_tar(tar_path, Path(temp) / "tree", source=store.where(object_key(ref)))
        os.replace(Path(temp) / "tree", path)


def put_value(store: ObjectStore, data: bytes) -> ObjectRef:
    ref = ObjectRef(hashlib.sha256(data).hexdigest())
    if not store.exists(object_key(ref)):
        store.put_bytes(object_key(ref), data)
    return ref


def get_value(store: ObjectStore, ref: ObjectRef) -> bytes:
    return store.get_bytes(object_key(ref))


def file_digest(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- deterministic tar ----------------------------------------------------------------------------------


class _HashingWriter:
    """A write-only file that hashes what passes through; tarfile's stream mode only ever writes.

    Blocks of zeros are skipped over rather than written (the file is truncated to its length at the
    end), so the tar of a sparse file takes no more disk than the file did."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.digest = hashlib.sha256()
        self.length = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.length += len(data)
        if data.count(0) == len(data):
            self.out.seek(len(data), os.SEEK_CUR)
        else:
            self.out.write(data)
        return len(data)

    def finish(self) -> None:
        self.out.truncate(self.length)


def write_tar(root: Path, out: BinaryIO) -> str:
    """Write the deterministic tar of directory ``root`` to the seekable file ``out``; its SHA-256."""
    writer = _HashingWriter(out)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]  # any object with write() will do
        for relative, full, info in _entries(root):
            member = tarfile.TarInfo(relative)
            member.mode = stat.S_IMODE(info.st_mode)
            member.mtime, member.uid, member.gid, member.uname, member.gname = 0, 0, 0, "", ""
            if stat.S_ISDIR(info.st_mode):
                member.type = tarfile.DIRTYPE
                tar.addfile(member)
                continue
            member.size = info.st_size
            with open(full, "rb") as source:
                tar.addfile(member, source)
    writer.finish()
    return writer.digest.hexdigest()


def _entries(root: Path) -> list[tuple[str, Path, os.stat_result]]:
    """Every directory and file below ``root``, sorted by relative POSIX name; ArtifactError for anything
    else (a link, a FIFO, a device)."""
    entries = []
    for directory, folders, files in os.walk(root, onerror=_raise):
        for name in folders + files:
            full = Path(directory) / name
            relative = full.relative_to(root).as_posix()
            info = os.lstat(full)
            if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                raise ArtifactError(
                    f"the artifact folder {root} holds {_kind(info.st_mode)} ({relative}); an artifact folder "
                    "may hold only files and folders: copy what a link points to into the folder instead"
                )
            entries.append((relative, full, info))
    return sorted(entries, key=lambda entry: entry[0])


def _raise(error: OSError) -> None:
    raise ArtifactError(f"cannot read the artifact folder {error.filename}: {error.strerror or error}")


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


# -- safe extraction -------------------------------------------------------------------------------------


def extract_tar(tar_path: Path, target: Path, source: str) -> None:
    """Extract a directory artifact's tar into the new folder ``target``: only files and folders with
    relative names that stay inside (no absolute names, no '..', no links, no devices). Folder modes are
    set last, deepest first, so a read-only folder still receives its files."""
    target.mkdir()
    folders: list[tuple[Path, int]] = []
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                destination = target.joinpath(*_safe_name(member, source).parts)
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    folders.append((destination, member.mode))
                elif member.isfile():
                    _extract_file(tar, member, destination)
                else:
                    raise ArtifactError(
                        f"the directory artifact {source} holds {member.name!r}, which is not a file or folder; "
                        "kubeline extracts only files and folders"
                    )
        for folder, mode in sorted(folders, key=lambda pair: len(pair[0].parts), reverse=True):
            os.chmod(folder, mode & 0o777)
    except (OSError, tarfile.TarError) as error:
        raise ArtifactError(f"cannot extract the directory artifact {source} into {target}: {error}") from None


def _extract_file(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    reader = tar.extractfile(member)
    assert reader is not None  # a regular file always has data
    with reader, open(destination, "xb") as out:  # "x": a name twice in one tar is refused
        while chunk := reader.read(CHUNK):
            if chunk.count(0) == len(chunk):  # a hole stays a hole
                out.seek(len(chunk), os.SEEK_CUR)
            else:
                out.write(chunk)
        out.truncate(member.size)
    os.chmod(destination, member.mode & 0o777)


def _safe_name(member: tarfile.TarInfo, source: str) -> PurePosixPath:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or not name.parts or name.parts == (".",):
        raise ArtifactError(
            f"the directory artifact {source} holds the unsafe name {member.name!r}; kubeline extracts only "
            "relative names that stay inside the artifact's folder"
        )
    return name
