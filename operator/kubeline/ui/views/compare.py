"""Runs side by side (``/compare?run=NS/NAME&run=NS/NAME``), with other runs offered to add."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubeline.ui import app as ui
from kubeline.ui.compare import compare
from kubeline.ui.rows import run_row
from kubeline.ui.views import common

#: Runs compared at once, and other runs offered to add to a comparison.
MAX_COMPARED = 10
MAX_COMPARE_CHOICES = 200


def _with_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """The run with the values it ran with: its arguments over its pipeline's defaults (a run that took a
    default records no argument for it)."""
    arguments = {**common.defaults(common.spec_of_run(document)), **common.arguments(document)}
    return {**document, "status": {**common.status(document), "arguments": arguments}}


async def compare_page(request: web.Request) -> web.Response:
    """Runs side by side, in the order asked (``?run=NS/NAME&run=NS/NAME``); runs not found are named."""
    source = common.source(request)
    asked = list(dict.fromkeys(request.query.getall("run", [])))[:MAX_COMPARED]
    documents, missing = [], []
    for key in asked:
        namespace, _, name = key.partition("/")
        found = await source.run(namespace, name) if common.NAME.match(namespace) and common.NAME.match(name) else None
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
