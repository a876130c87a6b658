"""A run's page (``/runs/NS/NAME``): its graph, steps, parameters, outputs, metrics, timeline and events; and
its live stream (phase, counts, each graph node's and step's phase)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kubeline.ui import app as ui
from kubeline.ui.pagegraph import live_graph, node_states, page_graph
from kubeline.ui.rows import mapping, run_row, sequence
from kubeline.ui.sources import Source
from kubeline.ui.timeline import timeline
from kubeline.ui.views import common
from kubeline.ui.views.steps import step_context
from kubeline.ui.visualizations import metrics_table

#: Steps listed in a run page's step table (the graph shows them all, loops collapsed).
MAX_STEP_ROWS = 2000


async def _pipeline_of_run(source: Source, namespace: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The run's pipeline; before the operator froze it into the status, the Pipeline its spec refers to (a Run
    just created, e.g. from the UI's form, has nothing else to draw)."""
    spec = common.spec_of_run(document)
    reference = (document.get("spec") or {}).get("pipelineRef") if isinstance(document.get("spec"), dict) else None
    if spec or not isinstance(reference, dict) or not isinstance(reference.get("name"), str):
        return spec
    if not common.NAME.match(reference["name"]):
        return {}
    pipeline = await source.pipeline(namespace, reference["name"])
    referenced = (pipeline or {}).get("spec")
    return referenced if isinstance(referenced, dict) else {}


def live_state(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a run page updates live: header fields, each graph node's state and each step's phase."""
    row = run_row(document).as_json()
    tasks = common.tasks(document)
    return {
        "phase": row["phase"],
        "message": row["message"],
        "progress": row["progress"],
        "progressText": row["progressText"],
        "started": row["started"],
        "duration": row["duration"],
        "nodes": node_states(live_graph(common.spec_of_run(document), tasks)),
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
    namespace, name, document = await common.run_or_404(request)
    source = common.source(request)
    status, tasks = common.status(document), common.tasks(document)
    spec = await _pipeline_of_run(source, namespace, document)
    graph = await asyncio.to_thread(page_graph, spec, tasks)
    # the pods worth a look: those of steps that did not succeed (the newest first), then the others
    troubled = sorted(tasks, key=lambda step: (tasks[step].get("phase") == "Succeeded", step))
    events = await common.events(source, namespace, name, common.pods(tasks, troubled))
    step = request.query.get("step", "")
    panel = await step_context(source, request.app[ui.BASE], namespace, document, step) if step in tasks else None
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
        arguments={**common.defaults(spec), **common.arguments(document)},
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
    namespace, name = common.names(request)
    source = common.source(request)
    sent: dict[str, Any] = {}
    with source.hub.subscribe() as subscription:
        response = await common.change_stream(request)
        # the state now: the run may have changed between the page's rendering and this subscription
        current = await source.run(namespace, name)
        if current is None:
            await common.send(response, "deleted", {})
            return response
        state = await asyncio.to_thread(live_state, current)
        await common.send(response, "run", _changed(state, sent))
        async for changes in common.batches(response, subscription):
            mine = [c for c in changes if c.kind == "Run" and c.namespace == namespace and c.name == name]
            if not mine:
                continue
            if mine[-1].type == "DELETED":
                await common.send(response, "deleted", {})
                break
            document = mine[-1].document or await source.run(namespace, name)
            if document is None:
                await common.send(response, "deleted", {})
                break
            state = await asyncio.to_thread(live_state, document)
            await common.send(response, "run", _changed(state, sent))
    return response
