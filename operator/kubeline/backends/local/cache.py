"""The local runner's cache: the store's cache records, under the same keys and staleness rules as a cluster's.

A record (``cache/<key>.json``, ``store.layout.CacheRecord``) holds a step's values and, for its
artifacts, the refs of the stored objects, so a hit needs no copy and serves artifacts too; a record
written by a cluster run in the same store serves a local run, and the other way round.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from kubeline.engine import caching
from kubeline.engine.state import StartStep
from kubeline.engine.values import FILE_OUTPUT_TYPES
from kubeline.store import (
    CacheRecord,
    MissingObject,
    ObjectRef,
    ObjectStore,
    StoreError,
    cache_record_key,
    object_key,
)


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class StoreCache:
    """Step results as cache records in ``store``. A cache problem never fails a run: an unreadable or
    malformed record, or one whose objects are gone, is a miss (with a warning; the step runs again and
    its result replaces the record), and a result that cannot be recorded is only not cached (with a warning)."""

    def __init__(self, store: ObjectStore, warn: Callable[[str], None] = warn_on_stderr):
        self.store = store
        self.warn = warn
        self._warned: set[str] = set()

    def lookup(self, start: StartStep, now: float) -> tuple[dict[str, str], frozenset[str]] | None:
        """The outputs of a fresh record for the step's key (artifacts and large values as ObjectRef texts)
        and the names of its large values, or None."""
        if not caching.consulted(start):
            return None
        key = cache_record_key(start.cache_key)
        try:
            record = CacheRecord.from_json(self.store.get_bytes(key))
            if not caching.fresh(start, record.created_at, now):
                return None
            return self._outputs(record, start), frozenset(record.large_values)
        except MissingObject:
            return None
        except StoreError as error:
            problem = str(error)
        except ValueError as error:
            problem = f"{self.store.where(key)} is not a cache record ({error})"
        self._ignore(start, key, problem)
        return None

    def _outputs(self, record: CacheRecord, start: StartStep) -> dict[str, str]:
        """The component's outputs from the record; ValueError for one it lacks or whose object is gone."""
        outputs = {}
        for output in start.component.outputs or []:
            text = record.outputs.get(output.name)
            if text is None:
                raise ValueError(f"it has no output {output.name!r}")
            ref = ObjectRef.parse(text)
            if output.type in FILE_OUTPUT_TYPES or output.name in record.large_values:
                if ref is None:
                    raise ValueError(f"output {output.name!r} is {text[:100]!r}, not a stored object")
                if not self.store.exists(object_key(ref)):
                    raise ValueError(
                        f"the object of output {output.name!r} ({self.store.where(object_key(ref))}) is gone"
                    )
            outputs[output.name] = text
        return outputs

    def _ignore(self, start: StartStep, key: str, problem: str) -> None:
        if key not in self._warned:  # a waiting step is looked up again and again
            self._warned.add(key)
            self.warn(f"ignoring the cached result of step {start.id}: {problem}; the step runs again")

    def store_result(self, start: StartStep, outputs: dict[str, str], large_values: frozenset[str], now: float) -> None:
        """Record a succeeded step's outputs (its artifacts and large values already stored, as ObjectRef texts)."""
        if not start.caching_enabled:
            return
        record = CacheRecord(start.cache_key, start.component.name, dict(outputs), now, sorted(large_values))
        try:
            self.store.put_bytes(cache_record_key(start.cache_key), record.to_json().encode())
        except StoreError as error:
            self.warn(f"the result of step {start.id} was not cached: {error}")
