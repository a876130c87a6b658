"""The UI's HTTP layer over an in-memory Source: pages render, user text is escaped, actions need the token and
this UI's own origin, the security headers are on every response, and live streams send changed rows."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kubeline.ui.app import LOOPBACK_HOSTS, make_app
from kubeline.ui.rows import RunRow, run_row
from kubeline.ui.sources import RECENT_SIZE, ActionRefused, Change, Hub

HOSTILE = "<script>alert('x')</script>\"&"


def document(name: str, phase: str = "Succeeded", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": {"team": HOSTILE}},
        "spec": {"pipelineRef": {"name": "train"}, "arguments": {"rate": HOSTILE}},
        "status": {
            "phase": phase,
            "message": f"message {HOSTILE}",
            "startedAt": "2024-05-01T10:00:00Z",
            "progress": {"total": 1, "succeeded": 1 if phase == "Succeeded" else 0, "running": int(phase == "Running")},
            "tasks": {"step-a": {"phase": phase, "attempts": 1, "message": HOSTILE, "outputs": {"out": HOSTILE}}},
            "pipelineSpec": {"params": [{"name": "rate", "type": "string"}], "tasks": []},
            **extra,
        },
    }


class FakeSource:
    """A Source over dicts: what the HTTP layer needs, nothing of a cluster."""

    label = "fake <cluster>"

    def __init__(self, documents: list[dict[str, Any]], writable: bool = True):
        self.documents = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in documents}
        self.writable = writable
        self.hub = Hub()
        self.cancelled: list[str] = []
        self.deleted: list[str] = []
        self.created: list[tuple[Any, dict[str, Any]]] = []

    async def start(self) -> None:
        self.hub.bind(asyncio.get_running_loop())

    async def stop(self) -> None:
        pass

    def rows(self) -> Sequence[RunRow]:
        return [run_row(d) for d in self.documents.values()]

    def row(self, namespace: str, name: str) -> RunRow | None:
        found = self.documents.get((namespace, name))
        return run_row(found) if found else None

    async def run(self, namespace: str, name: str) -> dict[str, Any] | None:
        if name == "broken":
            raise RuntimeError("secret internals")
        return self.documents.get((namespace, name))

    def pipelines(self) -> Sequence[dict[str, Any]]:
        return [{"metadata": {"namespace": "ml", "name": "train"}, "spec": self.pipeline_spec()}]

    @staticmethod
    def pipeline_spec() -> dict[str, Any]:
        return {
            "description": HOSTILE,
            "params": [{"name": "rate", "type": "number", "default": 0.1}],
            "components": [{"name": "c", "container": {"image": "x", "command": ["true"]}}],
            "tasks": [{"name": "t", "component": "c"}],
        }

    async def pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pipelines()[0] if (namespace, name) == ("ml", "train") else None

    async def log(self, namespace: str, run: dict[str, Any], step: str, follow: bool) -> AsyncIterator[str]:
        yield f"log line {HOSTILE}\n"

    async def events(self, namespace: str, run_name: str) -> list[dict[str, Any]]:
        return [{"type": "Normal", "reason": "Started", "message": HOSTILE, "involvedObject": {"name": run_name}}]

    async def artifact(self, run: dict[str, Any], key: str, limit: int) -> tuple[bytes, int | None]:
        return b"data", 4

    async def create_run(
        self, namespace: str, pipeline: Any, arguments: dict[str, Any], *, generate_name: str, labels: dict[str, str]
    ) -> str:
        self.created.append((pipeline, arguments))
        return f"{generate_name}x1"

    async def cancel(self, namespace: str, name: str) -> None:
        if name == "forbidden":
            raise ActionRefused("forbidden: your Kubernetes identity may not patch runs.kubeline.dev")
        self.cancelled.append(name)

    async def delete(self, namespace: str, name: str) -> None:
        self.deleted.append(name)


def with_client(source: FakeSource, test: Callable[[TestClient[Any, Any]], Awaitable[None]], **options: Any) -> None:
    async def main() -> None:
        async with TestClient(TestServer(make_app(source, **options))) as client:
            await test(client)

    asyncio.run(main())


def test_runs_list_shows_each_run_with_user_text_escaped() -> None:
    source = FakeSource([document("r1"), document("r2", "Running")])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/")
        text = await response.text()
        assert response.status == 200
        assert '<table class="runs"' in text
        assert text.count('<tr data-run="ml/') == 2
        assert 'data-run="ml/r2"' in text and '<td class="phase">' in text
        assert "<script>alert" not in text
        assert "fake &lt;cluster&gt;" in text

    with_client(source, check)


@pytest.mark.parametrize(
    "path", ["/runs/ml/r1", "/runs/ml/r1?step=step-a", "/runs/ml/r1/steps/step-a", "/pipelines/ml/train"]
)
def test_pages_escape_every_user_value(path: str) -> None:
    source = FakeSource([document("r1")])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get(path)
        text = await response.text()
        assert response.status == 200, text
        assert "<script>alert" not in text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
        scripts = re.findall(r"<script[^>]*>", text)
        assert all("src=" in s or 'type="application/json"' in s for s in scripts)  # no inline script to run

    with_client(source, check)


def test_run_page_has_the_markup_the_browser_tests_use() -> None:
    source = FakeSource([document("r1", "Running"), document("r2", "Failed")])

    async def check(client: TestClient[Any, Any]) -> None:
        running = await (await client.get("/runs/ml/r1?step=step-a")).text()
        for marker in ('id="graph"', 'id="run-phase"', 'id="step-panel"', 'id="step-log"', 'id="cancel"', 'id="clone"'):
            assert marker in running
        assert 'id="delete"' not in running  # a running run is cancelled first
        failed = await (await client.get("/runs/ml/r2")).text()
        assert 'id="retry"' in failed and 'id="delete"' in failed and 'id="cancel"' not in failed
        pipeline = await (await client.get("/pipelines/ml/train")).text()
        assert 'id="run-form"' in pipeline and 'id="start-run"' in pipeline

    with_client(source, check)


@pytest.mark.parametrize("path", ["/", "/healthz", "/static/ui.js", "/runs/ml/missing", "/runs/ml/broken"])
def test_security_headers_on_every_response(path: str) -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"

    with_client(FakeSource([document("r1")]), check)


def test_errors_are_pages_without_tracebacks() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        missing = await client.get("/runs/ml/missing")
        assert missing.status == 404 and "no run missing in namespace ml" in await missing.text()
        broken = await client.get("/runs/ml/broken")
        text = await broken.text()
        assert broken.status == 500 and "Traceback" not in text and "secret internals" not in text
        assert (await (await client.get("/healthz")).text()) == "ok"

    with_client(FakeSource([]), check)


async def token(client: TestClient[Any, Any], path: str) -> str:
    page = await (await client.get(path)).text()
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the page has an action form"
    return found[1]


def test_actions_need_the_token_and_this_origin() -> None:
    source = FakeSource([document("r1", "Running"), document("forbidden", "Running")])

    async def check(client: TestClient[Any, Any]) -> None:
        no_token = await client.post("/runs/ml/r1/cancel", data={}, allow_redirects=False)
        wrong = await client.post("/runs/ml/r1/cancel", data={"csrf": "00"}, allow_redirects=False)
        csrf = await token(client, "/runs/ml/r1")
        foreign = await client.post(
            "/runs/ml/r1/cancel", data={"csrf": csrf}, headers={"Origin": "http://evil.example"}, allow_redirects=False
        )
        assert (no_token.status, wrong.status, foreign.status) == (403, 403, 403)
        assert source.cancelled == []
        done = await client.post("/runs/ml/r1/cancel", data={"csrf": csrf}, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/runs/ml/r1"
        assert source.cancelled == ["r1"]
        refused = await client.post("/runs/ml/forbidden/cancel", data={"csrf": csrf}, allow_redirects=False)
        assert refused.status == 403 and "may not patch runs.kubeline.dev" in await refused.text()

    with_client(source, check)


def test_retry_clone_and_start_create_runs_with_checked_arguments() -> None:
    source = FakeSource([document("r1", "Failed")])

    async def check(client: TestClient[Any, Any]) -> None:
        csrf = await token(client, "/runs/ml/r1")
        retried = await client.post("/runs/ml/r1/retry", data={"csrf": csrf}, allow_redirects=False)
        assert retried.status == 303 and retried.headers["Location"] == "/runs/ml/r1-retry-x1"
        started = await client.post(
            "/pipelines/ml/train/runs", data={"csrf": csrf, "param.rate": "0.5"}, allow_redirects=False
        )
        assert started.status == 303
        bad = await client.post(
            "/pipelines/ml/train/runs", data={"csrf": csrf, "param.rate": "fast"}, allow_redirects=False
        )
        assert bad.status == 422 and "rate" in await bad.text()
        assert source.created[1] == ("train", {"rate": 0.5})
        assert len(source.created) == 2

    with_client(source, check)


def test_read_only_ui_shows_no_actions_and_refuses_them() -> None:
    source = FakeSource([document("r1", "Running")], writable=False)

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/runs/ml/r1")).text()
        assert 'id="cancel"' not in page and "read-only" in page
        refused = await client.post("/runs/ml/r1/cancel", data={"csrf": "x"}, allow_redirects=False)
        assert refused.status == 403 and source.cancelled == []

    with_client(source, check)


def test_loopback_ui_refuses_other_host_names() -> None:
    async def check(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/", headers={"Host": "evil.example:8765"})).status == 421
        assert (await client.get("/", headers={"Host": "localhost:8765"})).status == 200

    with_client(FakeSource([]), check, allowed_hosts=LOOPBACK_HOSTS)


async def read_event(response: Any, name: str) -> dict[str, Any]:
    """The data of the next event called ``name`` on an SSE stream."""
    event = ""
    while True:
        line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event == name:
            data: dict[str, Any] = json.loads(line[len("data: ") :])
            return data


def test_list_stream_sends_a_changed_row_once_per_burst() -> None:
    source = FakeSource([document("r1", "Running")])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/events")
        assert response.headers["Content-Type"] == "text/event-stream"
        await asyncio.sleep(0.05)
        source.documents[("ml", "r1")] = document("r1", "Succeeded")
        for _ in range(20):
            source.hub.publish(Change("Run", "MODIFIED", "ml", "r1"))
        row = await read_event(response, "row")
        assert row["key"] == "ml/r1" and row["phase"] == "Succeeded"
        source.documents.pop(("ml", "r1"))
        source.hub.publish(Change("Run", "DELETED", "ml", "r1"))
        assert (await read_event(response, "removed"))["key"] == "ml/r1"
        response.close()

    with_client(source, check)


def test_run_stream_sends_the_runs_new_phase() -> None:
    source = FakeSource([document("r1", "Running")])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/runs/ml/r1/events")
        assert (await read_event(response, "run"))["phase"] == "Running"  # first the state at subscription
        source.hub.publish(Change("Run", "MODIFIED", "ml", "other"))
        source.hub.publish(Change("Run", "MODIFIED", "ml", "r1", document("r1", "Failed")))
        state = await read_event(response, "run")
        assert state["phase"] == "Failed" and state["steps"] == {"step-a": "Failed"}
        response.close()

    with_client(source, check)


def test_a_list_stream_opened_after_its_page_sends_the_changes_made_in_between() -> None:
    source = FakeSource([document("r1", "Running"), document("r2", "Running")])

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/")).text()
        since = re.search(r'data-events="[^"]*since=(\d+)', page)
        assert since is not None, "the runs table names the change it was rendered at"
        source.documents[("ml", "r1")] = document("r1", "Succeeded")
        source.hub.publish(Change("Run", "MODIFIED", "ml", "r1"))
        source.documents.pop(("ml", "r2"))
        source.hub.publish(Change("Run", "DELETED", "ml", "r2"))
        response = await client.get(f"/events?since={since[1]}")
        row = await read_event(response, "row")
        assert row["key"] == "ml/r1" and row["phase"] == "Succeeded"
        assert (await read_event(response, "removed"))["key"] == "ml/r2"
        response.close()
        for _ in range(RECENT_SIZE):
            source.hub.publish(Change("Run", "MODIFIED", "ml", "r1"))
        stale = await client.get(f"/events?since={since[1]}")
        assert await read_event(stale, "reload") == {}

    with_client(source, check)


@pytest.mark.parametrize(
    ("published", "since", "missed"),
    [
        (0, 0, []),
        (3, 1, ["c2", "c3"]),
        (3, 3, []),
        (3, 4, None),
        (RECENT_SIZE + 5, 4, None),
        (RECENT_SIZE + 5, 5, 1000),
    ],
)
def test_hub_since_gives_the_changes_after_a_sequence_or_none_when_not_all_kept(
    published: int, since: int, missed: list[str] | int | None
) -> None:
    hub = Hub()
    for number in range(1, published + 1):
        hub.publish(Change("Run", "MODIFIED", "ml", f"c{number}"))
    found = hub.since(since)
    if isinstance(missed, int):
        assert found is not None and len(found) == missed
    else:
        assert (None if found is None else [c.name for c in found]) == missed


def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    async def main() -> None:
        hub = Hub()
        with hub.subscribe() as slow:
            for _ in range(2000):
                hub.publish(Change("Run", "MODIFIED", "ml", "r1"))
            assert slow.dropped and hub.subscribers == 0

    asyncio.run(main())
