"""What several pages share: the Source and a run from a request, the Server-Sent Events helpers, and the
readers of a Run document's fields (whatever their types, a missing or wrong field reads as empty).

Live pages listen on Server-Sent Events: the runs list gets changed rows as JSON, a run page gets its phase,
counts and each graph node's phase. Bursts are coalesced: a stream sends at most one message per run every
COALESCE_SECONDS, however many watch events arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from aiohttp import web

from kubeline.ui import app as ui
from kubeline.ui.rows import mapping, sequence
from kubeline.ui.sources import ActionRefused, Change, Source, Subscription

COALESCE_SECONDS = 0.25
#: A comment line keeps idle streams open through proxies, and notices a browser that left.
KEEPALIVE_SECONDS = 15.0
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def source(request: web.Request) -> Source:
    return request.app[ui.SOURCE]


def names(request: web.Request) -> tuple[str, str]:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    if not (NAME.match(namespace) and NAME.match(name)):
        raise web.HTTPNotFound(text=f"no run {namespace}/{name}: not a valid namespace and name")
    return namespace, name


async def run_or_404(request: web.Request) -> tuple[str, str, dict[str, Any]]:
    namespace, name = names(request)
    document = await source(request).run(namespace, name)
    if document is None:
        raise web.HTTPNotFound(text=f"no run {name} in namespace {namespace} (deleted, or never created)")
    return namespace, name, document


async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    return await ui.prepare(request, response)


async def change_stream(request: web.Request) -> web.StreamResponse:
    """A page's live stream of changes: a browser that loses it reconnects after 3 s."""
    response = await stream(request)
    await response.write(b"retry: 3000\n\n")
    return response


async def send(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())


async def batch(subscription: Subscription) -> list[Change] | None:
    """The next changes, gathered over COALESCE_SECONDS after the first; [] after an idle KEEPALIVE_SECONDS;
    None when the subscriber was dropped for falling behind."""
    try:
        first = await asyncio.wait_for(subscription.get(), KEEPALIVE_SECONDS)
    except TimeoutError:
        return []
    if first is None:
        return None
    await asyncio.sleep(COALESCE_SECONDS)
    changes = [first]
    while not subscription.queue.empty():
        changes.append(subscription.queue.get_nowait())
    return changes


async def batches(
    response: web.StreamResponse, subscription: Subscription, missed: list[Change] | None = None
) -> AsyncIterator[list[Change]]:
    """The subscription's changes batch by batch, ``missed`` first. While idle the stream is kept alive; when the
    subscriber was dropped for falling behind, the page is told to reload and the batches end."""
    if missed:
        yield missed
    while True:
        changes = await batch(subscription)
        if changes is None:
            await send(response, "reload", {})
            return
        if changes:
            yield changes
        else:
            await response.write(b": keepalive\n\n")


def status(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(document.get("status"))


def spec_of_run(document: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline the run runs: frozen in its status once started, else inline in its spec."""
    frozen = status(document).get("pipelineSpec")
    if isinstance(frozen, dict):
        return frozen
    inline = mapping(document.get("spec")).get("pipelineSpec")
    return inline if isinstance(inline, dict) else {}


def tasks(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = mapping(status(document).get("tasks"))
    return {str(step): task for step, task in tasks.items() if isinstance(task, dict)}


def arguments(document: Mapping[str, Any]) -> dict[str, Any]:
    arguments = status(document).get("arguments")
    if not isinstance(arguments, Mapping):
        arguments = mapping(document.get("spec")).get("arguments")
    return dict(mapping(arguments))


def params(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in sequence(spec.get("params")) if isinstance(p, dict) and isinstance(p.get("name"), str)]


def defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's parameter defaults: with the run's arguments, the values the run used."""
    return {p["name"]: p["default"] for p in params(spec) if p.get("default") is not None}


def pods(tasks: Mapping[str, Mapping[str, Any]], steps: Sequence[str]) -> list[str]:
    """The pods of ``steps`` (those that ran one)."""
    return [pod for step in steps if isinstance(pod := tasks[step].get("pod"), str) and pod]


async def events(source: Source, namespace: str, name: str, pods: Sequence[str]) -> list[dict[str, Any]]:
    """The events of the run and of ``pods``; a refusal (e.g. RBAC) is shown as one event."""
    try:
        return await source.events(namespace, name, pods)
    except ActionRefused as refused:
        return [{"type": "Warning", "reason": "NotShown", "message": str(refused)}]
