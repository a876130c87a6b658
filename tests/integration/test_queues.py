"""Queues and namespace limits against the real control plane: Runs wait, Pending with their place in line, and
never more run at once than a Queue or the operator's namespace limits allow, across an operator restart too.

Steps run on kwok's fake nodes for a few seconds each (KWOK_DURATION); a thread polls every Run's phase and
every step pod ten times a second throughout, for the most that ran at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from kubeline.api.constants import API_VERSION, GROUP, RUN_LABEL, VERSION
from kubeline.api.yamlio import dump_all
from kubeline.engine.queueing import ordinal
from tests.control_plane import Operator, new_namespace
from tests.helpers import fake, pods_of

pytestmark = pytest.mark.integration

TEST_LABEL = "kubeline.test/case"
FINISHED = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def ns(operator_namespace):
    return operator_namespace


@pytest.fixture(scope="module")
def limited(crds, tmp_path_factory) -> Iterator[tuple[Any, str, Operator]]:
    """A namespace whose operator allows 2 running Runs and 3 running step pods in it."""
    directory = tmp_path_factory.mktemp("operator-limits")
    namespace = new_namespace(crds, "oplimits")
    config = directory / "operator.yaml"
    # the override for this namespace, over a looser default: both parts of the configuration are read
    config.write_text(
        yaml.safe_dump({"namespaceLimits": {"runs": 9, "namespaces": {namespace: {"runs": 2, "stepPods": 3}}}})
    )
    operator = Operator(crds, namespace, directory / "operator.log", config)
    operator.start()
    yield crds, namespace, operator
    operator.kill()
    crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def pipeline_of(name: str, steps: int = 1, duration: str = "3s") -> dict[str, Any]:
    tasks: list[dict[str, Any]] = [{"name": "only", "component": "step"}]
    if steps > 1:
        tasks = [{"name": "fan", "component": "step", "forEach": list(range(steps))}]
    return {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {
            "components": [fake("step", duration=duration)],
            "tasks": tasks,
            "defaults": {"caching": {"enabled": False}},
        },
    }


def run_of(name: str, pipeline: str, case: str, queue: str | None = None, priority: int | None = None) -> dict:
    spec: dict[str, Any] = {"pipelineRef": {"name": pipeline}}
    if queue is not None:
        spec["queue"] = queue
    if priority is not None:
        spec["priority"] = priority
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name, "labels": {TEST_LABEL: case}},
        "spec": spec,
    }


def queue_of(name: str, max_running: int) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Queue", "metadata": {"name": name}, "spec": {"maxRunning": max_running}}


def apply(ctx: tuple[Any, str, Operator], *documents: dict[str, Any]) -> None:
    cluster, namespace, _ = ctx
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all(list(documents)))


class Watch:
    """The Runs of one test case and their step pods, polled every 0.1 s in a thread while in use."""

    def __init__(self, ctx: tuple[Any, str, Operator], case: str):
        from kubernetes.client import CoreV1Api, CustomObjectsApi

        cluster, self.namespace, _ = ctx
        api = cluster.api_client
        self.custom, self.core, self.case = CustomObjectsApi(api), CoreV1Api(api), case
        self.runs: dict[str, dict[str, Any]] = {}  # name -> status, as last polled
        self.most_runs = self.most_pods = self.polls = 0
        self.messages: set[str] = set()  # every message a Pending Run showed
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._check()

    def _poll(self) -> None:
        try:
            while not self._stop.is_set():
                items = self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "runs", label_selector=f"{TEST_LABEL}={self.case}"
                )["items"]
                runs = {item["metadata"]["name"]: item.get("status") or {} for item in items}
                pods = self.core.list_namespaced_pod(self.namespace, label_selector=RUN_LABEL).items
                running_pods = [
                    pod for pod in pods if pod.metadata.labels[RUN_LABEL] in runs and pod.status.phase not in FINISHED
                ]
                self.most_runs = max(self.most_runs, sum(s.get("phase") == "Running" for s in runs.values()))
                self.most_pods = max(self.most_pods, len(running_pods))
                self.messages |= {
                    s["message"] for s in runs.values() if s.get("phase") == "Pending" and s.get("message")
                }
                self.runs, self.polls = runs, self.polls + 1
                self._stop.wait(0.1)
        except BaseException as error:
            self.error = error
            raise

    def _check(self) -> None:
        if self.error is not None:
            raise AssertionError(f"polling the Runs failed: {self.error!r}")

    def until(self, condition: Callable[[dict[str, dict[str, Any]]], bool], what: str, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while not condition(self.runs):
            self._check()
            assert time.time() < deadline, f"{what} not within {timeout}s: {self.summary()}"
            time.sleep(0.1)

    def all_finished(self, count: int) -> Callable[[dict[str, dict[str, Any]]], bool]:
        return lambda runs: len(runs) == count and all(s.get("phase") in FINISHED for s in runs.values())

    def summary(self) -> dict[str, tuple[str | None, str | None]]:
        return {name: (s.get("phase"), s.get("message")) for name, s in sorted(self.runs.items())}


def test_a_queue_of_two_never_runs_three_of_ten_even_across_an_operator_restart(ns) -> None:
    cluster, namespace, operator = ns
    case = f"q{uuid.uuid4().hex[:6]}"
    names = [f"{case}-{i:02d}" for i in range(10)]
    apply(ns, queue_of(case, 2), pipeline_of(case, duration="5s"))  # time to see eight waiting behind two
    with Watch(ns, case) as watch:
        apply(ns, *(run_of(name, case, case, queue=case) for name in names))
        # two run, and the other eight wait in creation order, each told its place
        expected = {
            name: f"queued: {ordinal(place)} in {case} (it runs 2 at most, 2 running)"
            for place, name in enumerate(names[2:], 1)
        }
        watch.until(
            lambda runs: {n: s.get("message") for n, s in runs.items() if s.get("phase") == "Pending"} == expected,
            "eight Runs queued with their places",
        )
        queue = cluster.kubectl_json("get", "queue", case, "-n", namespace)
        deadline = time.time() + 10
        while (queue.get("status") or {}).get("waiting") != names[2:]:
            assert time.time() < deadline, f"the Queue's status: {queue.get('status')}"
            time.sleep(0.2)
            queue = cluster.kubectl_json("get", "queue", case, "-n", namespace)
        assert queue["status"]["running"] == names[:2] and queue["status"]["runningCount"] == 2
        assert queue["status"]["waitingCount"] == 8
        watch.until(lambda runs: sum(s.get("phase") == "Succeeded" for s in runs.values()) >= 3, "three finished")
        operator.kill()
        time.sleep(4)  # the running Runs' steps end while nobody watches
        operator.start()
        watch.until(watch.all_finished(10), "all ten finished", timeout=180)
    assert watch.polls > 50
    assert {s["phase"] for s in watch.runs.values()} == {"Succeeded"}, watch.summary()
    assert watch.most_runs == 2, f"at most 2 Runs of the Queue run at once, and 2 did; saw {watch.most_runs}"
    assert all(len(pods_of(ns, name)) == 1 for name in names)  # each ran once, none twice after the restart
    queue = cluster.kubectl_json("get", "queue", case, "-n", namespace)
    deadline = time.time() + 10
    while (queue.get("status") or {}).get("runningCount") != 0:
        assert time.time() < deadline, f"the Queue's status once all finished: {queue.get('status')}"
        time.sleep(0.2)
        queue = cluster.kubectl_json("get", "queue", case, "-n", namespace)
    assert queue["status"]["waitingCount"] == 0


def test_a_later_higher_priority_run_starts_before_earlier_low_ones(ns) -> None:
    case = f"p{uuid.uuid4().hex[:6]}"
    apply(ns, queue_of(case, 1), pipeline_of(case), pipeline_of(f"{case}-long", duration="8s"))
    with Watch(ns, case) as watch:
        # long enough for the others to be created and told their places while it runs
        apply(ns, run_of(f"{case}-blocker", f"{case}-long", case, queue=case))
        watch.until(lambda runs: runs.get(f"{case}-blocker", {}).get("phase") == "Running", "the first Run running")
        apply(ns, run_of(f"{case}-low1", case, case, queue=case), run_of(f"{case}-low2", case, case, queue=case))
        time.sleep(1.1)  # created a second later than the low ones
        apply(ns, run_of(f"{case}-high", case, case, queue=case, priority=10))
        places = {"high": "1st", "low1": "2nd", "low2": "3rd"}
        watch.until(
            lambda runs: all(
                (runs.get(f"{case}-{name}", {}).get("message") or "").startswith(f"queued: {place} in {case}")
                for name, place in places.items()
            ),
            "the high-priority Run first in line, the low ones after it",
        )
        watch.until(watch.all_finished(4), "all four finished")
    started = {name.removeprefix(f"{case}-"): status["startedAt"] for name, status in watch.runs.items()}
    assert started["blocker"] < started["high"] < started["low1"] < started["low2"], started
    assert watch.most_runs == 1


def test_a_run_of_a_missing_queue_waits_saying_so_and_starts_once_the_queue_exists(ns) -> None:
    case = f"m{uuid.uuid4().hex[:6]}"
    apply(ns, pipeline_of(case))
    with Watch(ns, case) as watch:
        apply(ns, run_of(case, case, case, queue=case))
        message = f"waiting for Queue {case}, which does not exist: create it or remove spec.queue"
        watch.until(lambda runs: runs.get(case, {}).get("message") == message, "the missing Queue's message")
        time.sleep(2)
        assert watch.runs[case]["phase"] == "Pending" and pods_of(ns, case) == []
        conditions = {c["type"]: c for c in watch.runs[case]["conditions"]}
        assert conditions["Queued"]["status"] == "True" and conditions["Ready"]["status"] == "Unknown"
        apply(ns, queue_of(case, 1))
        watch.until(watch.all_finished(1), "the Run finished once its Queue exists", timeout=60)
    assert watch.runs[case]["phase"] == "Succeeded"
    assert "Queued" not in {c["type"] for c in watch.runs[case]["conditions"]}


def test_namespace_limits_of_runs_and_step_pods_hold(limited) -> None:
    case = f"n{uuid.uuid4().hex[:6]}"
    names = [f"{case}-{i}" for i in range(4)]
    apply(limited, pipeline_of(case, steps=4, duration="2s"))
    with Watch(limited, case) as watch:
        apply(limited, *(run_of(name, case, case) for name in names))
        watch.until(watch.all_finished(4), "all four finished", timeout=180)
    assert {s["phase"] for s in watch.runs.values()} == {"Succeeded"}, watch.summary()
    assert watch.most_runs == 2, f"the namespace runs 2 Runs at most, and 2 did; saw {watch.most_runs}"
    assert watch.most_pods == 3, f"the namespace runs 3 step pods at most, and 3 did; saw {watch.most_pods}"
    assert "waiting: 1st in line, the namespace runs 2 Runs at most (2 running)" in watch.messages, watch.messages
    assert all(len(pods_of(limited, name)) == 4 for name in names)  # every step ran, once
