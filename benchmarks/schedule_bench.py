"""RecurringRuns at scale: how late their Runs appear after the scheduled time.

    PYTHONPATH=operator python benchmarks/schedule_bench.py [--recurring 1000] [--minutes 2] [--leader-election]

Starts its own control plane (tests/chaos/harness.ControlPlane) and `kubeline operator`, creates N
RecurringRuns firing every minute (cron `* * * * *`: all N fire at the same second, the worst case), and
watches Runs: lag = the time a Run is seen by the watch minus its scheduled time (annotation). The figures
cover the firings of --minutes whole minutes, after the RecurringRuns all exist.

Each Run fails at its first reconcile (an argument its one-step Pipeline does not have: no pod) and the next
trigger deletes it (failedRunsHistoryLimit 0): the figure is the scheduler's (a daemon per RecurringRun waking,
creating a Run, writing its status, deleting the previous one) plus each Run's one reconcile, not the cost of
running thousands of steps on two cores. Goal: p99 under 2 s.

The operator runs without leader election unless --leader-election: on a two-core machine the burst of a
thousand firings (and their thousand new Runs) has starved the Lease's renewal past its 7 s renew deadline, and
the leader exited as designed; a lag measured across such restarts would be the restart's, not the scheduler's.
The output says whether the operator was still alive at the end.
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
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from kubernetes import client, watch

from kubeline.api.constants import API_VERSION, GROUP, RECURRING_RUN_LABEL, SCHEDULED_TIME_ANNOTATION, VERSION

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harnesses are the tests' own: one copy for both

from tests.chaos.harness import ControlPlane  # noqa: E402
from tests.control_plane import Operator  # noqa: E402

#: What each Run runs: a Pipeline of one step, given an argument it does not have, so the Run fails at its first
#: reconcile (no pod, no retry) and the RecurringRun's failedRunsHistoryLimit of 0 deletes it at the next trigger.
PIPELINE = {
    "apiVersion": API_VERSION,
    "kind": "Pipeline",
    "metadata": {"name": "one-step"},
    "spec": {
        "components": [{"name": "step", "container": {"image": "busybox", "command": ["true"]}}],
        "tasks": [{"name": "step", "component": "step"}],
    },
}


def recurring_runs(count: int) -> str:
    """N RecurringRuns and their Pipeline as one List document, for one kubectl create."""
    items = [
        {
            "apiVersion": API_VERSION,
            "kind": "RecurringRun",
            "metadata": {"name": f"every-minute-{i}"},
            "spec": {
                "schedule": {"cron": "* * * * *"},
                "template": {"spec": {"pipelineRef": {"name": "one-step"}, "arguments": {"absent": 1}}},
                "failedRunsHistoryLimit": 0,
            },
        }
        for i in range(count)
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [PIPELINE, *items]})


def watch_runs(api: client.ApiClient, namespace: str, since: float, until: float, lags: list[float]) -> None:
    """Record the lag of every Run scheduled in [since, until) as the watch first sees it."""
    custom = client.CustomObjectsApi(api)
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "runs",
        label_selector=RECURRING_RUN_LABEL,
        timeout_seconds=int(until - time.time()) + 120,
    )
    seen: set[str] = set()
    for event in stream:
        now = time.time()
        metadata = event["object"]["metadata"]
        if event["type"] != "ADDED" or metadata["name"] in seen:
            continue
        seen.add(metadata["name"])
        scheduled = datetime.fromisoformat(metadata["annotations"][SCHEDULED_TIME_ANNOTATION].replace("Z", "+00:00"))
        if since <= scheduled.timestamp() < until:
            lags.append(now - scheduled.timestamp())
        if now > until + 60:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recurring", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=2)
    parser.add_argument(
        "--leader-election", action="store_true", help="run the operator as the chart does: behind a Lease"
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kubeline-schedule-bench-"))
    try:
        plane = ControlPlane(state)
    except Exception:  # up, but not ready (a CRD not yet established): take it down all the same
        subprocess.run([sys.executable, str(ROOT / "hack" / "cluster"), "down", "--state-dir", str(state)], check=False)
        raise
    operator = None
    try:
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/recurringruns.kubeline.dev")
        namespace = plane.namespace("sched")
        cluster = SimpleNamespace(env=dict(os.environ), kubeconfig=plane.kubeconfig)
        log = Path(tempfile.mkdtemp(prefix="kubeline-schedule-bench-log-")) / "operator.log"
        # alone, without leader election unless asked: see the module's docstring
        operator = Operator(cluster, namespace, log, args=[] if args.leader_election else ["--no-leader-election"])
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
