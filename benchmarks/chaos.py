"""The fault-injection benchmark: many trials of what tests/chaos does a few times, and its figures.

    python benchmarks/chaos.py [--kills 100] [--deletions 10] [--nodes 3] [--restarts 3] [--silences 2]
                                [--load 50]

On a control plane of its own (hack/cluster, kwok nodes), with the harness of tests/chaos:
- operator SIGKILLs at random moments (1 to 6 s apart), restarted at once, while rounds of the mix
  (a 30-step chain, a 100-step fan-out with a join, conditions and loops, a failing step with retries and
  an exit handler, a cancelled run) go on, until --kills kills;
- step pods deleted from outside while running, with and without retries (--deletions), and the kwok node
  they run on deleted (--nodes: Kubernetes' pod garbage collector takes their pods 40 to 60 s later);
- kube-apiserver and etcd killed and started again mid-run (--restarts each): time until the operator
  creates a pod again;
- the operator's connections made to go silent mid-run (--silences): time until it creates a pod again;
- load: --load Runs of a 20-step pipeline at once: time to finish all, ERROR lines in the operator's log,
  the operator's RSS before and after.
Prints trials, survived, duplicates, lost, hung (and the other checks of tests/chaos/harness.Verdict).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness is the chaos tests' own: one copy for both

from tests.chaos.harness import (  # noqa: E402 - after the path above
    MIX,
    ROOT,
    ControlPlane,
    Operator,
    PodLedger,
    PodSeen,
    SilentProxy,
    Trial,
    Verdict,
    submit,
    take_away_and_wait,
    time_to_resume,
    wait_for_pod,
)

COLUMNS = ("runs", "survived", "duplicates", "lost", "hung", "should_not_have_run", "exit_handlers_wrong", "wrong")


def report(name: str, verdict: Verdict, extra: str = "") -> None:
    figures = "  ".join(f"{column}={getattr(verdict, column)}" for column in COLUMNS)
    print(f"{name:18} {figures}  {extra}", flush=True)
    for problem in verdict.problems[:20]:
        print(f"    {problem}", flush=True)


def sigkills(plane: ControlPlane, work: Path, kills_wanted: int) -> Verdict:
    namespace = plane.namespace("kills")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, work / "kills.log")
    operator.start()
    total, kills, rounds = Verdict(), 0, 0

    def kill() -> None:
        nonlocal kills
        if kills < kills_wanted:
            operator.kill()
            operator.start()
            kills += 1

    started = time.time()
    try:
        while kills < kills_wanted:
            trial = Trial(plane, namespace, ledger, submit(plane, namespace, MIX, f"r{rounds}"))
            trial.drive(time.time() + 600, kill, every=(1.0, 6.0))
            rounds += 1
            total.add(trial.verdict())
    finally:
        operator.kill()
        ledger.stop()
    report("operator SIGKILL", total, f"kills={kills} rounds={rounds} in {time.time() - started:.0f}s")
    return total


def taken_away(plane: ControlPlane, work: Path, trials: int, what: str) -> None:
    """Step pods taken away while they run (``what``: "pod" deleted, or their "node" deleted): the step with a
    retry left runs again, the one without fails saying why."""
    namespace = plane.namespace(what)
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, work / f"{what}.log")
    operator.start()
    retried = failed_saying_so = hung = 0
    reason = "the step's pod was deleted" if what == "pod" else "PodGC: node no longer exists"

    def take(pods: list[PodSeen]) -> None:
        if what == "pod":
            for pod in pods:
                plane.core.delete_namespaced_pod(pod.name, namespace)
        else:
            for node in {pod.node for pod in pods}:  # both pods may be on one node
                plane.core.delete_node(node)

    try:
        for index in range(trials):
            runs = submit(plane, namespace, ["long-retried", "long-once"], f"t{index}")
            trial = Trial(plane, namespace, ledger, runs)
            take_away_and_wait(plane, namespace, trial, ledger, take, tag=f"t{index}")
            if what == "node":
                plane.kubectl("apply", "-f", str(ROOT / "hack" / "kwok" / "nodes.yaml"))
            once = (trial.statuses.get(f"long-once-t{index}") or {}).get("tasks", {}).get("step") or {}
            retried += (f"long-retried-t{index}", "step", 2) in ledger.snapshot()
            failed_saying_so += once.get("phase") == "Failed" and reason in (once.get("message") or "")
            hung += not trial.finished()
    finally:
        operator.kill()
        ledger.stop()
    print(
        f"{what + ' taken away':18} trials={trials}  retried={retried}  failed_saying_why={failed_saying_so}  "
        f"hung={hung}",
        flush=True,
    )


def restarts(plane: ControlPlane, work: Path, component: str, times: int) -> None:
    namespace = plane.namespace(component.split("-")[-1])
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, work / f"{component}.log")
    operator.start()
    total, resumed = Verdict(), []
    try:
        for index in range(times):
            trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["twenty"], f"x{index}"))
            wait_for_pod(ledger, f"twenty-x{index}", "s1-0")
            plane.restart(component, down_seconds=3)
            resumed.append(time_to_resume(ledger, time.time()))
            trial.drive(time.time() + 300)
            total.add(trial.verdict())
    finally:
        operator.kill()
        ledger.stop()
    report(
        f"{component} restart",
        total,
        f"time to resume (s, to the second): median {statistics.median(resumed):.0f}, max {max(resumed):.0f}; "
        f"the leader exited (its Lease not renewed) and was started again {operator.exits} times",
    )


def silences(plane: ControlPlane, work: Path, times: int) -> None:
    """The operator's connections to the API server go silent mid-run (tests/chaos/test_silent_connections.py)."""
    namespace = plane.namespace("silent")
    ledger = PodLedger(plane, namespace)
    proxy = SilentProxy((plane.state / "server").read_text())
    operator = Operator(plane, namespace, work / "silent.log", proxy.kubeconfig(plane, work / "silent-kubeconfig"))
    operator.start()
    total, resumed = Verdict(), []
    try:
        for index in range(times):
            trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["twenty"], f"s{index}"))
            wait_for_pod(ledger, f"twenty-s{index}", "s1-0")
            silenced_at = time.time()
            proxy.silence()
            resumed.append(time_to_resume(ledger, silenced_at + 1, timeout=150))
            trial.drive(time.time() + 300)
            total.add(trial.verdict())
    finally:
        operator.kill()
        ledger.stop()
        proxy.close()
    report(
        "silent connections",
        total,
        f"time to resume (s, to the second): median {statistics.median(resumed):.0f}, max {max(resumed):.0f}",
    )


def load(plane: ControlPlane, work: Path, runs: int) -> None:
    namespace = plane.namespace("load")
    ledger = PodLedger(plane, namespace)
    operator = Operator(plane, namespace, work / "load.log")
    operator.start()
    try:
        operator.wait_ready()
        before = operator.rss_mib()
        started = time.time()
        trial = Trial(plane, namespace, ledger, submit(plane, namespace, ["twenty"], "l", copies=runs))
        trial.drive(time.time() + 900)
        took = time.time() - started
        after = operator.rss_mib()
        verdict = trial.verdict()
    finally:
        operator.kill()
        ledger.stop()
    report(
        f"load {runs}x20",
        verdict,
        f"all finished in {took:.0f}s; operator RSS {before:.0f} MiB before, {after:.0f} MiB after; "
        f"ERROR lines in its log: {len(operator.errors())}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--deletions", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--silences", type=int, default=2)
    parser.add_argument("--load", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeline-chaos-") as directory:
        work = Path(directory)
        plane = ControlPlane(work / "cluster")
        try:
            if args.kills:
                sigkills(plane, work, args.kills)
            if args.deletions:
                taken_away(plane, work, args.deletions, "pod")
            if args.nodes:
                taken_away(plane, work, args.nodes, "node")
            for component in ("kube-apiserver", "etcd"):
                if args.restarts:
                    restarts(plane, work, component, args.restarts)
            if args.silences:
                silences(plane, work, args.silences)
            if args.load:
                load(plane, work, args.load)
        finally:
            plane.stop()


if __name__ == "__main__":
    main()
