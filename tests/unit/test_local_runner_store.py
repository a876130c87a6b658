"""The local runner over the artifact store: artifacts cached and shared through it, logs read back from it."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from kubeline.backends.local import LocalRunner, RunResult, StoreCache
from kubeline.store import ObjectRef, cache_record_key, get_artifact, log_key
from kubeline.store.layout import LOCAL_LOG_NAMESPACE
from kubeline.store.local import LocalStore
from tests.helpers import kubeline, python_component
from tests.unit.simulate import plan_of

ROOT = Path(__file__).resolve().parents[2]
FILE_PASSING = ROOT / "examples" / "json-file-passing.yaml"

MAKE = python_component(
    "make",
    "import os, sys; os.makedirs(sys.argv[1]); open(os.path.join(sys.argv[1], 'data.bin'), 'wb').write(os.urandom(100_000))",
    outputs=[{"name": "data", "type": "artifact"}],
)
DIGEST = python_component(
    "digest",
    "import hashlib, os, sys; open(sys.argv[2], 'w').write(hashlib.sha256(open(os.path.join(sys.argv[1], 'data.bin'), 'rb').read()).hexdigest())",
    inputs=[{"name": "data", "type": "artifact"}],
    outputs=[{"name": "sha"}],
)
TASKS = [
    {"name": "make", "component": "make"},
    {
        "name": "digest",
        "component": "digest",
        "arguments": {"data": "{{tasks.make.outputs.data}}"},
        "caching": {"maxStaleness": "P0D"},  # runs every time: it reads whatever the producer passed
    },
]


def run(store: LocalStore, run_dir: Path) -> RunResult:
    plan = plan_of({"spec": {"components": [MAKE, DIGEST], "tasks": TASKS}})
    return LocalRunner(plan, {}, run_dir.name, run_dir=run_dir, cache=StoreCache(store)).run()


def stored_bytes(store: LocalStore, text: str, into: Path) -> bytes:
    ref = ObjectRef.parse(text)
    assert ref is not None, f"{text!r} is not an object ref"
    get_artifact(store, ref, into)
    return (into / "data.bin").read_bytes()


def test_a_cached_artifact_serves_the_consumer_the_same_bytes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    first = run(store, tmp_path / "r1")
    second = run(store, tmp_path / "r2")
    assert not first.state.steps["make"].cached and second.state.steps["make"].cached
    assert not second.state.steps["digest"].cached  # it ran, on the artifact the cache served
    data = stored_bytes(store, first.state.steps["make"].outputs["data"], tmp_path / "check")
    assert second.state.steps["digest"].outputs["sha"] == hashlib.sha256(data).hexdigest()
    assert second.state.steps["make"].outputs == first.state.steps["make"].outputs
    assert not (tmp_path / "r2" / "steps" / "make").exists()  # a hit starts no process


def test_two_run_folders_share_one_store(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    first = kubeline("run", str(FILE_PASSING), "--artifact-store", str(shared), "--json", home=tmp_path / "home-a")
    second = kubeline("run", str(FILE_PASSING), "--artifact-store", str(shared), "--json", home=tmp_path / "home-b")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    steps = {name: json.loads(out.stdout)["tasks"] for name, out in (("a", first), ("b", second))}
    assert [s["cached"] for s in steps["a"].values()] == [False, False]
    assert [s["cached"] for s in steps["b"].values()] == [True, True]
    assert steps["b"]["summarize"]["outputs"] == {"total": "30", "summary": '{"rows": 5, "max": 16}'}
    assert not (tmp_path / "home-a" / "store").exists() and not (tmp_path / "home-b" / "store").exists()


def test_the_default_store_is_under_kubeline_home(tmp_path: Path) -> None:
    result = kubeline("run", str(FILE_PASSING), "--name", "r1", home=tmp_path)
    assert result.returncode == 0, result.stderr
    store = LocalStore(tmp_path / "store")
    assert len(list(store.list("objects/"))) == 1
    assert len(list(store.list("cache/"))) == 2
    assert store.exists(log_key(LOCAL_LOG_NAMESPACE, "r1", "make-dataset", 1))


def test_kubeline_logs_reads_a_local_run_from_its_store(tmp_path: Path) -> None:
    assert kubeline("run", str(FILE_PASSING), "--name", "r1", "--no-cache", home=tmp_path).returncode == 0
    every = kubeline("logs", "r1", home=tmp_path)
    assert every.returncode == 0, every.stderr
    assert every.stdout.splitlines() == [
        "==> make-dataset <==",
        f"wrote 5 rows to {tmp_path}/runs/r1/steps/make-dataset/attempt-1/outputs/dataset",
        "==> summarize <==",
        "5 rows, total 30",
    ]
    one = kubeline("logs", "r1", "summarize", home=tmp_path)
    assert one.stdout.splitlines() == ["==> summarize <==", "5 rows, total 30"]


def test_a_retried_step_shows_its_latest_attempt(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    flaky = {
        "name": "flaky",
        "container": {"image": "x", "command": ["sh", "-c", 'echo "try $(ls .. | wc -l)"; [ -e ../attempt-2 ]']},
    }
    plan = plan_of(
        {"spec": {"components": [flaky], "tasks": [{"name": "f", "component": "flaky", "retries": {"limit": 2}}]}}
    )
    LocalRunner(plan, {}, "r1", run_dir=tmp_path / "runs" / "r1", store=store).run()
    (tmp_path / "runs" / "r1" / "run.json").write_text(json.dumps({"artifactStore": str(tmp_path / "store")}))
    assert store.get_bytes(log_key(LOCAL_LOG_NAMESPACE, "r1", "f", 1)) == b"try 1\n"
    result = kubeline("logs", "r1", home=tmp_path)
    assert result.stdout.splitlines() == ["==> f <==", "try 2"]


def test_an_artifact_store_that_is_no_url_is_refused(tmp_path: Path) -> None:
    result = kubeline("run", str(FILE_PASSING), "--artifact-store", "bucket/prefix", home=tmp_path)
    assert result.returncode == 2
    assert "--artifact-store" in result.stderr and "s3://BUCKET" in result.stderr
    credentials = kubeline("run", str(FILE_PASSING), "--artifact-store", "s3://key:secret@bucket", home=tmp_path)
    assert credentials.returncode == 2 and "never holds credentials" in credentials.stderr
    assert "secret" not in credentials.stderr.replace("AWS_SECRET_ACCESS_KEY", "")


def test_a_cache_record_is_what_a_cluster_run_would_read(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    result = run(store, tmp_path / "r1")
    key = result.state.steps["make"].cache_key
    assert key is not None
    record = json.loads(store.get_bytes(cache_record_key(key)))
    assert record["cacheKey"] == key and record["component"] == "make"
    assert record["outputs"] == result.state.steps["make"].outputs
    assert time.time() - record["createdAt"] < 60
