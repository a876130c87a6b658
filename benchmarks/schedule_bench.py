"""RecurringRuns at scale: how late their Runs appear after the scheduled time.

    PYTHONPATH=operator python benchmarks/schedule_bench.py [--recurring 1000] [--minutes 2]

Starts its own control plane (tests/chaos/harness.ControlPlane) and `kubeline operator`, creates N
RecurringRuns firing every minute (cron `* * * * *`: all N fire at the same second, the worst case), and
watches Runs: lag = the time a Run is seen by the watch minus its scheduled time (annotation). The figures
cover the firings of --minutes whole minutes, after the RecurringRuns all exist.

The Runs refer to a Pipeline that does not exist, and the benchmark deletes each Run once it saw it: the figure
is the scheduler's (a daemon per RecurringRun waking, listing its Runs, creating one, writing its status), not
the cost of running thousands of Runs on two cores (each Run still gets its daemon, finalizer and first status
write). Goal: p99 under 2 s.

The operator runs without leader election: on a two-core machine the burst of a thousand firings (and their
thousand new Runs) starved the Lease's renewal thread past its 7 s renew deadline, and the leader exited as
designed; a lag measured across such restarts would be the restart's, not the scheduler's.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kubernetes import client, watch

from kubeline.api.constants import API_VERSION, GROUP, RECURRING_RUN_LABEL, SCHEDULED_TIME_ANNOTATION, VERSION

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harnesses are the tests' own: one copy for both

from tests.chaos.harness import ControlPlane  # noqa: E402
from tests.control_plane import Operator  # noqa: E402


def recurring_runs(count: int) -> str:
    """N RecurringRuns as one List document, for one kubectl apply."""
    items = [
        {
            "apiVersion": API_VERSION,
            "kind": "RecurringRun",
            "metadata": {"name": f"every-minute-{i}"},
            "spec": {"schedule": {"cron": "* * * * *"}, "template": {"spec": {"pipelineRef": {"name": "absent"}}}},
        }
        for i in range(count)
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def watch_runs(api: client.ApiClient, namespace: str, since: float, until: float, lags: list[float]) -> None:
    """Record the lag of every Run scheduled in [since, until) as the watch first sees it; delete it then."""
    custom = client.CustomObjectsApi(api)
    doomed: queue.Queue[str | None] = queue.Queue()

    def delete() -> None:
        while (name := doomed.get()) is not None:
            try:
                custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "runs", name)
            except client.ApiException:
                pass

    deleters = [threading.Thread(target=delete, daemon=True) for _ in range(4)]
    for deleter in deleters:
        deleter.start()
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "runs",
        label_selector=RECURRING_RUN_LABEL,
        timeout_seconds=int(until - time.time()) + 120,
    )
    try:
        record(stream, since, until, lags, doomed)
    finally:
        for _ in deleters:
            doomed.put(None)
        for deleter in deleters:
            deleter.join()


def record(stream: Any, since: float, until: float, lags: list[float], doomed: queue.Queue[str | None]) -> None:
    seen: set[str] = set()
    for event in stream:
        now = time.time()
        metadata = event["object"]["metadata"]
        if event["type"] != "ADDED" or metadata["name"] in seen:
            continue
        seen.add(metadata["name"])
        doomed.put(metadata["name"])
        scheduled = datetime.fromisoformat(metadata["annotations"][SCHEDULED_TIME_ANNOTATION].replace("Z", "+00:00"))
        if since <= scheduled.timestamp() < until:
            lags.append(now - scheduled.timestamp())
        if now > until + 60:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recurring", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kubeline-schedule-bench-"))
    plane = ControlPlane(state)
    operator = None
    try:
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/recurringruns.kubeline.dev")
        namespace = plane.namespace("sched")
        cluster = SimpleNamespace(env=dict(os.environ), kubeconfig=plane.kubeconfig)
        log = Path(tempfile.mkdtemp(prefix="kubeline-schedule-bench-log-")) / "operator.log"
        # alone, without leader election: see the module's docstring
        operator = Operator(cluster, namespace, log, args=["--no-leader-election"])
        operator.start()
        started = time.time()
        plane.kubectl("create", "-n", namespace, "-f", "-", input=recurring_runs(args.recurring))
        print(f"{args.recurring} RecurringRuns created in {time.time() - started:.1f} s")
        since = (time.time() // 60 + 1) * 60  # the first whole minute after they all exist
        until = since + 60 * args.minutes
        lags: list[float] = []
        watch_runs(plane.api, namespace, since, until, lags)
        expected = args.recurring * args.minutes
        alive = operator.process is not None and operator.process.poll() is None
        print(f"operator {'alive' if alive else 'DEAD'}; its log: {log}")
        lags.sort()
        print(f"Runs seen: {len(lags)} of {expected} expected ({args.minutes} minutes of firings)")
        if lags:
            p50 = statistics.median(lags)
            p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
            print(f"schedule lag (s): p50 {p50:.3f}  p99 {p99:.3f}  max {lags[-1]:.3f}  (goal: p99 < 2 s)")
    finally:
        if operator is not None:
            operator.kill()
        plane.stop()


if __name__ == "__main__":
    main()
