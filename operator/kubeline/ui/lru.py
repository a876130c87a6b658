"""A small least-recently-used map, safe across threads: the UI keeps a few costly results (a spec's plan, its
laid-out SVG) by a digest of their input, which is not hashable itself (functools.lru_cache needs it to be)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], V]) -> V:
        """The value kept for ``key``, else ``compute()`` kept (computed outside the lock: two threads asking
        for the same new key may both compute it; the last one is kept)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)
