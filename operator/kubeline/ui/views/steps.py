"""A step of a run: its panel (inputs, outputs, artifact previews, KFP visualizations, log, events), its log
(text, or streamed while it runs), its stored outputs downloaded, and its KFP web apps, sandboxed."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from aiohttp import web

from kubeline.engine import stepid
from kubeline.sdk.components import KFP_UI_OUTPUTS
from kubeline.store.layout import ObjectRef, object_key
from kubeline.ui import app as ui
from kubeline.ui.previews import MAX_PREVIEW_BYTES, download_type, preview
from kubeline.ui.rows import mapping, run_row, sequence
from kubeline.ui.sources import ActionRefused, Source
from kubeline.ui.views import common
from kubeline.ui.visualizations import MAX_METADATA_BYTES, Notice, Visualization, WebAppView, visualizations

#: Bytes of a finished step's log put into its panel (the whole log is a download away).
LOG_PAGE_BYTES = 1 << 20
#: Bytes of an artifact served for download (larger ones are cut, and the page says so).
ARTIFACT_LIMIT = 256 << 20
#: Artifacts of one step previewed in its panel (the others are a download away).
MAX_PREVIEWS = 8
#: A web app's page runs its own scripts and styles, in an opaque origin, and loads nothing.
WEB_APP_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'self'"
)


def _task_definition(spec: Mapping[str, Any], step: str) -> dict[str, Any]:
    """The task (as written in the pipeline) a step id is an instance of, or {} (e.g. an edited pipeline)."""
    try:
        segments = stepid.parse(step)
    except ValueError:
        return {}
    scope = sequence(spec.get("tasks"))
    found: dict[str, Any] = {}
    for segment in segments:
        candidates = [t for t in scope if isinstance(t, dict) and t.get("name") == segment.name]
        exit_task = spec.get("onExit")
        if not candidates and isinstance(exit_task, dict) and segment is segments[0]:
            candidates = [{**exit_task, "name": segment.name}]
        if not candidates:
            return {}
        found = candidates[0]
        scope = sequence(mapping(found.get("dag")).get("tasks"))
    return found


def _output_types(spec: Mapping[str, Any], definition: Mapping[str, Any]) -> dict[str, str]:
    """The declared type of each output of the component a task runs (``artifact``, ``ui-metadata``, …)."""
    component = definition.get("component")
    for candidate in sequence(spec.get("components")):
        if isinstance(candidate, dict) and candidate.get("name") == component:
            return {
                str(o.get("name")): str(o.get("type") or "string")
                for o in sequence(candidate.get("outputs"))
                if isinstance(o, dict)
            }
    return {}


def _is_ui_metadata(name: str, declared: str | None) -> bool:
    return declared == "ui-metadata" or (declared is None and KFP_UI_OUTPUTS.get(name) == "ui-metadata")


async def step_context(
    source: Source, base: str, namespace: str, document: dict[str, Any], step: str
) -> dict[str, Any]:
    tasks = common.tasks(document)
    task = tasks[step]
    spec = common.spec_of_run(document)
    definition = _task_definition(spec, step)
    types = _output_types(spec, definition)
    name = str(mapping(document.get("metadata")).get("name", ""))
    step_url = f"{base}/runs/{namespace}/{name}/steps/{quote(step, safe='')}"
    download = f"{step_url}/outputs/"
    outputs: list[dict[str, Any]] = []
    artifacts: list[dict[str, Any]] = []
    views = await _step_visualizations(source, document, step)
    web_apps = itertools.count()
    views = [
        replace(view, url=f"{step_url}/webapp/{next(web_apps)}") if isinstance(view, WebAppView) else view
        for view in views
    ]
    for output, value in sorted(mapping(task.get("outputs")).items()):
        ref = ObjectRef.parse(value) if isinstance(value, str) else None
        url = download + quote(output, safe="") + "?download=1" if ref is not None else None
        outputs.append({"name": output, "value": str(value), "artifact": ref is not None, "url": url})
        if ref is None or ref.directory or _is_ui_metadata(output, types.get(output)):
            continue
        if len(artifacts) < MAX_PREVIEWS:
            data, size = await _artifact_bytes(source, document, ref, MAX_PREVIEW_BYTES, views, output)
            if data is not None:
                artifacts.append({"preview": preview(output, data, size), "download_url": url})
    running = task.get("phase") == "Running"
    log_text = ""
    if not running:
        log_text = await _read_log(source, namespace, document, step)
    pods = common.pods(tasks, [step])
    events = await common.events(source, namespace, name, pods) if pods else []
    mine = [e for e in events if mapping(e.get("involvedObject")).get("name") != name]
    started, finished = (task.get("startedAt"), task.get("finishedAt"))
    row_times = run_row({"status": {"startedAt": started, "finishedAt": finished}})
    return {
        "step": step,
        "task": task,
        "definition": definition,
        "inputs": mapping(definition.get("arguments")),
        "outputs": outputs,
        "artifacts": artifacts,
        "visualizations": views,
        "running": running,
        "log_text": log_text,
        "events": mine,
        "duration": row_times.duration_seconds,
        "namespace": namespace,
        "name": name,
    }


async def _step_visualizations(source: Source, document: dict[str, Any], step: str) -> list[Visualization]:
    """The views of the step's KFP ui-metadata outputs, in the order of the outputs' names (a web app's number
    in its URL is its place among the step's web apps)."""
    spec = common.spec_of_run(document)
    types = _output_types(spec, _task_definition(spec, step))
    views: list[Visualization] = []
    for output, value in sorted(mapping(common.tasks(document)[step].get("outputs")).items()):
        ref = ObjectRef.parse(value) if isinstance(value, str) else None
        if ref is None or ref.directory or not _is_ui_metadata(output, types.get(output)):
            continue
        data, _ = await _artifact_bytes(source, document, ref, MAX_METADATA_BYTES + 1, views, output)
        if data is not None:
            views.extend(visualizations(data))
    return views


async def step_web_app(request: web.Request) -> web.Response:
    """A KFP web-app visualization's page, for an ``<iframe sandbox="allow-scripts">``: its CSP sandboxes it
    into an opaque origin (even opened on its own), so its scripts run but cannot read the UI or act in it."""
    namespace, name, document = await common.run_or_404(request)
    step = request.match_info["step"]
    _step_or_404(document, step)
    apps = [
        view
        for view in await _step_visualizations(common.source(request), document, step)
        if isinstance(view, WebAppView)
    ]
    number = int(request.match_info["number"])
    if number >= len(apps):
        raise web.HTTPNotFound(text=f"the step {step} has no web app visualization {number}")
    return web.Response(
        text=apps[number].html,
        content_type="text/html",
        headers={"Content-Security-Policy": WEB_APP_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


async def _artifact_bytes(
    source: Source, document: dict[str, Any], ref: ObjectRef, limit: int, notices: list[Any], output: str
) -> tuple[bytes | None, int | None]:
    """The beginning of a stored output and its whole size; a notice (and None) when it cannot be read."""
    try:
        return await source.artifact(document, object_key(ref), limit)
    except ActionRefused as refused:
        notices.append(Notice(f"{output} not shown", str(refused)))
        return None, None


async def _read_log(source: Source, namespace: str, document: dict[str, Any], step: str) -> str:
    chunks: list[str] = []
    size = 0
    try:
        async for chunk in source.log(namespace, document, step, False):
            chunks.append(chunk)
            size += len(chunk)
            if size > LOG_PAGE_BYTES:
                chunks.append("\n… (cut: download the whole log)")
                break
    except ActionRefused as refused:
        return f"(no log: {refused})"
    return "".join(chunks)


def _step_or_404(document: dict[str, Any], step: str) -> None:
    if step not in common.tasks(document):
        raise web.HTTPNotFound(text=f"the run has no step {step!r}")


async def step_panel(request: web.Request) -> web.Response:
    namespace, name, document = await common.run_or_404(request)
    step = request.match_info["step"]
    _step_or_404(document, step)
    context = await step_context(common.source(request), request.app[ui.BASE], namespace, document, step)
    return ui.page(request, "step.html", panel=context)


async def step_log(request: web.Request) -> web.StreamResponse:
    """The step's log: ``?follow=1`` streams it as Server-Sent Events while the step runs, else plain text."""
    namespace, name, document = await common.run_or_404(request)
    step = request.match_info["step"]
    _step_or_404(document, step)
    source = common.source(request)
    if request.query.get("follow") != "1":
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Disposition": f'inline; filename="{stepid.folder_name(step)}.log"',
            }
        )
        await ui.prepare(request, response)
        async for chunk in source.log(namespace, document, step, False):
            await response.write(chunk.encode())
        return response
    response = await common.stream(request)
    try:
        async for chunk in source.log(namespace, document, step, True):
            await common.send(response, "chunk", chunk)
    except ActionRefused as refused:
        await common.send(response, "chunk", f"(no log: {refused})")
    await common.send(response, "end", {})
    return response


async def step_artifact(request: web.Request) -> web.StreamResponse:
    """An output's stored object, downloaded; only objects the step's own outputs name can be read."""
    namespace, name, document = await common.run_or_404(request)
    step, output = request.match_info["step"], request.match_info["output"]
    _step_or_404(document, step)
    value = mapping(common.tasks(document)[step].get("outputs")).get(output)
    ref = ObjectRef.parse(value) if isinstance(value, str) else None
    if ref is None:
        raise web.HTTPNotFound(text=f"the step {step} has no stored artifact {output!r}")
    data, _ = await common.source(request).artifact(document, object_key(ref), ARTIFACT_LIMIT)
    filename = f"{stepid.folder_name(step)}-{output}" + (".tar" if ref.directory else "")
    return web.Response(
        body=data,
        headers={
            "Content-Type": "application/x-tar" if ref.directory else download_type(data),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )
