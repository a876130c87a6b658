"""Upload and download throughput of kubeline.store against boto3's own, on the same MinIO.

    python benchmarks/store_bench.py [--repeat 3]

Measures one 100 MB file, and 1,000 files of 1 KiB each, both as one directory artifact
(put_artifact/get_artifact: a deterministic tar) and as 1,000 separate objects, through kubeline.store;
then boto3's plain upload_file/download_file (its default transfer settings) on the same data. Each
figure is the median of --repeat rounds; objects are deleted between rounds so every upload uploads.

The MinIO: KUBELINE_BENCH_S3_ENDPOINT with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY when set; otherwise
one started by `hack/cluster store` (built from the Go module proxy once, with the cluster's binaries) in
a temporary folder, and stopped after it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeline.store import ObjectRef, get_artifact, put_artifact
from kubeline.store.s3 import S3Store

ROOT = Path(__file__).resolve().parents[1]
BIG = 100 << 20
SMALL, SMALL_COUNT = 1024, 1000


@contextmanager
def minio() -> Iterator[str]:
    """The endpoint of a MinIO to measure against, with AWS_* credentials set for boto3."""
    if os.environ.get("KUBELINE_BENCH_S3_ENDPOINT"):
        yield os.environ["KUBELINE_BENCH_S3_ENDPOINT"]
        return
    with tempfile.TemporaryDirectory(prefix="kubeline-bench-store-") as state:
        command = [sys.executable, str(ROOT / "hack" / "cluster"), "store", "--state-dir", state]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        try:
            facts = json.loads((Path(state) / "store.json").read_text())
            os.environ.update(AWS_ACCESS_KEY_ID=facts["accessKey"], AWS_SECRET_ACCESS_KEY=facts["secretKey"])
            yield facts["endpoint"]
        finally:
            subprocess.run([*command, "--stop"], stdout=subprocess.DEVNULL)


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
