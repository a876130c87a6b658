"""A store in a local directory: each key a file under the root, written atomically."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import BinaryIO, TypeVar

from kubeline.store.base import MissingObject, ObjectStore, StoredObject, StoreError

_T = TypeVar("_T")
#: Temporary files of writes in progress start with this; listing skips them.
TEMP_PREFIX = ".tmp-"


class LocalStore(ObjectStore):
    """Keys are files under ``root``; a write goes to a temporary file in the key's folder and is renamed,
    so a reader never sees half an object and two writers of one key leave one whole copy."""

    def __init__(self, root: Path):
        self.root = root.absolute()
        self.url = self.root.as_uri()

    def path(self, key: str) -> Path:
        """The file of a key; a key is relative and never climbs out of the root."""
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts):
            raise StoreError(f"{key!r} is not a key of {self.url}: a key is a relative path without '.' or '..' parts")
        return self.root.joinpath(*parts)

    def put_file(self, key: str, path: Path) -> None:
        def upload() -> None:
            with open(path, "rb") as source:
                self._write(key, lambda out: copy_sparse(source, out))

        self._guard(f"upload {path} to", key, upload)

    def put_bytes(self, key: str, data: bytes) -> None:
        self._guard("write", key, lambda: self._write(key, lambda out: out.write(data)))

    def get_file(self, key: str, path: Path) -> None:
        def download() -> None:
            with self._open(key) as source:
                atomic_write(path, lambda out: copy_sparse(source, out))

        self._guard("download", key, download, to=path)

    def get_bytes(self, key: str) -> bytes:
        def read() -> bytes:
            with self._open(key) as source:
                return source.read()

        return self._guard("read", key, read)

    def _open(self, key: str) -> BinaryIO:
        """The key's file, opened without blocking and checked to be a regular file: whatever else sits
        in a shared folder (a FIFO, a device) cannot hang a reader."""
        fd = os.open(self.path(key), os.O_RDONLY | os.O_NONBLOCK)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a special file"
            raise OSError(f"it is {kind}, not a regular file")
        return os.fdopen(fd, "rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> Iterator[StoredObject]:
        folder = prefix.rpartition("/")[0]
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        for directory, _, files in os.walk(start):
            for name in sorted(files):
                full = Path(directory) / name
                key = full.relative_to(self.root).as_posix()
                if not key.startswith(prefix) or name.startswith(TEMP_PREFIX):
                    continue
                try:
                    info = full.stat()
                except FileNotFoundError:  # deleted while listed
                    continue
                yield StoredObject(key, info.st_size, info.st_mtime)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._guard("delete", key, partial(self.path(key).unlink, missing_ok=True))

    def _write(self, key: str, write: Callable[[BinaryIO], object]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, write)

    def _guard(self, action: str, key: str, operation: Callable[[], _T], to: Path | None = None) -> _T:
        """``operation``'s result; an OSError becomes a StoreError naming the key (a missing key: MissingObject)."""
        try:
            return operation()
        except FileNotFoundError as error:
            if action in ("download", "read") and not self.path(key).is_file():
                raise MissingObject(f"cannot {action} {self.where(key)}: no such object") from None
            raise StoreError(f"cannot {action} {self.where(key)}{_to(to)}: {error}") from None
        except OSError as error:
            raise StoreError(f"cannot {action} {self.where(key)}{_to(to)}: {error.strerror or error}") from None


def _to(path: Path | None) -> str:
    return f" to {path}" if path else ""


def atomic_write(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``target`` through a temporary file in its folder, renamed into place; removed on failure."""
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a shared store's objects from its other readers
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def copy_sparse(reader: BinaryIO, writer: BinaryIO) -> None:
    """Copy only the file's data segments (SEEK_DATA/SEEK_HOLE): a sparse file written by a step
    (``truncate -s 50G``) takes no more disk in the store than it did in the step's folder."""
    size = os.fstat(reader.fileno()).st_size
    position = 0
    while position < size:
        try:
            start = os.lseek(reader.fileno(), position, os.SEEK_DATA)
            end = os.lseek(reader.fileno(), start, os.SEEK_HOLE)
        except OSError as error:  # ENXIO: no data after position; otherwise holes are not reported here
            start, end = (size, size) if error.errno == errno.ENXIO else (position, size)
        if start >= size:
            break
        reader.seek(start)
        writer.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = reader.read(min(remaining, 1 << 20))
            if not chunk:
                break
            writer.write(chunk)
            remaining -= len(chunk)
        position = end
    writer.truncate(size)
