"""The data path's added per-step overhead on the real nodes: kubeline's container beside the user's, against
today's volume (no store).

    python benchmarks/datapath_bench.py [--pods 20] [--seconds 0 2]

Starts a control plane with the two real nodes and MinIO (hack/cluster up --with-node, hack/cluster store) in a
temporary directory, imports kubeline's image (hack/image/build operator), then creates step pods exactly as
the operator renders them (controller.pods.render_pod), one after another, in three ways:

- volume: no store, the step's values in the termination message (today's default);
- store: kubeline's container uploads the log and the values, and writes the cache record;
- store + artifacts: also downloads a 1 MiB input artifact before the command and uploads a 1 MiB output.

The command records time.time() when it starts and when it ends (the containers share the host's clock), so:
  start overhead = pod created -> user command started;   end overhead = user command ended -> pod Succeeded.
Each kind runs with a command of 0 s and of 2 s (--seconds): after a command that ends at once, kubeline's
container may still be starting (its S3 client, mostly); after one of a few seconds it is ready and waiting.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client, config

from kubeline.controller.config import OperatorConfig, StoreCredentials, StoreLocation
from kubeline.controller.pods import PodStore, RunRef, read_pod, render_pod
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import decide
from kubeline.engine.state import RunState, StartStep, StepState
from kubeline.store.objects import put_artifact
from kubeline.store.urls import open_store

ROOT = Path(__file__).resolve().parents[1]
ON_NODE = {
    "nodeSelector": {"kubernetes.io/hostname": "kubeline-node-0"},
    "tolerations": [{"key": "kubeline.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}],
}
TIMED = "import sys, time; open(sys.argv[-2], 'w').write(repr(time.time())); {work}; time.sleep({seconds}); open(sys.argv[-1], 'w').write(repr(time.time()))"
COPY = "import shutil; shutil.copy(sys.argv[1], sys.argv[2])"


def component(with_artifacts: bool, seconds: float) -> dict[str, Any]:
    inputs = [{"name": "data", "type": "artifact"}] if with_artifacts else []
    outputs = [{"name": "model", "type": "artifact"}] if with_artifacts else []
    paths = ["{{inputs.data.path}}", "{{outputs.model.path}}"] if with_artifacts else []
    return {
        "name": "timed",
        "inputs": inputs,
        "outputs": [*outputs, {"name": "started", "type": "number"}, {"name": "ended", "type": "number"}],
        "container": {
            "image": "python:3.11-slim",
            "command": ["python3", "-c", TIMED.format(work=COPY if with_artifacts else "pass", seconds=seconds)],
            "args": [*paths, "{{outputs.started.path}}", "{{outputs.ended.path}}"],
        },
    }


def start_of(with_artifacts: bool, data_ref: str, seconds: float) -> StartStep:
    components = [component(with_artifacts, seconds)]
    tasks: list[dict[str, Any]] = [{"name": "t", "component": "timed", **ON_NODE}]
    state = RunState(started_at=0)
    if with_artifacts:
        components.append({"name": "p", "outputs": [{"name": "data", "type": "artifact"}], "container": {"image": "x"}})
        tasks[0]["arguments"] = {"data": "{{tasks.p.outputs.data}}"}
        tasks.append({"name": "p", "component": "p"})
        state.steps["p"] = StepState("Succeeded", outputs={"data": data_ref}, cache_key="0" * 64)
    spec = {"components": components, "tasks": tasks, "defaults": {"caching": {"enabled": False}}}
    plan = build(load_spec(spec))
    return next(s for s in decide(plan, {}, state, 0).start if s.id == "t")


def time_pod(
    core: client.CoreV1Api, namespace: str, run: RunRef, start: StartStep, cfg: OperatorConfig
) -> tuple[float, float]:
    pod = render_pod(run, start, cfg, uses_artifacts=False)
    pod["metadata"]["name"] = f"b-{uuid.uuid4().hex[:8]}"
    del pod["metadata"]["ownerReferences"]  # no Run here: the garbage collector would take an orphan
    created = time.time()
    core.create_namespaced_pod(namespace, pod)
    while True:
        body = core.read_namespaced_pod(pod["metadata"]["name"], namespace)
        if body.status.phase in ("Succeeded", "Failed"):
            finished = time.time()
            outcome = read_pod(client.ApiClient().sanitize_for_serialization(body), start.component)
            if outcome.phase != "Succeeded":
                raise SystemExit(f"the benchmark's step failed: {outcome.message}")
            started, ended = float(outcome.outputs["started"]), float(outcome.outputs["ended"])
            core.delete_namespaced_pod(pod["metadata"]["name"], namespace)
            return started - created, finished - ended
        time.sleep(0.02)


def report(label: str, samples: list[tuple[float, float]], baseline: tuple[float, float] | None) -> tuple[float, float]:
    """Means: the kubelet sees a container end at its next relist (every second), so a median of a few pods
    lands anywhere in that second; the mean of many is what a step pays on average."""
    start = statistics.mean(s for s, _ in samples)
    end = statistics.mean(e for _, e in samples)
    added = ""
    if baseline is not None:
        added = f"   added: start {1000 * (start - baseline[0]):+5.0f} ms, end {1000 * (end - baseline[1]):+5.0f} ms"
    print(
        f"  {label:<18} created -> command started {1000 * start:5.0f} ms, command ended -> Succeeded {1000 * end:5.0f} ms{added}"
    )
    return start, end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument(
        "--seconds", type=float, nargs="+", default=[0, 2], help="how long each step's command runs (default: 0 2)"
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kubeline-datapath-bench-"))
    cluster = [sys.executable, str(ROOT / "hack" / "cluster")]
    where = ["--state-dir", str(state)]
    try:
        subprocess.run([*cluster, "up", "--with-node", *where], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*cluster, "store", *where], check=True, stdout=subprocess.DEVNULL)
        facts = json.loads((state / "store.json").read_text())
        subprocess.run([str(ROOT / "hack" / "image" / "build"), "operator"], check=True, stdout=subprocess.DEVNULL)
        image = subprocess.run(
            [
                sys.executable,
                "-c",
                "import runpy; m = runpy.run_path('hack/image/build'); print(m['archive_path']('operator'), m['IMAGES']['operator']['name'])",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        subprocess.run([*cluster, "load", image[0], *where], check=True, stdout=subprocess.DEVNULL)
        os.environ.update(AWS_ACCESS_KEY_ID=facts["accessKey"], AWS_SECRET_ACCESS_KEY=facts["secretKey"])
        import boto3

        boto3.client("s3", endpoint_url=facts["endpoint"], region_name="us-east-1").create_bucket(Bucket="bench")
        source = state / "data.bin"
        source.write_bytes(os.urandom(1024 * 1024))
        data_ref = str(put_artifact(open_store(f"s3://bench?endpoint={facts['endpoint']}&pathStyle=true"), source))

        api = config.new_client_from_config(str(state / "kubeconfig"))
        client.Configuration.set_default(api.configuration)
        core = client.CoreV1Api(api)
        namespace = "bench"
        core.create_namespace({"metadata": {"name": namespace}})
        while not core.list_namespaced_service_account(namespace).items:
            time.sleep(0.2)
        core.create_namespaced_secret(
            namespace,
            {
                "metadata": {"name": "s3"},
                "stringData": {"AWS_ACCESS_KEY_ID": facts["accessKey"], "AWS_SECRET_ACCESS_KEY": facts["secretKey"]},
            },
        )
        location = StoreLocation(
            bucket="bench",
            endpoint=facts["podEndpoint"],
            path_style=True,
            credentials_secret=StoreCredentials(secret_name="s3"),
        )
        cfg = OperatorConfig.model_validate({"dataContainer": {"image": image[1]}})
        volume_run = RunRef(name="bench", namespace=namespace, uid="none")
        store_run = RunRef(name="bench", namespace=namespace, uid="none", store=PodStore(location))
        for warm in (volume_run, store_run):  # the first pod of each image pays for its first start
            time_pod(core, namespace, warm, start_of(False, data_ref, 0), cfg)
        for seconds in args.seconds:
            plain, with_files = start_of(False, data_ref, seconds), start_of(True, data_ref, seconds)
            print(f"{args.pods} pods of each kind, command running {seconds:g} s, on kubeline-node-0 (means)")
            baseline = report(
                "volume", [time_pod(core, namespace, volume_run, plain, cfg) for _ in range(args.pods)], None
            )
            report("store", [time_pod(core, namespace, store_run, plain, cfg) for _ in range(args.pods)], baseline)
            files = [time_pod(core, namespace, store_run, with_files, cfg) for _ in range(args.pods)]
            report("store + artifacts", files, baseline)
    finally:
        subprocess.run([*cluster, "down", *where], capture_output=True)


if __name__ == "__main__":
    main()
