"""The interface every store backend implements, and the errors a user sees from any of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


class StoreError(Exception):
    """A store operation failed: the message names the store, the bucket and key, and what went wrong."""


class MissingObject(StoreError):
    """The key holds no object."""


@dataclass
class StoredObject:
    key: str  # relative to the store's prefix
    size: int
    modified: float  # unix seconds


class ObjectStore(ABC):
    """Objects by key (``layout`` says which keys): files, bytes, listing and deletion.

    ``url`` says where the store is (``s3://bucket/prefix`` or ``file:///abs/path``) and never holds
    credentials. Every failure raises StoreError (MissingObject for a missing key)."""

    url: str

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None: ...

    @abstractmethod
    def get_file(self, key: str, path: Path) -> None:
        """Download to ``path`` atomically: a temporary file in its folder, renamed into place."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix`` (a plain string prefix, as S3 lists)."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete the keys; a key that holds nothing is not an error."""

    def where(self, key: str) -> str:
        """The full URL of a key, for messages."""
        return f"{self.url.rstrip('/')}/{key}"
