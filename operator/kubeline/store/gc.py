"""Garbage collection: delete the objects nothing uses any more, and old cache records and local logs.

Roots are the cache records not older than ``keep`` and the refs the caller passes (on a cluster, those
of its Runs and CacheEntries). Records older than ``keep`` are deleted first, so what only they used goes
in the same pass. An object younger than ``grace`` survives whatever refers to it: it may be an upload
whose step has not recorded it yet. Logs of local runs older than ``keep`` go too, and, when the caller
names a cluster namespace's Runs, the logs of that namespace's Runs that no longer exist.

A known race: a step that finds its artifact already stored skips the upload, so an old object can gain
a new reference while a collection runs; the next lookup of that record finds the object gone and is a
miss (the step runs again). Collect while no run writes to the store to avoid even that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeline.store.base import MissingObject, ObjectStore, StoredObject
from kubeline.store.layout import (
    CACHE,
    LOCAL_LOG_NAMESPACE,
    OBJECTS,
    CacheRecord,
    ObjectRef,
    log_namespace_prefix,
    ref_of_key,
)

#: The logs of local runs: a cluster's logs are deleted with their Runs, not by age.
LOCAL_LOGS = log_namespace_prefix(LOCAL_LOG_NAMESPACE)


@dataclass
class GcReport:
    """What a collection deleted (or, with ``dry_run``, would delete), by key, and what it kept."""

    dry_run: bool
    records: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    kept_objects: int = 0
    young_objects: int = 0  # unreferenced but inside the grace period

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {len(self.objects)} objects, {len(self.records)} cache records and {len(self.logs)} logs "
            f"({self.freed_bytes:,} bytes); kept {self.kept_objects} objects in use and {self.young_objects} "
            "younger than the grace period"
        )


def collect(
    store: ObjectStore,
    roots: set[ObjectRef],
    keep_seconds: float,
    grace_seconds: float,
    now: float,
    *,
    dry_run: bool = False,
    cluster_runs: dict[str, set[str]] | None = None,
) -> GcReport:
    """``cluster_runs``: the names of the Runs of cluster namespaces: logs of their other (deleted) Runs go."""
    report = GcReport(dry_run)
    live = set(roots)
    for stored in store.list(CACHE):
        record = _record(store, stored)
        created = record.created_at if record else stored.modified
        if now - created > keep_seconds:
            _delete(store, report, report.records, stored)
        elif record:
            live |= record.refs()
    for stored in store.list(OBJECTS):
        ref = ref_of_key(stored.key)
        if ref is None or ref in live:  # a key kubeline did not write is never touched
            report.kept_objects += 1
        elif now - stored.modified < grace_seconds:
            report.young_objects += 1
        else:
            _delete(store, report, report.objects, stored)
    for stored in store.list(LOCAL_LOGS):
        if now - stored.modified > keep_seconds:
            _delete(store, report, report.logs, stored)
    for namespace, runs in (cluster_runs or {}).items():
        prefix = log_namespace_prefix(namespace)
        for stored in store.list(prefix):
            run = stored.key[len(prefix) :].split("/", 1)[0]
            if run not in runs and now - stored.modified > grace_seconds:
                _delete(store, report, report.logs, stored)
    return report


def _record(store: ObjectStore, stored: StoredObject) -> CacheRecord | None:
    """The record, or None when it is gone or unreadable (its age is then its object's; it keeps nothing alive)."""
    try:
        return CacheRecord.from_json(store.get_bytes(stored.key))
    except (MissingObject, ValueError):
        return None


def _delete(store: ObjectStore, report: GcReport, kind: list[str], stored: StoredObject) -> None:
    if not report.dry_run:
        store.delete([stored.key])
    kind.append(stored.key)
    report.freed_bytes += stored.size
