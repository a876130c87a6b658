"""Upload and download throughput of kubeline.store against boto3's own, on the same MinIO.

    python benchmarks/store_bench.py [--repeat 3]

Measures one 100 MB file, and 1,000 files of 1 KiB each, both as one directory artifact
(put_artifact/get_artifact: a deterministic tar) and as 1,000 separate objects, through kubeline.store;
then boto3's plain upload_file/download_file (its default transfer settings) on the same data. Each
figure is the median of --repeat rounds; objects are deleted between rounds so every upload uploads.

The MinIO: KUBELINE_BENCH_S3_ENDPOINT with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set; otherwise
the MinIO binary at $KUBELINE_MINIO, or one built with `go install` into $KUBELINE_CACHE/bin (about
two minutes, once), started on 127.0.0.1 for the benchmark and stopped after it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeline.store import ObjectRef, get_artifact, put_artifact
from kubeline.store.s3 import S3Store

MINIO_MODULE = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
BIG = 100 << 20
SMALL, SMALL_COUNT = 1024, 1000


def minio_binary() -> Path:
    given = os.environ.get("KUBELINE_MINIO")
    if given:
        return Path(given)
    cache = Path(os.environ.get("KUBELINE_CACHE") or Path.home() / ".cache" / "kubeline") / "bin"
    binary = cache / f"minio-{MINIO_MODULE.rpartition('@')[2]}" / "minio"
    if not binary.is_file():
        print(f"building MinIO into {binary.parent} (about two minutes, once)")
        env = {**os.environ, "GOBIN": str(binary.parent)}
        subprocess.run(["go", "install", "-trimpath", "-ldflags", "-s -w", MINIO_MODULE], check=True, env=env)
    return binary


@contextmanager
def minio() -> Iterator[str]:
    """The endpoint of a MinIO to measure against, with AWS_* credentials set for boto3."""
    if os.environ.get("KUBELINE_BENCH_S3_ENDPOINT"):
        yield os.environ["KUBELINE_BENCH_S3_ENDPOINT"]
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(AWS_ACCESS_KEY_ID="kubeline-bench", AWS_SECRET_ACCESS_KEY="kubeline-bench-secret")
    env = {**os.environ, "MINIO_ROOT_USER": "kubeline-bench", "MINIO_ROOT_PASSWORD": "kubeline-bench-secret"}
    with tempfile.TemporaryDirectory(prefix="kubeline-minio-") as data:
        argv = [
            str(minio_binary()),
            "server",
            data,
            "--address",
            f"127.0.0.1:{port}",
            "--console-address",
            "127.0.0.1:0",
        ]
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{endpoint}/minio/health/live", timeout=1)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            yield endpoint
        finally:
            process.terminate()
            process.wait(timeout=30)


def timed(rounds: int, before: Callable[[], None], action: Callable[[], object]) -> float:
    """The median seconds of ``action`` over ``rounds``, ``before`` run (untimed) ahead of each."""
    times = []
    for _ in range(rounds):
        before()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    rounds = parser.parse_args().repeat
    with minio() as endpoint, tempfile.TemporaryDirectory(prefix="kubeline-bench-") as temp:
        work = Path(temp)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        store = S3Store(bucket, "kubeline", endpoint=endpoint, path_style=True)
        client = store.client
        client.create_bucket(Bucket=bucket)

        def empty() -> None:
            keys = [o.key for o in store.list("")]
            store.delete(keys)
            (work / "down").unlink(missing_ok=True)
            for folder in (work / "down-dir", work / "down-files"):
                shutil.rmtree(folder, ignore_errors=True)
            (work / "down-files").mkdir()

        big = work / "big.bin"
        with open(big, "wb") as out:
            for _ in range(BIG >> 20):
                out.write(os.urandom(1 << 20))
        small = work / "small"
        small.mkdir()
        for i in range(SMALL_COUNT):
            (small / f"f{i:04}").write_bytes(os.urandom(SMALL))
        files = sorted(small.iterdir())

        rows: list[tuple[str, float, float, int]] = []  # what, upload s, download s, bytes

        def measure(what: str, up: Callable[[], object], down: Callable[[], object], size: int) -> None:
            upload = timed(rounds, empty, up)

            def fresh_upload() -> None:
                empty()
                up()

            download = timed(rounds, fresh_upload, down)
            rows.append((what, upload, download, size))

        refs: dict[str, ObjectRef] = {}
        file_refs: list[ObjectRef] = []

        def put_files() -> None:
            file_refs[:] = [put_artifact(store, path) for path in files]

        def get_files() -> None:
            for ref in file_refs:
                get_artifact(store, ref, work / "down-files" / ref.digest)

        def raw_put_files() -> None:
            for path in files:
                client.upload_file(str(path), bucket, f"kubeline/raw/{path.name}")

        def raw_get_files() -> None:
            for path in files:
                client.download_file(bucket, f"kubeline/raw/{path.name}", str(work / "down-files" / path.name))

        measure(
            "100 MB file, kubeline.store",
            lambda: refs.update(big=put_artifact(store, big)),
            lambda: get_artifact(store, refs["big"], work / "down"),
            BIG,
        )
        measure(
            "100 MB file, boto3 upload_file/download_file",
            lambda: client.upload_file(str(big), bucket, "kubeline/raw/big"),
            lambda: client.download_file(bucket, "kubeline/raw/big", str(work / "down")),
            BIG,
        )
        measure(
            "1,000 x 1 KiB as one directory artifact, kubeline.store",
            lambda: refs.update(dir=put_artifact(store, small)),
            lambda: get_artifact(store, refs["dir"], work / "down-dir"),
            SMALL * SMALL_COUNT,
        )
        measure("1,000 x 1 KiB as 1,000 objects, kubeline.store", put_files, get_files, SMALL * SMALL_COUNT)
        measure(
            "1,000 x 1 KiB as 1,000 objects, boto3 upload_file/download_file",
            raw_put_files,
            raw_get_files,
            SMALL * SMALL_COUNT,
        )
        print(f"MinIO at {endpoint}, median of {rounds} rounds, sequential (one file after another)")
        print(f"{'':64} {'upload':>16} {'download':>16}")
        for what, upload, download, size in rows:
            print(f"{what:64} {_rate(size, upload, what):>16} {_rate(size, download, what):>16}")


def _rate(size: int, seconds: float, what: str) -> str:
    if what.startswith("1,000"):
        return f"{SMALL_COUNT / seconds:,.0f} files/s"
    return f"{size / seconds / 1e6:,.0f} MB/s"


if __name__ == "__main__":
    main()
