"""The page handlers: each reads from the Source, builds a plain context and renders a template (autoescaped).

Live pages listen on Server-Sent Events: the runs list gets changed rows as JSON, a run page gets its phase,
counts and each graph node's phase. Bursts are coalesced: a stream sends at most one message per run every
COALESCE_SECONDS, however many watch events arrived meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from kubeline.api.constants import EXPERIMENT_LABEL, PIPELINE_LABEL
from kubeline.engine import stepid
from kubeline.sdk.components import KFP_UI_OUTPUTS
from kubeline.store.layout import ObjectRef, object_key
from kubeline.ui import app as ui
from kubeline.ui.compare import compare
from kubeline.ui.forms import arguments_to_clone, form_values, parse_form, run_form
from kubeline.ui.pagegraph import live_graph, node_states, page_graph
from kubeline.ui.previews import MAX_PREVIEW_BYTES, download_type, preview
from kubeline.ui.rows import (
    PER_PAGE_CHOICES,
    PHASES,
    SORT_KEYS,
    Counts,
    Query,
    label_matcher,
    mapping,
    matches,
    page_count,
    parse_query,
    run_row,
    select,
    sequence,
)
from kubeline.ui.sources import ActionRefused, Change, Source, Subscription
from kubeline.ui.timeline import timeline
from kubeline.ui.visualizations import (
    MAX_METADATA_BYTES,
    Notice,
    Visualization,
    WebAppView,
    metrics_table,
    visualizations,
)

log = logging.getLogger("kubeline.ui")

COALESCE_SECONDS = 0.25
#: A comment line keeps idle streams open through proxies, and notices a browser that left.
KEEPALIVE_SECONDS = 15.0
#: Bytes of a finished step's log put into its panel (the whole log is a download away).
LOG_PAGE_BYTES = 1 << 20
#: Bytes of an artifact served for download (larger ones are cut, and the page says so).
ARTIFACT_LIMIT = 256 << 20
#: Steps listed in a run page's step table (the graph shows them all, loops collapsed).
MAX_STEP_ROWS = 2000
#: Artifacts of one step previewed in its panel (the others are a download away).
MAX_PREVIEWS = 8
#: Runs compared at once, and other runs offered to add to a comparison.
MAX_COMPARED = 10
MAX_COMPARE_CHOICES = 200
#: A web app's page runs its own scripts and styles, in an opaque origin, and loads nothing.
WEB_APP_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'self'"
)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def add_routes(app: web.Application, base: str) -> None:
    routes = [
        web.get(f"{base}/healthz", healthz),
        web.get(f"{base}/", runs_list),
        web.get(f"{base}/events", list_events),
        web.get(f"{base}/runs/{{namespace}}/{{name}}", run_page),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/events", run_events),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}", step_panel),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}/log", step_log),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}/outputs/{{output}}", step_artifact),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}/webapp/{{number:[0-9]{{1,4}}}}", step_web_app),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/cancel", cancel_run),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/delete", delete_run),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/retry", retry_run),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/clone", clone_form),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/clone", clone_run),
        web.get(f"{base}/pipelines", pipelines_list),
        web.get(f"{base}/pipelines/{{namespace}}/{{name}}", pipeline_page),
        web.post(f"{base}/pipelines/{{namespace}}/{{name}}/runs", start_run),
        web.get(f"{base}/compare", compare_page),
    ]
    app.router.add_routes(routes)


def _source(request: web.Request) -> Source:
    return request.app[ui.SOURCE]


def _names(request: web.Request) -> tuple[str, str]:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    if not (_NAME.match(namespace) and _NAME.match(name)):
        raise web.HTTPNotFound(text=f"no run {namespace}/{name}: not a valid namespace and name")
    return namespace, name


async def _run_or_404(request: web.Request) -> tuple[str, str, dict[str, Any]]:
    namespace, name = _names(request)
    document = await _source(request).run(namespace, name)
    if document is None:
        raise web.HTTPNotFound(text=f"no run {name} in namespace {namespace} (deleted, or never created)")
    return namespace, name, document


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


# -- the runs list ----------------------------------------------------------------------------------------


async def runs_list(request: web.Request) -> web.Response:
    query = parse_query(request.query)
    every = _source(request).rows()
    rows, total = select(every, query)
    metric_names = sorted({name for row in rows for name in row.metrics})[:6]
    pages = page_count(total, query.per_page)
    return ui.page(
        request,
        "runs.html",
        title="Runs",
        rows=rows,
        total=total,
        everything=len(every),
        query=query,
        pages=pages,
        metric_names=metric_names,
        phases=PHASES,
        per_page_choices=PER_PAGE_CHOICES,
        namespaces=sorted({row.namespace for row in every}),
        experiments=sorted({row.experiment for row in every if row.experiment}),
        pipelines=sorted({row.pipeline for row in every if row.pipeline}),
        sort_link=lambda key: _sort_link(query, key),
        page_link=lambda number: "?" + urlencode(query.params(page=number)),
        events_url="events?" + urlencode({**query.params(), "since": _source(request).hub.sequence}),
        sort_keys=SORT_KEYS,
        empty_progress=Counts(),
        problems=_source(request).problems(),
    )


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _sort_link(query: Query, key: str) -> str:
    descending = not query.descending if query.sort == key else key in ("created", "started", "duration")
    return "?" + urlencode(query.params(sort=key, descending=descending, page=1))


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    return await ui.prepare(request, response)


async def _send(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode())


async def _batch(subscription: Subscription) -> list[Change] | None:
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


async def list_events(request: web.Request) -> web.StreamResponse:
    """The runs list's live updates: each changed run matching the page's filters once per batch."""
    source = _source(request)
    query = parse_query(request.query)
    terms = label_matcher(query.label_selector)
    with source.hub.subscribe() as subscription:
        response = await _stream(request)
        await response.write(b"retry: 3000\n\n")
        missed = source.hub.since(_int(request.query.get("since"), source.hub.sequence))
        if missed is None:  # the page is older than the changes kept
            await _send(response, "reload", {})
            return response
        pending: list[Change] | None = missed
        while True:
            changes, pending = pending or await _batch(subscription), None
            if changes is None:
                await _send(response, "reload", {})
                break
            if not changes:
                await response.write(b": keepalive\n\n")
                continue
            latest = {(c.namespace, c.name): c for c in changes if c.kind == "Run"}
            for (namespace, name), change in latest.items():
                row = source.row(namespace, name) if change.type != "DELETED" else None
                if row is None:
                    await _send(response, "removed", {"key": f"{namespace}/{name}"})
                elif matches(row, query, terms):
                    await _send(response, "row", row.as_json())
    return response


# -- a run ------------------------------------------------------------------------------------------------


def _status(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping(document.get("status"))


def _spec_of_run(document: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline the run runs: frozen in its status once started, else inline in its spec."""
    frozen = _status(document).get("pipelineSpec")
    if isinstance(frozen, dict):
        return frozen
    inline = mapping(document.get("spec")).get("pipelineSpec")
    return inline if isinstance(inline, dict) else {}


def _tasks(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = mapping(_status(document).get("tasks"))
    return {str(step): task for step, task in tasks.items() if isinstance(task, dict)}


def _arguments(document: Mapping[str, Any]) -> dict[str, Any]:
    arguments = _status(document).get("arguments")
    if not isinstance(arguments, Mapping):
        arguments = mapping(document.get("spec")).get("arguments")
    return dict(mapping(arguments))


def _pods(tasks: Mapping[str, Mapping[str, Any]], steps: Sequence[str]) -> list[str]:
    """The pods of ``steps`` (those that ran one)."""
    return [pod for step in steps if isinstance(pod := tasks[step].get("pod"), str) and pod]


async def _events(source: Source, namespace: str, name: str, pods: Sequence[str]) -> list[dict[str, Any]]:
    """The events of the run and of ``pods``; a refusal (e.g. RBAC) is shown as one event."""
    try:
        return await source.events(namespace, name, pods)
    except ActionRefused as refused:
        return [{"type": "Warning", "reason": "NotShown", "message": str(refused)}]


async def _pipeline_of_run(source: Source, namespace: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The run's pipeline; before the operator froze it into the status, the Pipeline its spec refers to (a Run
    just created, e.g. from the UI's form, has nothing else to draw)."""
    spec = _spec_of_run(document)
    reference = (document.get("spec") or {}).get("pipelineRef") if isinstance(document.get("spec"), dict) else None
    if spec or not isinstance(reference, dict) or not isinstance(reference.get("name"), str):
        return spec
    if not _NAME.match(reference["name"]):
        return {}
    pipeline = await source.pipeline(namespace, reference["name"])
    referenced = (pipeline or {}).get("spec")
    return referenced if isinstance(referenced, dict) else {}


def _live_state(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a run page updates live: header fields, each graph node's state and each step's phase."""
    row = run_row(document).as_json()
    tasks = _tasks(document)
    return {
        "phase": row["phase"],
        "message": row["message"],
        "progress": row["progress"],
        "progressText": row["progressText"],
        "started": row["started"],
        "duration": row["duration"],
        "nodes": node_states(live_graph(_spec_of_run(document), tasks)),
        "steps": {step: str(task.get("phase", "")) for step, task in tasks.items()},
    }


def _changed(state: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """The state to send: ``nodes`` and ``steps`` only where they differ from what this stream sent before
    (a 1,000-step run changes a few steps a batch); ``sent`` is updated."""
    message = dict(state)
    for key in ("nodes", "steps"):
        before = sent.setdefault(key, {})
        message[key] = {k: v for k, v in state[key].items() if before.get(k) != v}
        before.update(message[key])
    return message


async def run_page(request: web.Request) -> web.Response:
    namespace, name, document = await _run_or_404(request)
    source = _source(request)
    status, tasks = _status(document), _tasks(document)
    spec = await _pipeline_of_run(source, namespace, document)
    graph = await asyncio.to_thread(page_graph, spec, tasks)
    # the pods worth a look: those of steps that did not succeed (the newest first), then the others
    troubled = sorted(tasks, key=lambda step: (tasks[step].get("phase") == "Succeeded", step))
    events = await _events(source, namespace, name, _pods(tasks, troubled))
    step = request.query.get("step", "")
    panel = await _step_context(source, request.app[ui.BASE], namespace, document, step) if step in tasks else None
    row = run_row(document)
    steps = sorted(tasks.items())
    return ui.page(
        request,
        "run.html",
        title=f"Run {name}",
        namespace=namespace,
        name=name,
        row=row,
        status=status,
        spec=spec,
        labels=row.labels,
        arguments={**_defaults(spec), **_arguments(document)},
        outputs=mapping(status.get("outputs")),
        conditions=[c for c in sequence(status.get("conditions")) if isinstance(c, dict)],
        metric_rows=metrics_table(mapping(status.get("metrics"))),
        timeline=timeline(status, time.time()) if tasks else None,
        graph_svg=graph.svg,
        graph_data={"nodes": graph.states(), "steps": {s: str(t.get("phase", "")) for s, t in tasks.items()}},
        steps=steps[:MAX_STEP_ROWS],
        step_count=len(steps),
        step_limit=MAX_STEP_ROWS,
        events=events[-200:],
        panel=panel,
        can_retry=bool(spec) and row.phase in ("Failed", "Cancelled", "Succeeded"),
    )


async def run_events(request: web.Request) -> web.StreamResponse:
    """A run page's live updates: its state after each batch of changes, from the watch's copy or a GET."""
    namespace, name = _names(request)
    source = _source(request)
    sent: dict[str, Any] = {}
    with source.hub.subscribe() as subscription:
        response = await _stream(request)
        await response.write(b"retry: 3000\n\n")
        # the state now: the run may have changed between the page's rendering and this subscription
        current = await source.run(namespace, name)
        if current is None:
            await _send(response, "deleted", {})
            return response
        state = await asyncio.to_thread(_live_state, current)
        await _send(response, "run", _changed(state, sent))
        while True:
            changes = await _batch(subscription)
            if changes is None:
                await _send(response, "reload", {})
                break
            if not changes:
                await response.write(b": keepalive\n\n")
                continue
            mine = [c for c in changes if c.kind == "Run" and c.namespace == namespace and c.name == name]
            if not mine:
                continue
            if mine[-1].type == "DELETED":
                await _send(response, "deleted", {})
                break
            document = mine[-1].document or await source.run(namespace, name)
            if document is None:
                await _send(response, "deleted", {})
                break
            state = await asyncio.to_thread(_live_state, document)
            await _send(response, "run", _changed(state, sent))
    return response


# -- a step -----------------------------------------------------------------------------------------------


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


async def _step_context(
    source: Source, base: str, namespace: str, document: dict[str, Any], step: str
) -> dict[str, Any]:
    tasks = _tasks(document)
    task = tasks[step]
    spec = _spec_of_run(document)
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
    pods = _pods(tasks, [step])
    events = await _events(source, namespace, name, pods) if pods else []
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
    spec = _spec_of_run(document)
    types = _output_types(spec, _task_definition(spec, step))
    views: list[Visualization] = []
    for output, value in sorted(mapping(_tasks(document)[step].get("outputs")).items()):
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
    namespace, name, document = await _run_or_404(request)
    step = request.match_info["step"]
    _step_or_404(document, step)
    apps = [
        view for view in await _step_visualizations(_source(request), document, step) if isinstance(view, WebAppView)
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
    if step not in _tasks(document):
        raise web.HTTPNotFound(text=f"the run has no step {step!r}")


async def step_panel(request: web.Request) -> web.Response:
    namespace, name, document = await _run_or_404(request)
    step = request.match_info["step"]
    _step_or_404(document, step)
    context = await _step_context(_source(request), request.app[ui.BASE], namespace, document, step)
    return ui.page(request, "step.html", panel=context)


async def step_log(request: web.Request) -> web.StreamResponse:
    """The step's log: ``?follow=1`` streams it as Server-Sent Events while the step runs, else plain text."""
    namespace, name, document = await _run_or_404(request)
    step = request.match_info["step"]
    _step_or_404(document, step)
    source = _source(request)
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
    response = await _stream(request)
    try:
        async for chunk in source.log(namespace, document, step, True):
            await _send(response, "chunk", chunk)
    except ActionRefused as refused:
        await _send(response, "chunk", f"(no log: {refused})")
    await _send(response, "end", {})
    return response


async def step_artifact(request: web.Request) -> web.StreamResponse:
    """An output's stored object, downloaded; only objects the step's own outputs name can be read."""
    namespace, name, document = await _run_or_404(request)
    step, output = request.match_info["step"], request.match_info["output"]
    _step_or_404(document, step)
    value = mapping(_tasks(document)[step].get("outputs")).get(output)
    ref = ObjectRef.parse(value) if isinstance(value, str) else None
    if ref is None:
        raise web.HTTPNotFound(text=f"the step {step} has no stored artifact {output!r}")
    data, _ = await _source(request).artifact(document, object_key(ref), ARTIFACT_LIMIT)
    filename = f"{stepid.folder_name(step)}-{output}" + (".tar" if ref.directory else "")
    return web.Response(
        body=data,
        headers={
            "Content-Type": "application/x-tar" if ref.directory else download_type(data),
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


# -- actions ----------------------------------------------------------------------------------------------


async def _action_form(request: web.Request) -> Mapping[str, Any]:
    form = await request.post()
    ui.check_action(request, form)
    return form


def _run_url(request: web.Request, namespace: str, name: str) -> str:
    return f"{request.app[ui.BASE]}/runs/{namespace}/{name}"


async def cancel_run(request: web.Request) -> web.Response:
    namespace, name = _names(request)
    await _action_form(request)
    await _source(request).cancel(namespace, name)
    raise web.HTTPSeeOther(_run_url(request, namespace, name))


async def delete_run(request: web.Request) -> web.Response:
    namespace, name = _names(request)
    await _action_form(request)
    await _source(request).delete(namespace, name)
    raise web.HTTPSeeOther(f"{request.app[ui.BASE]}/")


def _run_labels(document: Mapping[str, Any]) -> dict[str, str]:
    labels = mapping(mapping(document.get("metadata")).get("labels"))
    return {key: str(labels[key]) for key in (PIPELINE_LABEL, EXPERIMENT_LABEL) if key in labels}


async def retry_run(request: web.Request) -> web.Response:
    """A new Run of the same frozen pipeline and arguments: the cache serves the steps that succeeded."""
    await _action_form(request)
    namespace, name, document = await _run_or_404(request)
    spec = _spec_of_run(document)
    if not spec:
        raise ActionRefused("the run recorded no pipeline to run again", status=409)
    created = await _source(request).create_run(
        namespace, spec, _arguments(document), generate_name=f"{name[:50]}-retry-", labels=_run_labels(document)
    )
    raise web.HTTPSeeOther(_run_url(request, namespace, created))


def _defaults(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's parameter defaults: with the run's arguments, the values the run used."""
    return {p["name"]: p["default"] for p in _params(spec) if p.get("default") is not None}


def _params(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in sequence(spec.get("params")) if isinstance(p, dict) and isinstance(p.get("name"), str)]


async def _form_page(
    request: web.Request,
    *,
    status: int = 200,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    pipeline: dict[str, Any] | None,
    clone_of: str | None,
    values: Mapping[str, Any],
    problems: Mapping[str, str] | None,
    action: str,
) -> web.Response:
    """The pipeline page (or a run's clone page): its graph and the run form, with problems beside fields."""
    graph = await asyncio.to_thread(page_graph, spec)
    text = ui.render(
        request,
        "pipeline.html",
        title=f"Clone {name}" if clone_of else f"Pipeline {name}",
        namespace=namespace,
        name=name,
        pipeline=pipeline,
        clone_of=clone_of,
        spec=spec,
        graph_svg=graph.svg,
        graph_data={"nodes": graph.states(), "steps": {}},
        form=run_form(spec, values, problems),
        action=action,
        submit_label="Start a run like this" if clone_of else "Start run",
    )
    return web.Response(status=status, text=text, content_type="text/html")


async def _start_from_form(
    request: web.Request,
    form: Mapping[str, Any],
    *,
    namespace: str,
    name: str,
    spec: dict[str, Any],
    pipeline: dict[str, Any] | None,
    clone_of: str | None,
    action: str,
    run_of: str | dict[str, Any],
    generate_name: str,
    labels: dict[str, str],
) -> web.Response:
    """A Run of ``run_of`` with the form's arguments, checked as the engine checks them; refused values show
    the form again with the problems (HTTP 422)."""
    arguments, problems = parse_form(spec, _texts(form))
    if problems:
        return await _form_page(
            request,
            status=422,
            namespace=namespace,
            name=name,
            spec=spec,
            pipeline=pipeline,
            clone_of=clone_of,
            values=form_values(_texts(form)),
            problems=problems,
            action=action,
        )
    created = await _source(request).create_run(
        namespace, run_of, arguments, generate_name=generate_name, labels=labels
    )
    raise web.HTTPSeeOther(_run_url(request, namespace, created))


async def clone_form(request: web.Request) -> web.Response:
    """A form prefilled with what the run asked for; its defaults are computed anew for the new run."""
    namespace, name, document = await _run_or_404(request)
    return await _form_page(
        request,
        namespace=namespace,
        name=name,
        spec=_spec_of_run(document),
        pipeline=None,
        clone_of=name,
        values=arguments_to_clone(document),
        problems=None,
        action=f"{_run_url(request, namespace, name)}/clone",
    )


async def clone_run(request: web.Request) -> web.Response:
    form = await _action_form(request)
    namespace, name, document = await _run_or_404(request)
    spec = _spec_of_run(document)
    return await _start_from_form(
        request,
        form,
        namespace=namespace,
        name=name,
        spec=spec,
        pipeline=None,
        clone_of=name,
        action=f"{_run_url(request, namespace, name)}/clone",
        run_of=spec,
        generate_name=f"{name[:50]}-clone-",
        labels=_run_labels(document),
    )


def _texts(form: Mapping[str, Any]) -> dict[str, str]:
    """A posted form's text fields (file uploads left out)."""
    return {key: value for key, value in form.items() if isinstance(value, str)}


# -- pipelines --------------------------------------------------------------------------------------------


async def pipelines_list(request: web.Request) -> web.Response:
    pipelines = []
    for document in _source(request).pipelines():
        metadata, spec = mapping(document.get("metadata")), mapping(document.get("spec"))
        pipelines.append(
            {
                "namespace": str(metadata.get("namespace", "")),
                "name": str(metadata.get("name", "")),
                "description": str(spec.get("description") or ""),
                "params": len(_params(spec)),
                "tasks": len(sequence(spec.get("tasks"))),
                "created": str(metadata.get("creationTimestamp", "")),
            }
        )
    pipelines.sort(key=lambda p: (p["namespace"], p["name"]))
    return ui.page(
        request, "pipelines.html", title="Pipelines", pipelines=pipelines, problems=_source(request).problems()
    )


async def _pipeline_or_404(request: web.Request) -> tuple[str, str, dict[str, Any]]:
    namespace, name = _names(request)
    document = await _source(request).pipeline(namespace, name)
    if document is None:
        raise web.HTTPNotFound(text=f"no pipeline {name} in namespace {namespace}")
    return namespace, name, document


def _pipeline_spec(document: Mapping[str, Any]) -> dict[str, Any]:
    spec = document.get("spec")
    return spec if isinstance(spec, dict) else {}


async def pipeline_page(request: web.Request) -> web.Response:
    namespace, name, document = await _pipeline_or_404(request)
    return await _form_page(
        request,
        namespace=namespace,
        name=name,
        spec=_pipeline_spec(document),
        pipeline=document,
        clone_of=None,
        values={},
        problems=None,
        action=f"{request.app[ui.BASE]}/pipelines/{namespace}/{name}/runs",
    )


async def start_run(request: web.Request) -> web.Response:
    form = await _action_form(request)
    namespace, name, document = await _pipeline_or_404(request)
    return await _start_from_form(
        request,
        form,
        namespace=namespace,
        name=name,
        spec=_pipeline_spec(document),
        pipeline=document,
        clone_of=None,
        action=f"{request.app[ui.BASE]}/pipelines/{namespace}/{name}/runs",
        run_of=name,
        generate_name=f"{name[:50]}-",
        labels={PIPELINE_LABEL: name},
    )


# -- compare ----------------------------------------------------------------------------------------------


def _with_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """The run with the values it ran with: its arguments over its pipeline's defaults (a run that took a
    default records no argument for it)."""
    arguments = {**_defaults(_spec_of_run(document)), **_arguments(document)}
    return {**document, "status": {**_status(document), "arguments": arguments}}


async def compare_page(request: web.Request) -> web.Response:
    """Runs side by side, in the order asked (``?run=NS/NAME&run=NS/NAME``); runs not found are named."""
    source = _source(request)
    asked = list(dict.fromkeys(request.query.getall("run", [])))[:MAX_COMPARED]
    documents, missing = [], []
    for key in asked:
        namespace, _, name = key.partition("/")
        found = await source.run(namespace, name) if _NAME.match(namespace) and _NAME.match(name) else None
        if found is None:
            missing.append(key)
        else:
            documents.append(_with_defaults(found))
    pipelines = {run_row(d).pipeline for d in documents}
    others = [
        row
        for row in sorted(source.rows(), key=lambda r: r.created.timestamp() if r.created else 0.0, reverse=True)
        if f"{row.namespace}/{row.name}" not in asked and (not pipelines or row.pipeline in pipelines)
    ][:MAX_COMPARE_CHOICES]
    return ui.page(
        request,
        "compare.html",
        title="Compare runs",
        comparison=compare(documents),
        asked=[k for k in asked if k not in missing],
        missing=missing,
        others=others,
    )
