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
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&amp;"
TABLE_REF = "sha256:" + "a" * 64
METADATA_REF = "sha256:" + "b" * 64
IMAGE_REF = "sha256:" + "c" * 64
WEB_APP = "<h1>app</h1><script>document.title = 'ran'</script>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
#: What the fake artifact store holds, by key.
ARTIFACTS = {
    f"objects/sha256/aa/{'a' * 64}": f"name,score\n{HOSTILE},0.5\n".encode(),
    f"objects/sha256/bb/{'b' * 64}": json.dumps(
        {
            "outputs": [
                {"type": "markdown", "storage": "inline", "source": f"# Report\n{HOSTILE}"},
                {"type": "table", "storage": "inline", "format": "csv", "header": ["k", "v"], "source": f"{HOSTILE},1"},
                {"type": "web-app", "storage": "inline", "source": WEB_APP},
            ]
        }
    ).encode(),
    f"objects/sha256/cc/{'c' * 64}": PNG,
}
RUN_SPEC = {
    "params": [{"name": "rate", "type": "string"}],
    "components": [
        {
            "name": "c",
            "outputs": [
                {"name": "out", "type": "string"},
                {"name": "scores", "type": "artifact"},
                {"name": "mlpipeline-ui-metadata", "type": "ui-metadata"},
            ],
            "container": {"image": "x", "command": ["true"]},
        }
    ],
    "tasks": [{"name": "step-a", "component": "c"}, {"name": "each", "component": "c", "forEach": [1, 2, 3]}],
}


def document(name: str, phase: str = "Succeeded", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": {"team": HOSTILE}},
        "spec": {"pipelineRef": {"name": "train"}, "arguments": {"rate": HOSTILE}},
        "status": {
            "phase": phase,
            "message": f"message {HOSTILE}",
            "startedAt": "2024-05-01T10:00:00Z",
            "progress": {"total": 1, "succeeded": 1 if phase == "Succeeded" else 0, "running": int(phase == "Running")},
            "tasks": {
                "step-a": {
                    "phase": phase,
                    "attempts": 1,
                    "message": HOSTILE,
                    "startedAt": "2024-05-01T10:00:00Z",
                    "outputs": {"out": HOSTILE, "scores": TABLE_REF, "mlpipeline-ui-metadata": METADATA_REF},
                }
            },
            "pipelineSpec": RUN_SPEC,
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
        self.retried: list[str] = []
        self.problem_texts: list[str] = []
        self.event_queries: list[tuple[str, list[str]]] = []

    async def start(self) -> None:
        pass

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

    def problems(self) -> list[str]:
        return list(self.problem_texts)

    async def events(self, namespace: str, run_name: str, pods: Sequence[str] = ()) -> list[dict[str, Any]]:
        self.event_queries.append((run_name, list(pods)))
        return [
            {"type": "Normal", "reason": "Started", "message": HOSTILE, "involvedObject": {"name": name}}
            for name in (run_name, *pods)
        ]

    async def artifact(self, run: dict[str, Any], key: str, limit: int) -> tuple[bytes, int | None]:
        if key not in ARTIFACTS:
            raise ActionRefused(f"cannot read the artifact: no object {key}", status=404)
        return ARTIFACTS[key][:limit], len(ARTIFACTS[key])

    async def create_run(
        self, namespace: str, pipeline: Any, arguments: dict[str, Any], *, generate_name: str, labels: dict[str, str]
    ) -> str:
        self.created.append((pipeline, arguments))
        return f"{generate_name}x1"

    async def retry(self, namespace: str, original: dict[str, Any]) -> str:
        self.retried.append(original["metadata"]["name"])
        return f"{original['metadata']['name']}-retry-x1"

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


def test_pages_ask_for_the_events_of_their_run_and_pods_only() -> None:
    run = document("r1", "Failed")
    run["status"]["tasks"]["step-a"]["pod"] = "r1-step-a-pod"
    run["status"]["tasks"]["ok"] = {"phase": "Succeeded", "pod": "r1-ok-pod"}
    run["status"]["tasks"]["waiting"] = {"phase": "Pending"}
    source = FakeSource([run])

    async def check(client: TestClient[Any, Any]) -> None:
        await client.get("/runs/ml/r1")
        assert source.event_queries == [("r1", ["r1-step-a-pod", "r1-ok-pod"])]  # the failed step's pod first
        source.event_queries.clear()
        panel = await (await client.get("/runs/ml/r1/steps/step-a")).text()
        assert source.event_queries == [("r1", ["r1-step-a-pod"])]
        assert panel.count("<td>Started</td>") == 1  # the pod's event, not the run's

    with_client(source, check)


def test_a_web_app_is_its_own_sandboxed_page_framed_without_same_origin() -> None:
    source = FakeSource([document("r1")])

    async def check(client: TestClient[Any, Any]) -> None:
        panel = await (await client.get("/runs/ml/r1/steps/step-a")).text()
        frame = re.search(r"<iframe [^>]*>", panel)
        assert frame is not None
        assert 'sandbox="allow-scripts"' in frame[0] and 'src="/runs/ml/r1/steps/step-a/webapp/0"' in frame[0]
        assert "srcdoc" not in panel and "document.title" not in panel and "allow-same-origin" not in panel
        app = await client.get("/runs/ml/r1/steps/step-a/webapp/0")
        assert app.status == 200 and await app.text() == WEB_APP
        csp = app.headers["Content-Security-Policy"]
        assert csp.startswith("sandbox allow-scripts;") and "allow-same-origin" not in csp
        assert "default-src 'none'" in csp and "script-src 'unsafe-inline'" in csp and "img-src data:" in csp
        assert app.headers["X-Frame-Options"] == "SAMEORIGIN" and app.headers["X-Content-Type-Options"] == "nosniff"
        assert (await client.get("/runs/ml/r1/steps/step-a/webapp/1")).status == 404
        download = await client.get("/runs/ml/r1/steps/step-a/outputs/scores")
        assert download.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"

    with_client(source, check)


@pytest.mark.parametrize("path", ["/", "/pipelines"])
def test_the_lists_show_the_sources_problems(path: str) -> None:
    source = FakeSource([document("r1")])
    source.problem_texts = [f"forbidden: your Kubernetes identity may not list runs {HOSTILE}"]

    async def check(client: TestClient[Any, Any]) -> None:
        text = await (await client.get(path)).text()
        assert (
            f'<p class="notice source-problem">forbidden: your Kubernetes identity may not list runs {ESCAPED}' in text
        )
        source.problem_texts = []
        assert "source-problem" not in await (await client.get(path)).text()

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
        assert ESCAPED in text
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
        assert response.headers["Referrer-Policy"] == "same-origin"  # own POSTs carry the real Origin, not null

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
        opaque = await client.post(  # a sandboxed frame or a data: page
            "/runs/ml/r1/cancel", data={"csrf": csrf}, headers={"Origin": "null"}, allow_redirects=False
        )
        assert (no_token.status, wrong.status, foreign.status, opaque.status) == (403, 403, 403, 403)
        assert source.cancelled == []
        done = await client.post("/runs/ml/r1/cancel", data={"csrf": csrf}, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/runs/ml/r1"
        assert source.cancelled == ["r1"]
        refused = await client.post("/runs/ml/forbidden/cancel", data={"csrf": csrf}, allow_redirects=False)
        assert refused.status == 403 and "may not patch runs.kubeline.dev" in await refused.text()

    with_client(source, check)


def test_retry_clone_and_start_create_runs_with_checked_arguments() -> None:
    source = FakeSource([document("r1", "Failed"), document("r2", "Running")])

    async def check(client: TestClient[Any, Any]) -> None:
        csrf = await token(client, "/runs/ml/r1")
        retried = await client.post("/runs/ml/r1/retry", data={"csrf": csrf}, allow_redirects=False)
        assert retried.status == 303 and retried.headers["Location"] == "/runs/ml/r1-retry-x1"
        assert source.retried == ["r1"]  # a Run with retryOf: the original's succeeded steps are reused
        running = await client.post("/runs/ml/r2/retry", data={"csrf": csrf}, allow_redirects=False)
        assert running.status == 409 and "has not finished (phase Running)" in await running.text()
        assert source.retried == ["r1"]
        started = await client.post(
            "/pipelines/ml/train/runs", data={"csrf": csrf, "param.rate": "0.5"}, allow_redirects=False
        )
        assert started.status == 303
        bad = await client.post(
            "/pipelines/ml/train/runs", data={"csrf": csrf, "param.rate": "fast"}, allow_redirects=False
        )
        assert bad.status == 422 and "rate" in await bad.text()
        assert source.created == [("train", {"rate": 0.5})]

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


@pytest.mark.parametrize("path", ["events", "runs/ml/r1/events"])
def test_a_closed_tab_ends_its_stream_without_an_error_logged(path: str, caplog: pytest.LogCaptureFixture) -> None:
    """Served as `kubeline ui` serves (the test server would cancel the handler, hiding the failed writes)."""
    from aiohttp import ClientSession

    from kubeline.ui.server import start

    source = FakeSource([document("r1", "Running")])

    async def main() -> None:
        runner, url = await start(source, "127.0.0.1", 0)  # type: ignore[arg-type]  # a fake Source
        try:
            async with ClientSession() as session:
                response = await session.get(url + path)
                await response.content.readline()
                response.close()  # the tab closed
                await asyncio.sleep(0.1)
                for phase in ("Failed", "Succeeded", "Running"):  # the stream writes to the closed connection
                    source.documents[("ml", "r1")] = document("r1", phase)
                    source.hub.publish(Change("Run", "MODIFIED", "ml", "r1", source.documents[("ml", "r1")]))
                    await asyncio.sleep(0.4)
                assert source.hub.subscribers == 0  # the handler ended
                assert (await session.get(url + "healthz")).status == 200
        finally:
            await runner.cleanup()

    with caplog.at_level("DEBUG"):
        asyncio.run(main())
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info] == []


def test_a_slow_subscriber_is_dropped_not_waited_for() -> None:
    async def main() -> None:
        hub = Hub()
        with hub.subscribe() as slow:
            for _ in range(2000):
                hub.publish(Change("Run", "MODIFIED", "ml", "r1"))
            assert slow.dropped and hub.subscribers == 0

    asyncio.run(main())


def graph_data(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.DOTALL)
    assert found, "the page carries its graph's data"
    data: dict[str, Any] = json.loads(found[1])
    return data


@pytest.mark.usefixtures("dot")
def test_run_graph_is_coloured_by_the_runs_phases_with_counts_in_tooltips() -> None:
    tasks = {
        "step-a": {"phase": "Succeeded", "cached": True},
        "each[0]": {"phase": "Succeeded"},
        "each[1]": {"phase": "Succeeded"},
        "each[2]": {"phase": "Running"},
    }
    source = FakeSource([document("r1", "Running", tasks=tasks)])

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/runs/ml/r1")).text()
        assert '<g id="n0" class="node phase-succeeded cached">\n<title>step-a: succeeded (cached)</title>' in page
        assert '<g id="n1" class="node phase-running">\n<title>each: 2/3 succeeded, 1 running</title>' in page
        nodes = graph_data(page)["nodes"]
        assert nodes["n1"]["steps"] == ["each[0]", "each[1]", "each[2]"]
        assert nodes["n1"]["counts"] == {"Running": 1, "Succeeded": 2}
        assert graph_data(page)["steps"]["each[2]"] == "Running"

    with_client(source, check)


def test_a_reused_step_says_from_which_run_in_the_steps_table_and_its_panel() -> None:
    tasks = {"step-a": {"phase": "Succeeded", "attempts": 1, "reusedFrom": HOSTILE}}
    source = FakeSource([document("r1", tasks=tasks)])

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/runs/ml/r1")).text()
        panel = await (await client.get("/runs/ml/r1/steps/step-a")).text()
        for text in (page, panel):
            assert (
                '<span class="tag">reused from &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&#34;&amp;</span>' in text
            )

    with_client(source, check)


def test_an_invalid_spec_is_a_notice_in_the_graph_and_the_rest_of_the_page_works() -> None:
    invalid = {"params": [{"name": "rate", "type": "string"}], "tasks": [{"name": HOSTILE, "component": "nowhere"}]}
    source = FakeSource([document("r1", pipelineSpec=invalid)])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/runs/ml/r1?step=step-a")
        page = await response.text()
        assert response.status == 200, page
        notice = re.search(r'<p class="notice graph-problem" id="graph-problem">(.*?)</p>', page, re.DOTALL)
        assert notice and "the pipeline is not valid: spec.components" in notice[1]
        assert "<script>alert" not in page
        assert 'data-step="step-a"' in page and 'id="step-log"' in page  # the steps table and the panel
        assert graph_data(page)["nodes"] == {}
        panel = await client.get("/runs/ml/r1/steps/step-a")
        assert panel.status == 200

    with_client(source, check)


def test_a_missing_dot_is_a_notice_naming_graphviz(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeline.ui import layout

    monkeypatch.setattr(layout.shutil, "which", lambda name: None)
    spec = {**RUN_SPEC, "tasks": [{"name": "step-a", "component": "c"}, {"name": "no-dot", "component": "c"}]}
    source = FakeSource([document("r1", pipelineSpec=spec)])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/runs/ml/r1")
        page = await response.text()
        assert response.status == 200
        assert "Graphviz&#39;s dot program was not found" in page and "apt-get install graphviz" in page
        assert graph_data(page)["nodes"]["n0"]["phase"] == "Succeeded"  # still live, without a drawing

    with_client(source, check)


def test_run_stream_sends_node_states_and_then_only_what_changed() -> None:
    tasks = {"step-a": {"phase": "Running"}, "each[0]": {"phase": "Running"}}
    source = FakeSource([document("r1", "Running", tasks=tasks)])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/runs/ml/r1/events")
        await asyncio.sleep(0.05)
        source.hub.publish(Change("Run", "MODIFIED", "ml", "r1", document("r1", "Running", tasks=tasks)))
        first = await read_event(response, "run")
        assert first["nodes"]["n0"]["className"] == "node phase-running"
        assert first["nodes"]["n1"]["title"] == "each: 0/3 succeeded, 1 running, 2 pending"
        later = {**tasks, "each[0]": {"phase": "Succeeded"}, "each[1]": {"phase": "Running"}}
        source.hub.publish(Change("Run", "MODIFIED", "ml", "r1", document("r1", "Running", tasks=later)))
        second = await read_event(response, "run")
        assert set(second["nodes"]) == {"n1"} and second["nodes"]["n1"]["counts"] == {
            "Pending": 1,
            "Running": 1,
            "Succeeded": 1,
        }
        assert second["steps"] == {"each[0]": "Succeeded", "each[1]": "Running"}
        response.close()

    with_client(source, check)


def test_step_panel_previews_artifacts_and_draws_ui_metadata() -> None:
    source = FakeSource([document("r1")])

    async def check(client: TestClient[Any, Any]) -> None:
        panel = await (await client.get("/runs/ml/r1/steps/step-a")).text()
        assert '<div class="preview preview-text">' in panel
        assert f'<pre class="artifact-text">name,score\n{ESCAPED},0.5\n</pre>' in panel
        assert 'href="/runs/ml/r1/steps/step-a/outputs/scores?download=1"' in panel
        assert '<div class="markdown"><h1>Report</h1>' in panel  # the ui-metadata's Markdown
        assert '<section class="visualization visualization-table">' in panel
        assert "<script>alert" not in panel

    with_client(source, check)


def test_an_unreadable_artifact_is_a_notice_in_the_panel() -> None:
    tasks = {"step-a": {"phase": "Succeeded", "outputs": {"scores": "sha256:" + "d" * 64}}}
    source = FakeSource([document("r1", tasks=tasks)])

    async def check(client: TestClient[Any, Any]) -> None:
        response = await client.get("/runs/ml/r1/steps/step-a")
        assert response.status == 200
        assert "scores not shown" in await response.text()

    with_client(source, check)


def test_downloads_are_attachments_typed_by_their_bytes() -> None:
    tasks = {"step-a": {"phase": "Succeeded", "outputs": {"scores": TABLE_REF, "plot": IMAGE_REF, "out": "7"}}}
    source = FakeSource([document("r1", tasks=tasks)])

    async def check(client: TestClient[Any, Any]) -> None:
        csv = await client.get("/runs/ml/r1/steps/step-a/outputs/scores")
        assert csv.headers["Content-Type"] == "application/octet-stream"
        assert csv.headers["Content-Disposition"] == 'attachment; filename="step-a-scores"'
        assert (await csv.read()).startswith(b"name,score")
        image = await client.get("/runs/ml/r1/steps/step-a/outputs/plot")
        assert image.headers["Content-Type"] == "image/png" and await image.read() == PNG
        assert (await client.get("/runs/ml/r1/steps/step-a/outputs/out")).status == 404  # a value, not stored

    with_client(source, check)


def test_run_page_shows_the_metrics_table_and_the_timeline() -> None:
    metrics = {"step-a": {"accuracy": 0.91234567, HOSTILE: 1.0}}
    source = FakeSource([document("r1", metrics=metrics, finishedAt="2024-05-01T10:05:00Z")])

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/runs/ml/r1")).text()
        assert '<table class="data metrics">' in page and ">0.912346</td>" in page
        assert f"<td>{ESCAPED}</td>" in page
        assert (
            '<figure class="timeline">' in page
            and '<g class="timeline-row phase-succeeded" data-step="step-a">' in page
        )

    with_client(source, check)


def test_compare_shows_runs_side_by_side_and_names_those_not_found() -> None:
    first = document("r1", arguments={"rate": "0.1", "same": 1})
    second = document("r2", arguments={"rate": HOSTILE, "same": 1})
    source = FakeSource([first, second, document("r3")])

    async def check(client: TestClient[Any, Any]) -> None:
        listing = await (await client.get("/")).text()
        assert '<form id="compare-form" method="get" action="/compare">' in listing
        assert 'name="run" form="compare-form" value="ml/r1"' in listing
        response = await client.get("/compare?run=ml/r1&run=ml/r2&run=ml/gone")
        page = await response.text()
        assert response.status == 200
        assert '<a href="/runs/ml/r1">r1</a>' in page and '<a href="/runs/ml/r2">r2</a>' in page
        assert f'<tr class="differs"><th scope="row">rate</th><td>0.1</td><td>{ESCAPED}</td></tr>' in page
        assert '<tr class="same"><th scope="row">same</th>' in page
        assert "Not found: ml/gone" in page
        assert '<option value="ml/r3">' in page  # another run offered to add
        assert "<script>alert" not in page

    with_client(source, check)


def test_refused_form_values_show_the_form_again_with_the_problem_beside_the_field() -> None:
    source = FakeSource([document("r1", "Failed")])

    async def check(client: TestClient[Any, Any]) -> None:
        csrf = await token(client, "/pipelines/ml/train")
        bad = await client.post(
            "/pipelines/ml/train/runs", data={"csrf": csrf, "param.rate": HOSTILE}, allow_redirects=False
        )
        page = await bad.text()
        assert bad.status == 422
        field = re.search(r'<div class="field has-problem">(.*?)</div>', page, re.DOTALL)
        assert field and 'name="param.rate"' in field[1] and '<p class="problem" role="alert">' in field[1]
        assert f'value="{ESCAPED}"' in field[1]
        assert "<script>alert" not in page and source.created == []

    with_client(source, check)


def test_clone_form_is_prefilled_with_what_the_run_asked_for() -> None:
    source = FakeSource([document("r1", "Failed")])

    async def check(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/runs/ml/r1/clone")).text()
        field = re.search(r'<input id="field-1" type="text" name="param.rate"[^>]*>', page)
        assert field and f'value="{ESCAPED}"' in field[0]
        csrf = await token(client, "/runs/ml/r1/clone")
        done = await client.post("/runs/ml/r1/clone", data={"csrf": csrf, "param.rate": "0.3"}, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/runs/ml/r1-clone-x1"
        assert source.created == [(RUN_SPEC, {"rate": "0.3"})]

    with_client(source, check)
