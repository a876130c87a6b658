"""Two `kubeline operator` processes on one namespace, one Lease: one acts, the other takes over when it dies,
and a leader that cannot renew stops acting before the other may take its lease.

The operators run with the default timings (lease 10 s, renew deadline 7 s, retry 1 s) and are told apart by
POD_NAME, as the chart's downward API names them. Pods are counted from a watch held for the whole test.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeline.api.constants import ATTEMPT_ANNOTATION, RUN_LABEL, STEP_ANNOTATION
from kubeline.controller.leader import Timings
from tests.control_plane import Cluster, Operator, new_namespace
from tests.helpers import fake, submit, wait_run

pytestmark = pytest.mark.integration

LEASE = "kubeline-operator"
TAKEOVER_GOAL = 15.0  # seconds from a leader's death to the standby acting (issue 15)


def until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """Poll ``check`` until it returns something true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s")


class PodWatch:
    """Every pod of the namespace's Runs seen by one watch: uids per (run, step, attempt) and when each was
    first seen, so a pod created twice is caught even if the first one is gone by the end."""

    def __init__(self, cluster: Cluster, namespace: str):
        from kubernetes import client, watch

        self.core = client.CoreV1Api(cluster.api_client)
        self.namespace = namespace
        self.uids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self.first_seen: dict[str, float] = {}
        self.watch = watch.Watch()
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        from urllib3.exceptions import HTTPError

        version = ""
        while not self.watch._stop:  # Watch.stop() sets it; a watch the server ends is resumed where it stopped
            try:
                for event in self.watch.stream(
                    self.core.list_namespaced_pod,
                    self.namespace,
                    label_selector=RUN_LABEL,
                    resource_version=version,
                    timeout_seconds=600,
                ):
                    self._saw(event["object"].metadata)
                    version = event["object"].metadata.resource_version
            except HTTPError:  # the connection broke (or the cluster is stopping): try again
                time.sleep(0.2)

    def _saw(self, pod: Any) -> None:
        key = (pod.labels[RUN_LABEL], pod.annotations[STEP_ANNOTATION], pod.annotations[ATTEMPT_ANNOTATION])
        self.uids[key].add(pod.uid)
        self.first_seen.setdefault(pod.uid, time.time())

    def created_after(self, moment: float) -> float | None:
        later = [seen for seen in self.first_seen.values() if seen > moment]
        return min(later) if later else None

    def duplicates(self) -> dict[tuple[str, str, str], set[str]]:
        return {key: uids for key, uids in self.uids.items() if len(uids) > 1}


def holder(cluster: Cluster, namespace: str) -> str | None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        lease = client.CoordinationV1Api(cluster.api_client).read_namespaced_lease(LEASE, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return lease.spec.holder_identity


def logged(operator: Operator, text: str) -> bool:
    return text in operator.log.read_text()


@pytest.fixture
def namespace(crds: Cluster) -> Iterator[str]:
    name = new_namespace(crds, "lead")
    yield name
    crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operators(crds: Cluster, namespace: str, tmp_path: Path) -> Iterator[Callable[..., Operator]]:
    """A maker of operators named by POD_NAME on the namespace; every one started is killed at the end."""
    made: list[Operator] = []

    def make(name: str, kubeconfig: Path | None = None) -> Operator:
        env = {"POD_NAME": name}
        if kubeconfig:
            env["KUBECONFIG"] = str(kubeconfig)
        operator = Operator(crds, namespace, tmp_path / f"{name}.log", env=env)
        made.append(operator)
        return operator

    yield make
    for operator in made:
        operator.kill()


def lead(cluster: Cluster, namespace: str, operator: Operator) -> None:
    operator.start()
    name = operator.env["POD_NAME"]
    until(f"{name} holds the Lease", lambda: holder(cluster, namespace) == name, 30)


def stand_by(operator: Operator, leader: str) -> None:
    operator.start()
    until(f"{operator.env['POD_NAME']} stands by", lambda: logged(operator, f"standing by behind {leader}"), 30)


def kill_the_leader_mid_run(
    cluster: Cluster, namespace: str, pods: PodWatch, leader: Operator, standby: Operator
) -> tuple[float, float]:
    """SIGKILL the leader once two more steps have started; seconds from the kill to the standby holding the
    Lease, and to the next pod's creation."""
    seen = len(pods.first_seen)
    until("the run's next two steps start", lambda: len(pods.first_seen) >= seen + 2, 60)
    killed = time.time()
    leader.kill()
    name = standby.env["POD_NAME"]
    until(f"{name} takes the Lease", lambda: holder(cluster, namespace) == name, 30, every=0.05)
    holds = time.time() - killed
    acts = until("a pod created after the kill", lambda: pods.created_after(killed), 30, every=0.05) - killed
    return holds, acts


def test_the_standby_takes_over_a_killed_leader_within_15s_and_no_pod_is_created_twice(
    crds: Cluster, namespace: str, operators: Callable[..., Operator]
) -> None:
    a, b = operators("op-a"), operators("op-b")
    lead(crds, namespace, a)
    stand_by(b, "op-a")
    pods = PodWatch(crds, namespace)
    ctx = (crds, namespace, a)
    steps = 14
    spec = {
        "components": [fake("step", ["i"], duration="2s")],
        "tasks": [
            {
                "name": f"s{i}",
                "component": "step",
                "arguments": {"i": str(i)},
                **({"after": [f"s{i - 1}"]} if i else {}),
            }
            for i in range(steps)
        ],
        "defaults": {"caching": {"enabled": False}},
    }
    run = submit(ctx, spec)
    assert not logged(b, "became leader")  # the standby does not act
    for leader, standby in [(a, b), (b, a)]:
        holds, acts = kill_the_leader_mid_run(crds, namespace, pods, leader, standby)
        print(f"takeover: Lease after {holds:.1f} s, first pod after {acts:.1f} s", file=sys.stderr)
        assert acts < TAKEOVER_GOAL, f"the standby created its first pod {acts:.1f} s after the leader's death"
        if leader is a:
            stand_by(a, "op-b")  # restarted, the killed one stands by behind the new leader
    status = wait_run(ctx, run, timeout=120)
    assert status["phase"] == "Succeeded", status.get("message")
    until("the watch saw every step's pod", lambda: len(pods.uids) == steps, 10)
    pods.watch.stop()
    assert pods.duplicates() == {}
    assert all(task.get("attempts") == 1 for task in status["tasks"].values())


def test_a_leader_that_sees_another_holder_in_its_lease_exits_at_once(
    crds: Cluster, namespace: str, operators: Callable[..., Operator]
) -> None:
    a = operators("op-a")
    lead(crds, namespace, a)
    taken = time.time()
    crds.kubectl("patch", "lease", LEASE, "-n", namespace, "--type=merge", "-p", '{"spec":{"holderIdentity":"other"}}')
    assert a.process is not None
    until("op-a exits", lambda: a.process.poll() is not None, 10, every=0.05)
    stopped = time.time() - taken
    assert a.process.returncode == 1
    assert logged(a, "lost the lease: the Lease is held by other now; exiting, to restart as a standby")
    timings = Timings()
    assert stopped < timings.retry_period + timings.request_timeout  # at its next try


def test_a_lease_deleted_by_hand_leaves_only_its_next_holder_acting(
    crds: Cluster, namespace: str, operators: Callable[..., Operator]
) -> None:
    """Both replicas see the Lease gone and race to create it: the loser's create conflicts, and a leader that
    loses exits at once instead of acting until its next read."""
    a, b = operators("op-a"), operators("op-b")
    lead(crds, namespace, a)
    stand_by(b, "op-a")
    assert a.process is not None and b.process is not None
    crds.kubectl("delete", "lease", LEASE, "-n", namespace)
    deleted = time.time()
    new = until("the Lease is created again", lambda: holder(crds, namespace), 10, every=0.05)
    timings = Timings()
    if new == "op-b":
        until("op-a exits", lambda: a.process.poll() is not None, 10, every=0.05)
        stopped = time.time() - deleted
        print(f"op-b took the deleted Lease; op-a exited {stopped:.1f} s after the deletion", file=sys.stderr)
        assert logged(a, "lost the lease")
        assert stopped < 2 * timings.retry_period + 2 * timings.request_timeout  # its create, or its next read
    else:
        print("op-a created the deleted Lease again; op-b stands by", file=sys.stderr)
        assert a.process.poll() is None and not logged(b, "became leader")


class Partition:
    """A TCP proxy to the API server that can stop passing bytes: a network partition for the clients behind it
    (connections stay open and hang, as when packets are dropped)."""

    def __init__(self, server: str):
        host, port = server.removeprefix("https://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                continue  # accepted, never answered
            upstream = socket.create_connection(self.upstream)
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.cut.is_set():
                    target.sendall(data)
        except OSError:
            pass

    def kubeconfig(self, original: Path, path: Path) -> Path:
        config = yaml.safe_load(original.read_text())
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        path.write_text(yaml.safe_dump(config))
        return path


def test_a_leader_cut_off_from_the_api_server_stops_acting_before_the_standby_may_take_over(
    crds: Cluster, namespace: str, operators: Callable[..., Operator], tmp_path: Path
) -> None:
    partition = Partition(crds.server)
    a = operators("op-a", partition.kubeconfig(crds.kubeconfig, tmp_path / "partitioned.kubeconfig"))
    b = operators("op-b")
    lead(crds, namespace, a)
    stand_by(b, "op-a")
    cut = time.time()
    partition.cut.set()
    assert a.process is not None
    until("op-a exits", lambda: a.process.poll() is not None, 15, every=0.02)
    stopped = time.time()
    until("op-b takes the Lease", lambda: holder(crds, namespace) == "op-b", 20, every=0.02)
    took = time.time()
    print(
        f"cut-off leader exited {stopped - cut:.1f} s after the cut, op-b took the Lease {took - stopped:.1f} s later",
        file=sys.stderr,
    )
    assert logged(a, "lost the lease: no renewal for")
    assert a.log.read_text().count("Lease request failed") == 1  # said once, not at every try
    assert stopped - cut <= 7 + 0.5  # the renew deadline, counted from a renewal that began before the cut
    assert took > stopped
    partition.listener.close()


def test_a_leader_stopped_gracefully_hands_the_lease_over_at_the_standby_s_next_try(
    crds: Cluster, namespace: str, operators: Callable[..., Operator]
) -> None:
    a, b = operators("op-a"), operators("op-b")
    lead(crds, namespace, a)
    stand_by(b, "op-a")
    assert a.process is not None
    stopping = time.time()
    os.killpg(a.process.pid, signal.SIGTERM)  # a rolling update, a drain
    until("op-b takes the Lease", lambda: holder(crds, namespace) == "op-b", 15, every=0.05)
    took = time.time() - stopping
    print(f"graceful handover: op-b took the Lease {took:.1f} s after op-a's SIGTERM", file=sys.stderr)
    assert a.process.wait(10) == 0
    assert logged(a, "released Lease")
    assert took < Timings().renew_deadline  # kopf's stop, then the standby's next try: not a lease duration


def test_a_leader_restarted_in_its_pod_leads_again_at_once(
    crds: Cluster, namespace: str, operators: Callable[..., Operator]
) -> None:
    """A container restart keeps the pod's name: the Lease names the restarted process, which renews it at its
    first try instead of waiting out a lease duration (a pod's name is held by one live pod at a time)."""
    a = operators("op-a")
    lead(crds, namespace, a)
    a.kill()
    restarted = time.time()
    a.start()
    until("op-a leads again", lambda: a.log.read_text().count("became leader") == 2, 10)
    took = time.time() - restarted
    print(f"restarted leader led again {took:.1f} s after its start", file=sys.stderr)
    assert took < Timings().lease_duration
