"""What a platform engineer watches: the operator's /metrics scraped over HTTP, the Run's Events, its JSON logs.

One operator of its own (fresh counters, so the numbers are exact) runs: a pipeline, the same again (served
from the cache), a step that fails twice (one retry), and a 200-step fan-out.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from kubeline.controller.kube import Kube
from tests.control_plane import Operator, new_namespace
from tests.helpers import ARITHMETIC, fake, submit, wait_run

pytestmark = pytest.mark.integration

FAN_OUT = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def address() -> str:
    """Where the operator serves /metrics and /healthz."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def ns(crds, address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Operator]]:
    namespace = new_namespace(crds, "metrics")
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    operator = Operator(crds, namespace, log, args=["--metrics-address", address, "--log-format", "json"])
    operator.start()
    yield crds, namespace, operator
    operator.kill()
    crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def scrape(address: str) -> dict[str, float]:
    """/metrics as a user's Prometheus reads it: each sample (name and labels) and its value."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            sample, _, number = line.rpartition(" ")
            samples[sample] = float(number)
    return samples


def healthy(address: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as answer:
            return answer.status
    except OSError:  # not listening yet
        return None


def events_of(ns, run: str) -> list[dict[str, Any]]:
    cluster, namespace, _ = ns
    selector = f"involvedObject.name={run},involvedObject.kind=Run"
    return cluster.kubectl_json("get", "events", "-n", namespace, "--field-selector", selector)["items"]


def messages(ns, run: str) -> dict[str, str]:
    """The Run's Events' messages by reason."""
    return {event["reason"]: event["message"] for event in events_of(ns, run)}


def wait_for(check, timeout: float = 30) -> Any:
    """``check()``'s first true answer, polled until ``timeout``; its last answer in the error otherwise."""
    deadline = time.time() + timeout
    while True:
        answer = check()
        if answer or time.time() > deadline:
            assert answer, f"not within {timeout}s: {answer!r}"
            return answer
        time.sleep(0.5)


def test_metrics_events_and_logs_of_a_cached_a_retried_and_a_fanned_out_run(ns, address: str) -> None:
    operator = ns[2]
    assert wait_for(lambda: healthy(address)) == 200  # served as the process starts
    spec = {**ARITHMETIC, "defaults": {"caching": {"enabled": True}}}
    first = submit(ns, spec, {"value_1": 5, "value_2": 2})
    assert wait_run(ns, first)["phase"] == "Succeeded"
    cached = submit(ns, spec, {"value_1": 5, "value_2": 2})
    assert wait_run(ns, cached)["phase"] == "Succeeded"
    flaky = submit(
        ns,
        {
            "components": [fake("flaky", exit_code=1)],
            "tasks": [{"name": "flaky", "component": "flaky", "retries": {"limit": 1}}],
            "defaults": {"caching": {"enabled": False}},
        },
    )
    assert wait_run(ns, flaky)["tasks"]["flaky"]["attempts"] == 2
    fan_out = submit(
        ns,
        {
            "components": [fake("shard", ["i"])],
            "tasks": [
                {"name": "shard", "component": "shard", "forEach": list(range(FAN_OUT)), "arguments": {"i": "{{item}}"}}
            ],
            "defaults": {"caching": {"enabled": False}},
        },
    )
    assert wait_run(ns, fan_out, timeout=180)["phase"] == "Succeeded"

    def settled() -> dict[str, float] | None:
        samples = scrape(address)
        done = samples.get('kubeline_runs{phase="Succeeded"}') == 3 and samples.get("kubeline_run_daemons") == 0
        return samples if done else None

    metrics = wait_for(settled)
    assert metrics['kubeline_runs{phase="Failed"}'] == 1 and metrics['kubeline_runs{phase="Running"}'] == 0
    outcomes = {o: metrics.get(f'kubeline_step_outcomes_total{{outcome="{o}"}}', 0) for o in ("succeeded", "cached")}
    assert outcomes == {"succeeded": 3 + FAN_OUT, "cached": 3}
    assert metrics['kubeline_step_outcomes_total{outcome="retried"}'] == 1
    assert metrics['kubeline_step_outcomes_total{outcome="failed"}'] == 1
    assert metrics['kubeline_step_duration_seconds_count{outcome="succeeded"}'] == 3 + FAN_OUT
    assert metrics['kubeline_cache_lookups_total{result="hit"}'] == 3
    assert metrics['kubeline_cache_lookups_total{result="miss"}'] == 3  # the first run's (the others don't cache)
    assert metrics['kubeline_api_requests_total{code="201",verb="create"}'] >= 3 + 2 + FAN_OUT  # pods
    assert metrics['kubeline_api_requests_total{code="404",verb="get"}'] == 3  # the cache misses
    assert metrics["kubeline_reconcile_duration_seconds_count"] > 0
    assert metrics["kubeline_leader"] == 1

    # Events: a handful a run, however many steps it has
    def reasons(run: str, wanted: int) -> list[dict[str, Any]] | None:
        found = [e for e in events_of(ns, run) if e["reason"] in ("StepsStarted", "Succeeded", "Failed")]
        return found if len(found) >= wanted else None

    fan_out_events = wait_for(lambda: reasons(fan_out, 2))
    started = [e["message"] for e in fan_out_events if e["reason"] == "StepsStarted"]
    assert 1 <= len(started) <= 10, started
    assert sum(int(re.match(r"started (\d+) steps?: ", m).group(1)) for m in started) == FAN_OUT
    assert all(m.endswith("more") or m.count(",") < 3 for m in started)
    flaky_events = wait_for(lambda: "StepsFailed" in messages(ns, flaky) and messages(ns, flaky))
    assert flaky_events["StepsRetried"].startswith("retrying 1 step: flaky (attempt 2")
    assert flaky_events["StepsFailed"].startswith("1 step failed: flaky (")
    assert messages(ns, cached)["StepsCached"] == "served 3 steps from the cache: add, subtract, multiply"

    # JSON logs: a line per step change, with run and step fields
    lines = [json.loads(line) for line in operator.log.read_text().splitlines() if line.startswith("{")]
    steps = {(line.get("run"), line.get("step")) for line in lines}
    assert (first, "add") in steps and (fan_out, "shard[199]") in steps


def test_the_runs_gauge_recount_lists_the_runs_of_a_namespace(ns) -> None:
    """The listing the Runs gauge is checked against (every RECOUNT_SECONDS), from the real API server."""
    cluster, namespace, _ = ns
    submit(ns, ARITHMETIC, {"value_1": 1, "value_2": 1})
    expected = {run["metadata"]["name"] for run in cluster.kubectl_json("get", "runs", "-n", namespace)["items"]}
    names, version = asyncio.run(Kube(cluster.api_client).list_runs(namespace))
    assert names == expected and version > 0
