"""Where the UI's runs come from (a cluster, or the local runner's folder) and how their changes reach the pages.

A Source keeps one small RunRow per Run, current through a watch (cluster) or stat() of run files (local), and
publishes each change on its Hub; every open page's Server-Sent Events stream is one Hub subscriber.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kubeline.store import StoreError, open_store
from kubeline.ui.rows import RunRow

ChangeKind = Literal["Run", "Pipeline"]
ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]
#: Changes a subscriber may fall behind by before it is dropped (its page reconnects and reloads).
QUEUE_SIZE = 1000
#: Recent changes kept for pages that subscribe after they were rendered (see Hub.since).
RECENT_SIZE = 1000


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    type: ChangeType
    namespace: str
    name: str
    #: The resource as the watch delivered it, when it did (saves the run page a GET); not compared.
    document: dict[str, Any] | None = field(default=None, compare=False, repr=False)


class ActionRefused(Exception):
    """An action or read the source refused, with a message for the user (e.g. the RBAC permission missing)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


class Subscription:
    """One listener's queue; ``dropped`` once it fell QUEUE_SIZE changes behind."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = False

    async def get(self) -> Change | None:
        """The next change, or None once dropped."""
        if self.dropped and self.queue.empty():
            return None
        return await self.queue.get()


class Hub:
    """Fans changes out to subscribers. Publishing never waits: a subscriber whose queue is full is dropped
    (and woken), so one slow browser cannot hold up the watch or the other pages. Used on the event loop only."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        #: How many changes were published; a page rendered at sequence N asks for the changes after N.
        self.sequence = 0
        self._recent: deque[tuple[int, Change]] = deque(maxlen=RECENT_SIZE)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextmanager
    def subscribe(self) -> Any:
        subscription = Subscription()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def since(self, sequence: int) -> list[Change] | None:
        """The changes published after ``sequence`` (a page's rendering), which its stream, subscribed later,
        did not receive; None when they are no longer all kept (the page must reload)."""
        if sequence > self.sequence:
            return None
        missed = [change for number, change in self._recent if number > sequence]
        return missed if len(missed) == self.sequence - sequence else None

    def publish(self, change: Change) -> None:
        self.sequence += 1
        self._recent.append((self.sequence, change))
        for subscription in list(self._subscribers):
            try:
                subscription.queue.put_nowait(change)
            except asyncio.QueueFull:
                subscription.dropped = True
                self._subscribers.discard(subscription)


class Source(Protocol):
    label: str
    writable: bool
    hub: Hub

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def rows(self) -> Sequence[RunRow]: ...

    def row(self, namespace: str, name: str) -> RunRow | None: ...

    async def run(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def pipelines(self) -> Sequence[dict[str, Any]]: ...

    async def pipeline(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    def log(self, namespace: str, run: dict[str, Any], step: str, follow: bool) -> AsyncIterator[str]: ...

    def problems(self) -> list[str]:
        """Why runs or pipelines may be missing from the lists (e.g. RBAC forbids listing them); shown."""
        ...

    async def events(self, namespace: str, run_name: str, pods: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Kubernetes Events of the run and of the named pods."""
        ...

    async def artifact(self, run: dict[str, Any], key: str, limit: int) -> tuple[bytes, int | None]: ...

    async def create_run(
        self,
        namespace: str,
        pipeline_ref_or_spec: str | dict[str, Any],
        arguments: dict[str, Any],
        *,
        generate_name: str,
        labels: dict[str, str],
    ) -> str: ...

    async def retry(self, namespace: str, original: dict[str, Any]) -> str:
        """A Run retrying the finished Run ``original`` (spec.retryOf); its name."""
        ...

    async def cancel(self, namespace: str, name: str) -> None: ...

    async def delete(self, namespace: str, name: str) -> None: ...


async def read_artifact(run: Mapping[str, Any], key: str, limit: int) -> tuple[bytes, int | None]:
    """The first ``limit`` bytes of an object in the run's artifact store, and its whole size."""
    status = run.get("status")
    url = status.get("artifactStore") if isinstance(status, Mapping) else None
    if not isinstance(url, str) or not url:
        raise ActionRefused("the run recorded no artifact store", 404)

    def read() -> tuple[bytes, int | None]:
        try:
            data = open_store(url).get_bytes(key)
        except (StoreError, ValueError) as problem:
            raise ActionRefused(f"cannot read the artifact from {url}: {problem}", 502) from None
        return data[:limit], len(data)

    return await asyncio.to_thread(read)
