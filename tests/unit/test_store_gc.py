"""`kubeline gc` over a local store: what nothing uses goes, what a record, a root or the grace period keeps stays."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kubeline.store import CacheRecord, ObjectRef, cache_record_key, log_key, object_key, put_value
from kubeline.store.gc import collect
from kubeline.store.layout import LOCAL_LOG_NAMESPACE
from kubeline.store.local import LocalStore
from tests.helpers import kubeline

DAY = 86400.0
NOW = 1_800_000_000.0


def aged(store: LocalStore, key: str, seconds: float) -> None:
    os.utime(store.path(key), (NOW - seconds, NOW - seconds))


def value(store: LocalStore, text: str, age: float) -> ObjectRef:
    ref = put_value(store, text.encode())
    aged(store, object_key(ref), age)
    return ref


def record(store: LocalStore, key: str, refs: list[ObjectRef], age: float) -> None:
    outputs = {f"o{i}": str(ref) for i, ref in enumerate(refs)}
    store.put_bytes(cache_record_key(key), CacheRecord(key, "c", outputs, NOW - age).to_json().encode())
    aged(store, cache_record_key(key), age)


def test_collect_keeps_what_is_used_or_young_and_deletes_the_rest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    used = value(store, "used by a fresh record", 10 * DAY)
    only_old = value(store, "used by an expired record", 40 * DAY)
    unused = value(store, "used by nothing", 2 * DAY)
    young = value(store, "an upload not recorded yet", 600)
    rooted = value(store, "used by a live run", 90 * DAY)
    record(store, "a" * 64, [used], 5 * DAY)
    record(store, "b" * 64, [only_old, used], 31 * DAY)
    store.put_bytes(log_key(LOCAL_LOG_NAMESPACE, "old-run", "s", 1), b"old log")
    aged(store, log_key(LOCAL_LOG_NAMESPACE, "old-run", "s", 1), 45 * DAY)
    store.put_bytes(log_key(LOCAL_LOG_NAMESPACE, "new-run", "s", 1), b"new log")
    aged(store, log_key(LOCAL_LOG_NAMESPACE, "new-run", "s", 1), DAY)
    store.put_bytes("objects/sha256/zz/not-ours", b"x")
    aged(store, "objects/sha256/zz/not-ours", 90 * DAY)
    before = sorted(o.key for o in store.list(""))

    dry = collect(store, {rooted}, keep_seconds=30 * DAY, grace_seconds=3600, now=NOW, dry_run=True)
    assert sorted(o.key for o in store.list("")) == before
    report = collect(store, {rooted}, keep_seconds=30 * DAY, grace_seconds=3600, now=NOW)

    assert report.records == dry.records == [cache_record_key("b" * 64)]
    assert sorted(report.objects) == sorted(dry.objects) == sorted([object_key(only_old), object_key(unused)])
    assert report.logs == [log_key(LOCAL_LOG_NAMESPACE, "old-run", "s", 1)]
    for ref in (used, young, rooted):
        assert store.exists(object_key(ref))
    for ref in (only_old, unused):
        assert not store.exists(object_key(ref))
    assert store.exists(cache_record_key("a" * 64)) and store.exists(log_key(LOCAL_LOG_NAMESPACE, "new-run", "s", 1))
    assert store.exists("objects/sha256/zz/not-ours")
    assert report.freed_bytes > 0 and report.young_objects == 1


def test_an_unreadable_record_keeps_nothing_and_goes_when_old(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    orphan = value(store, "data", 10 * DAY)
    store.put_bytes(cache_record_key("c" * 64), b"{not json")
    aged(store, cache_record_key("c" * 64), 40 * DAY)
    report = collect(store, set(), keep_seconds=30 * DAY, grace_seconds=3600, now=NOW)
    assert report.records == [cache_record_key("c" * 64)] and report.objects == [object_key(orphan)]


def test_the_command_collects_a_store_after_a_run(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "json-file-passing.yaml"
    assert kubeline("run", str(example), home=tmp_path).returncode == 0
    store = LocalStore(tmp_path / "store")
    stray = object_key(ObjectRef("0" * 64))
    store.put_bytes(stray, b"left by a step that failed to record")
    os.utime(store.path(stray), (time.time() - 7200, time.time() - 7200))
    dry = kubeline("gc", "--dry-run", home=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert f"would delete {store.where(stray)}" in dry.stdout and store.exists(stray)
    done = kubeline("gc", home=tmp_path)
    assert "deleted 1 objects, 0 cache records and 0 logs" in done.stdout
    assert not store.exists(stray) and len(list(store.list("objects/"))) == 1  # the run's artifact stays
    expired = kubeline("gc", "--keep", "0s", "--grace", "0s", home=tmp_path)
    assert "deleted 1 objects, 2 cache records and 2 logs" in expired.stdout
    assert list(store.list("")) == []
    bad = kubeline("gc", "--keep", "forever", home=tmp_path)
    assert bad.returncode == 2 and "--keep" in bad.stderr


def test_logs_of_a_namespaces_deleted_runs_go_and_its_live_runs_logs_stay(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for run in ("live", "deleted"):
        store.put_bytes(log_key("team-a", run, "train", 1), b"log")
    store.put_bytes(log_key("team-b", "deleted", "train", 1), b"another namespace's")
    report = collect(store, set(), 86400, 0, time.time() + 1, cluster_runs={"team-a": {"live"}})
    assert report.logs == [log_key("team-a", "deleted", "train", 1)]
    assert store.exists(log_key("team-a", "live", "train", 1))
    assert store.exists(log_key("team-b", "deleted", "train", 1))
