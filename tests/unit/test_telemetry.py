"""The operator's metrics: what they count, and the endpoint that serves them."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import cast

import pytest
from kubernetes import client
from prometheus_client import REGISTRY

from kubeline.controller import handlers, telemetry
from kubeline.controller import kube as kube_module
from kubeline.controller import reconciler as reconciler_module
from kubeline.controller.config import OperatorConfig
from kubeline.controller.kube import Kube
from kubeline.controller.pods import encode_outputs
from kubeline.controller.reconciler import RunReconciler
from kubeline.controller.transitions import StepChange
from tests.unit.fake_kube import CHAIN, NS, RUN, UID, FakeKube


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_runs_by_phase_follow_each_run_and_forget_deleted_ones() -> None:
    phases = telemetry.RunPhases()
    phases.seen(("ns", "a"), "Pending")
    phases.seen(("ns", "b"), "Running")
    phases.seen(("ns", "a"), "Running")
    phases.seen(("ns", "a"), "Running")  # the same phase seen again counts once
    phases.seen(("other", "a"), "Succeeded")
    assert [value("kubeline_runs", phase=p) for p in ("Pending", "Running", "Succeeded")] == [0, 2, 1]
    phases.seen(("ns", "b"), None)
    phases.seen(("ns", "gone"), None)  # deleted before it was seen: nothing to forget
    assert [value("kubeline_runs", phase=p) for p in ("Pending", "Running", "Succeeded")] == [0, 1, 1]


def test_runs_deleted_while_the_watch_restarted_leave_the_gauge_at_the_next_full_listing() -> None:
    """kopf re-lists after "410 Gone" without a DELETED event for the Runs deleted in the gap."""
    phases = telemetry.RunPhases()
    phases.seen(("ns", "kept"), "Running", 5)
    phases.seen(("ns", "vanished"), "Running", 6)
    phases.seen(("ns", "created-since"), "Pending", 12)
    phases.seen(("other", "elsewhere"), "Succeeded", 7)
    phases.listed("ns", {"kept"}, 10)
    assert [value("kubeline_runs", phase=p) for p in ("Pending", "Running", "Succeeded")] == [1, 1, 1]
    assert phases.namespaces() == {"ns", "other"}


def test_the_operator_recounts_runs_against_full_listings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recount loop lists each namespace it knows Runs in; a failed listing waits for the next."""

    class Listings:
        def __init__(self) -> None:
            self.answers: list[tuple[set[str], int] | Exception] = [ConnectionError("down"), (set(), 100)]

        async def list_runs(self, namespace: str) -> tuple[set[str], int]:
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            if isinstance(answer, Exception):
                raise answer
            return answer

    monkeypatch.setattr(handlers, "RECOUNT_SECONDS", 0.01)
    phases = telemetry.RunPhases()
    phases.seen(("ns", "vanished"), "Running", 6)

    async def recount() -> None:
        task = asyncio.create_task(handlers.recount_runs(cast(Kube, Listings()), phases, {}))
        try:
            async with asyncio.timeout(5):
                while phases.phases:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()

    asyncio.run(recount())
    assert value("kubeline_runs", phase="Running") == 0


def test_step_changes_count_outcomes_and_time_the_attempts_that_ended() -> None:
    before = {o: value("kubeline_step_outcomes_total", outcome=o) for o in ("succeeded", "failed", "retried")}
    timed = value("kubeline_step_duration_seconds_count", outcome="succeeded")
    telemetry.record_steps(
        [
            StepChange("a", "started", 1),
            StepChange("a", "succeeded", 1, 12.0),
            StepChange("b", "retried", 2, 3.0),
            StepChange("c", "failed", 1, None, "refused"),
        ]
    )
    after = {o: value("kubeline_step_outcomes_total", outcome=o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"succeeded": 1, "failed": 1, "retried": 1}
    assert value("kubeline_step_duration_seconds_count", outcome="succeeded") - timed == 1
    assert value("kubeline_step_outcomes_total", outcome="started") == 0  # a start is no outcome


def test_the_leader_gauge_follows_the_election() -> None:
    telemetry.set_leader(True)
    assert value("kubeline_leader") == 1
    telemetry.set_leader(False)
    assert value("kubeline_leader") == 0


@pytest.mark.parametrize(
    "address, parsed",
    [("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::]:9090", ("::", 9090)), ("localhost:1", ("localhost", 1))],
)
def test_metrics_address(address: str, parsed: tuple[str, int]) -> None:
    assert telemetry.parse_address(address) == parsed


@pytest.mark.parametrize("address", ["8080", ":8080", "host:", "host:http", "host:70000"])
def test_a_bad_metrics_address_says_how_to_write_it(address: str) -> None:
    with pytest.raises(ValueError, match="--metrics-address .* is not HOST:PORT, e.g. 0.0.0.0:8080"):
        telemetry.parse_address(address)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_and_healthz_are_served_over_http() -> None:
    """Served whatever ran before: the Runs gauge exists once the operator watches Runs, the leader gauge once set."""
    address = f"127.0.0.1:{free_port()}"
    telemetry.RunPhases()
    telemetry.set_leader(True)

    def get(path: str) -> tuple[int, str, str]:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()

    async def scrape() -> list[tuple[int, str, str]]:
        async with telemetry.serving(address):
            return [await asyncio.to_thread(get, path) for path in ("/healthz", "/metrics")]

    (health, _, ok), (code, kind, text) = asyncio.run(scrape())
    assert (health, ok) == (200, "ok\n")
    assert code == 200 and kind.startswith("text/plain; version=")  # Prometheus text format
    assert 'kubeline_runs{phase="Running"}' in text and "kubeline_leader " in text


class _ApiServer(http.server.BaseHTTPRequestHandler):
    """Just enough of an API server: no Pipeline exists, and any CacheEntry is created."""

    def do_GET(self) -> None:
        self._answer(404, {"kind": "Status", "code": 404})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(201, {"kind": "CacheEntry"})

    def _answer(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_api_requests_are_counted_by_kubernetes_verb_and_http_code(api_server: str) -> None:
    api = client.ApiClient(client.Configuration(host=api_server))
    kube_module._count_requests(api)
    kube = Kube(api)
    before = {
        key: value("kubeline_api_requests_total", verb=key[0], code=key[1])
        for key in [("get", "404"), ("create", "201")]
    }

    async def calls() -> None:
        assert await kube.get_pipeline("ns", "missing") is None
        await kube.create_cache_entry("ns", {"metadata": {"name": "k"}})

    asyncio.run(calls())
    counted = {key: value("kubeline_api_requests_total", verb=key[0], code=key[1]) - n for key, n in before.items()}
    assert counted == {("get", "404"): 1, ("create", "201"): 1}


def test_each_step_outcome_counts_once_though_passes_repeat_and_the_operator_restarts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reconciler_module, "event", lambda *_: None)
    kube = FakeKube()
    kube.add_run(NS, RUN, UID, {"pipelineSpec": {**CHAIN, "defaults": {"caching": {"enabled": False}}}})
    before = value("kubeline_step_outcomes_total", outcome="succeeded")
    for _restart in range(5):
        reconciler = RunReconciler(kube, OperatorConfig(), NS, RUN, kube.watch(NS, RUN))  # from the Run's status
        for _pass in range(3):
            asyncio.run(reconciler.reconcile(kube.runs[NS, RUN]))
        for (_, name), pod in list(kube.pods.items()):
            if pod["status"]["phase"] == "Pending":
                terminated = {"exitCode": 0, "message": encode_outputs({"out": "done"})}
                kube.set_pod_status(
                    NS,
                    name,
                    {
                        "phase": "Succeeded",
                        "containerStatuses": [{"name": "main", "state": {"terminated": terminated}}],
                    },
                )
    assert kube.runs[NS, RUN]["status"]["phase"] == "Succeeded"
    assert value("kubeline_step_outcomes_total", outcome="succeeded") - before == 2  # steps a and b
