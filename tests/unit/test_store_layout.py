"""The store's key layout and the texts runs and caches record: pure, the same for every backend."""

from __future__ import annotations

import pytest

from kubeline.store.layout import CacheRecord, ObjectRef, cache_record_key, log_key, object_key, ref_of_key

HEX = "ab" + "0" * 62


def test_a_ref_is_written_and_read_back() -> None:
    assert str(ObjectRef(HEX)) == f"sha256:{HEX}"
    assert str(ObjectRef(HEX, directory=True)) == f"sha256:{HEX}/"
    assert ObjectRef.parse(f"sha256:{HEX}") == ObjectRef(HEX)
    assert ObjectRef.parse(f"sha256:{HEX}/") == ObjectRef(HEX, directory=True)


@pytest.mark.parametrize(
    "text",
    [
        "/home/me/.kubeline/runs/r/steps/a/attempt-1/outputs/d",  # a path, as the local runner recorded before
        f"sha256:{HEX[:-1]}",
        f"sha256:{HEX}0",
        f"sha256:{HEX.upper()}",
        f"SHA256:{HEX}",
        f"sha256:{HEX}//",
        f" sha256:{HEX}",
        f"sha256:{HEX}\n",
        "hello",
    ],
)
def test_text_that_is_not_exactly_a_ref_is_none(text: str) -> None:
    assert ObjectRef.parse(text) is None


def test_a_digest_must_be_64_lowercase_hex() -> None:
    with pytest.raises(ValueError, match="64 lowercase hex"):
        ObjectRef("abc")


def test_keys_follow_the_documented_layout() -> None:
    assert object_key(ObjectRef(HEX)) == f"objects/sha256/ab/{HEX}"
    assert object_key(ObjectRef(HEX, directory=True)) == f"objects/sha256/ab/{HEX}.tar"
    assert cache_record_key("c" * 64) == f"cache/{'c' * 64}.json"
    assert log_key("team-a", "train-1", "loop[2].train", 3) == "logs/team-a/train-1/loop_2.train/attempt-3.log"


@pytest.mark.parametrize("ref", [ObjectRef(HEX), ObjectRef(HEX, directory=True)])
def test_an_object_key_reads_back_as_its_ref(ref: ObjectRef) -> None:
    assert ref_of_key(object_key(ref)) == ref


@pytest.mark.parametrize("key", [f"objects/sha256/cd/{HEX}", f"cache/{HEX}.json", f"objects/sha256/ab/{HEX}.zip"])
def test_other_keys_are_no_objects(key: str) -> None:
    assert ref_of_key(key) is None


def test_a_cache_key_that_is_not_a_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="cache key"):
        cache_record_key("../../etc/passwd")


@pytest.mark.parametrize("namespace, run", [("", "r"), ("a/b", "r"), ("ns", ".."), ("ns", "")])
def test_a_log_key_never_climbs_out_of_its_folder(namespace: str, run: str) -> None:
    with pytest.raises(ValueError, match="without '/'"):
        log_key(namespace, run, "a", 1)


def test_a_cache_record_round_trips_through_json() -> None:
    record = CacheRecord(
        cache_key="c" * 64,
        component="train",
        outputs={"model": f"sha256:{HEX}/", "score": "0.9", "big": f"sha256:{HEX}"},
        created_at=1700000000.5,
        large_values=["big"],
    )
    assert CacheRecord.from_json(record.to_json()) == record
    assert record.refs() == {ObjectRef(HEX, directory=True), ObjectRef(HEX)}


@pytest.mark.parametrize(
    "text, field",
    [
        ("[]", "not a JSON object"),
        ('{"component": "c", "outputs": {}, "createdAt": 1}', "cacheKey"),
        ('{"cacheKey": "k", "component": "c", "outputs": {"a": 1}, "createdAt": 1}', "outputs"),
        ('{"cacheKey": "k", "component": "c", "outputs": {}, "createdAt": true}', "createdAt"),
        ('{"cacheKey": "k", "component": "c", "outputs": {}, "createdAt": 1, "largeValues": "a"}', "largeValues"),
        ("{", "not JSON"),
    ],
)
def test_a_malformed_cache_record_names_its_problem(text: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CacheRecord.from_json(text)
