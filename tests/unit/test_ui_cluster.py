"""ClusterSource without a cluster (fake API objects): log threads end when the browser leaves, the watch's
backoff starts over after a healthy watch, changes carry the watched document, and events are asked for by
field selector."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from kubeline.ui import cluster
from kubeline.ui.cluster import MAX_EVENT_PODS, ClusterSource, _Watcher


def source() -> ClusterSource:
    return ClusterSource(namespace="ml", api_client=client.ApiClient())


class EndlessLog:
    """A followed pod log that never ends: ``chatty`` sends data as fast as it is read, else none ever comes
    (a quiet running step) until the response is shut down."""

    def __init__(self, chatty: bool):
        self.chatty = chatty
        self.closed = threading.Event()

    def stream(self, size: int) -> Any:
        while not self.closed.is_set():
            if self.chatty:
                yield b"line\n" * 100
            else:
                self.closed.wait()

    def shutdown(self) -> None:
        self.closed.set()

    def close(self) -> None:
        self.closed.set()


@pytest.mark.parametrize("chatty", [True, False], ids=["full-queue", "quiet-pod"])
def test_a_log_thread_ends_soon_after_the_browser_leaves(chatty: bool) -> None:
    ui = source()
    response = EndlessLog(chatty)
    ui.core = SimpleNamespace(read_namespaced_pod_log=lambda *a, **kw: response)  # type: ignore[assignment]
    pod = f"pod-{chatty}-{time.monotonic_ns()}"
    run = {"status": {"tasks": {"train": {"phase": "Running", "pod": pod}}}}

    def alive() -> bool:
        return any(t.name == f"kubeline-ui-log-{pod}" for t in threading.enumerate())

    async def main() -> None:
        chunks = ui.log("ml", run, "train", True)
        if chatty:
            assert "line" in await chunks.__anext__()
            await asyncio.sleep(0.5)  # the reader's queue fills up
        else:
            reading = asyncio.ensure_future(chunks.__anext__())
            await asyncio.sleep(0.3)
            reading.cancel()  # the browser left while the page waited for a line (aiohttp cancels the handler)
            with contextlib.suppress(asyncio.CancelledError):
                await reading
        await chunks.aclose()  # the browser left
        deadline = time.monotonic() + 3
        while alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    asyncio.run(main())
    assert not alive() and response.closed.is_set()


class StopAfter(threading.Event):
    """The watcher's stop event, recording each pause; stops after ``count`` pauses."""

    def __init__(self, count: int):
        super().__init__()
        self.count, self.pauses = count, []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self.count:
            self.set()
        return self.is_set()


def test_the_watch_backoff_starts_over_after_a_watch_that_delivered_events(monkeypatch: Any) -> None:
    event = {"type": "MODIFIED", "object": {"metadata": {"name": "r", "namespace": "ml", "resourceVersion": "5"}}}
    # each watch request: the events it delivers, then whether it breaks (True) or ends as the server ends it
    script = [([], True), ([], True), ([], True), ([event], True), ([], True), ([], False), ([], True)]

    class FakeWatch:
        def stream(self, *args: Any, **kwargs: Any) -> Any:
            events, breaks = script.pop(0)
            yield from events
            if breaks:
                raise ConnectionError("connection reset")

        def stop(self) -> None:
            pass

    monkeypatch.setattr(cluster.watch, "Watch", FakeWatch)
    watcher = _Watcher(source(), "runs", "Run")
    watcher._list = lambda: ([], "1")  # type: ignore[method-assign]
    watcher.stopping = StopAfter(6)
    watcher._run()
    assert watcher.stopping.pauses == [1.0, 2.0, 4.0, 1.0, 2.0, 1.0]


def test_changes_carry_the_watched_document() -> None:
    ui = source()
    item = {"metadata": {"name": "r1", "namespace": "ml"}, "status": {"phase": "Running"}}

    async def main() -> list[Any]:
        with ui.hub.subscribe() as subscription:
            ui.replace_all("Run", [item])
            ui.apply("Run", "MODIFIED", {**item, "status": {"phase": "Succeeded"}})
            ui.apply("Run", "DELETED", item)
            return [await subscription.get() for _ in range(3)]

    added, modified, deleted = asyncio.run(main())
    assert added.document is item
    assert modified.document["status"]["phase"] == "Succeeded" and ui.row("ml", "r1") is None
    assert deleted.type == "DELETED" and deleted.document is None


def test_events_are_asked_for_by_field_selector_for_the_run_and_each_pod_bounded() -> None:
    ui = source()
    selectors: list[str] = []

    def listed(namespace: str, **kwargs: Any) -> Any:
        selectors.append(kwargs["field_selector"])
        assert namespace == "ml" and kwargs["limit"] <= 1000
        return SimpleNamespace(items=[])

    ui.core = SimpleNamespace(list_namespaced_event=listed, api_client=client.ApiClient())  # type: ignore[assignment]
    asyncio.run(ui.events("ml", "r1", ["p1", "p2", "p1"]))
    assert selectors == [
        "involvedObject.kind=Run,involvedObject.name=r1",
        "involvedObject.kind=Pod,involvedObject.name=p1",
        "involvedObject.kind=Pod,involvedObject.name=p2",
    ]
    selectors.clear()
    asyncio.run(ui.events("ml", "r1", [f"p{n}" for n in range(100)]))
    assert len(selectors) == 1 + MAX_EVENT_PODS
