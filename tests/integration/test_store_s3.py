"""The artifact store against a real MinIO: S3Store, artifacts through it, the local runner and gc over it."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tests.control_plane as shared
from kubeline.store import ObjectRef, StoreError, get_artifact, object_key, put_artifact
from kubeline.store.gc import collect
from kubeline.store.s3 import S3Store
from tests.helpers import kubeline

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

if not hasattr(shared, "minio"):  # until tests/control_plane.py provides the shared fixture

    @dataclass
    class LocalMinio:
        endpoint: str
        access_key: str
        secret_key: str

    @pytest.fixture(scope="module")
    def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMinio]:
        binary = os.environ.get("KUBELINE_MINIO", "/tmp/wt-store-bin/minio")
        if not Path(binary).is_file():
            pytest.skip(f"no MinIO binary at {binary} (set KUBELINE_MINIO)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = LocalMinio(f"http://127.0.0.1:{port}", "kubeline-test", "kubeline-test-secret")
        env = {**os.environ, "MINIO_ROOT_USER": server.access_key, "MINIO_ROOT_PASSWORD": server.secret_key}
        data = tmp_path_factory.mktemp("minio")
        argv = [binary, "server", str(data), "--address", f"127.0.0.1:{port}", "--console-address", "127.0.0.1:0"]
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{server.endpoint}/minio/health/live", timeout=1)
                    break
                except OSError:
                    if time.time() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def credentials(minio: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The MinIO's keys in boto3's standard environment variables, as a user would set them."""
    env = {"AWS_ACCESS_KEY_ID": minio.access_key, "AWS_SECRET_ACCESS_KEY": minio.secret_key}
    for name, text in env.items():
        monkeypatch.setenv(name, text)
    return env


@pytest.fixture
def bucket(minio: Any, credentials: dict[str, str]) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    S3Store(name, endpoint=minio.endpoint, path_style=True).client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def store(minio: Any, bucket: str) -> S3Store:
    return S3Store(bucket, "team-a/kubeline", endpoint=minio.endpoint, path_style=True)


def test_files_and_bytes_round_trip(store: S3Store, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("hello")
    store.put_file("a/in.txt", tmp_path / "in.txt")
    store.get_file("a/in.txt", tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "hello"
    store.put_bytes("a/b", b"bytes")
    assert store.get_bytes("a/b") == b"bytes"
    assert store.exists("a/b") and not store.exists("a/c")
    assert sorted(o.key for o in store.list("a/")) == ["a/b", "a/in.txt"]
    raw = store.client.list_objects_v2(Bucket=store.bucket)["Contents"]
    assert sorted(o["Key"] for o in raw) == ["team-a/kubeline/a/b", "team-a/kubeline/a/in.txt"]  # under the prefix
    store.delete(["a/b", "never/was"])
    assert [o.key for o in store.list("")] == ["a/in.txt"]


def test_a_directory_artifact_round_trips(store: S3Store, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_text("A")
    (tree / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    ref = put_artifact(store, tree)
    assert ref.directory and store.exists(object_key(ref))
    get_artifact(store, ref, tmp_path / "copy")
    assert (tmp_path / "copy" / "a.txt").read_text() == "A"
    assert (tmp_path / "copy" / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()


def test_identical_content_is_stored_once(store: S3Store, tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data").write_text("same bytes")
    refs = {put_artifact(store, tmp_path / name) for name in ("one", "two")}
    refs |= {put_artifact(store, tmp_path / name / "data") for name in ("one", "two")}
    assert len(refs) == 2
    assert len(list(store.list("objects/"))) == 2


def test_a_100_mb_file_round_trips(store: S3Store, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as out:
        for _ in range(100):
            out.write(os.urandom(1 << 20))
    ref = put_artifact(store, big)
    assert ref == ObjectRef(hashlib.sha256(big.read_bytes()).hexdigest())
    get_artifact(store, ref, tmp_path / "back.bin")
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).hexdigest() == ref.digest
    assert [o.size for o in store.list("objects/")] == [100 << 20]


def test_wrong_credentials_fail_fast_naming_bucket_and_key(
    minio: Any, bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = S3Store(bucket, "p", endpoint=minio.endpoint, path_style=True)
    (tmp_path / "f").write_text("x")
    for attempt in (lambda: put_artifact(wrong, tmp_path / "f"), lambda: wrong.get_bytes("cache/x.json")):
        started = time.monotonic()
        with pytest.raises(StoreError) as error:
            attempt()
        assert time.monotonic() - started < 5
        message = str(error.value)
        assert f"s3://{bucket}/p/" in message and minio.endpoint in message
        assert "check the store's credentials" in message and "not-the-secret" not in message


def test_an_unreachable_endpoint_fails_clearly(bucket: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(
        StoreError, match=f"cannot download s3://{bucket}/k at {closed}: .*check that the endpoint is reachable"
    ):
        S3Store(bucket, endpoint=closed, path_style=True).get_bytes("k")
    assert time.monotonic() - started < 15


def test_gc_deletes_what_nothing_uses(store: S3Store, tmp_path: Path) -> None:
    (tmp_path / "kept").write_text("kept")
    (tmp_path / "dropped").write_text("dropped")
    kept, dropped = put_artifact(store, tmp_path / "kept"), put_artifact(store, tmp_path / "dropped")
    report = collect(store, {kept}, keep_seconds=86400, grace_seconds=0, now=time.time() + 1)
    assert report.objects == [object_key(dropped)]
    assert store.exists(object_key(kept)) and not store.exists(object_key(dropped))


def test_the_local_runner_passes_files_through_s3(
    minio: Any, bucket: str, credentials: dict[str, str], tmp_path: Path
) -> None:
    url = f"s3://{bucket}/runs?endpoint={minio.endpoint}&pathStyle=true"
    example = ROOT / "examples" / "json-file-passing.yaml"
    first = kubeline(
        "run", str(example), "--artifact-store", url, "--json", "--name", "r1", home=tmp_path / "a", env=credentials
    )
    second = kubeline("run", str(example), "--artifact-store", url, "--json", home=tmp_path / "b", env=credentials)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    tasks = json.loads(first.stdout)["tasks"]
    assert tasks["summarize"]["outputs"]["total"] == "30"
    ref = ObjectRef.parse(tasks["make-dataset"]["outputs"]["dataset"])
    assert ref is not None
    store = S3Store(bucket, "runs", endpoint=minio.endpoint, path_style=True)
    get_artifact(store, ref, tmp_path / "dataset.json")
    assert len(json.loads((tmp_path / "dataset.json").read_text())["rows"]) == 5
    assert all(task["cached"] for task in json.loads(second.stdout)["tasks"].values())
    assert not (tmp_path / "a" / "store").exists()
    logs = kubeline("logs", "r1", "summarize", home=tmp_path / "a", env=credentials)
    assert logs.stdout.splitlines() == ["==> summarize <==", "5 rows, total 30"], logs.stderr
