"""The runs list (``/``) and its live stream (``/events``): each changed run matching the page's filters."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from kubeline.ui import app as ui
from kubeline.ui.rows import (
    PER_PAGE_CHOICES,
    PHASES,
    SORT_KEYS,
    Counts,
    Query,
    label_matcher,
    matches,
    page_count,
    parse_query,
    select,
)
from kubeline.ui.views import common


async def runs_list(request: web.Request) -> web.Response:
    query = parse_query(request.query)
    every = common.source(request).rows()
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
        events_url="events?" + urlencode({**query.params(), "since": common.source(request).hub.sequence}),
        sort_keys=SORT_KEYS,
        empty_progress=Counts(),
        problems=common.source(request).problems(),
    )


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _sort_link(query: Query, key: str) -> str:
    descending = not query.descending if query.sort == key else key in ("created", "started", "duration")
    return "?" + urlencode(query.params(sort=key, descending=descending, page=1))


async def list_events(request: web.Request) -> web.StreamResponse:
    """The runs list's live updates: each changed run matching the page's filters once per batch."""
    source = common.source(request)
    query = parse_query(request.query)
    terms = label_matcher(query.label_selector)
    with source.hub.subscribe() as subscription:
        response = await common.change_stream(request)
        missed = source.hub.since(_int(request.query.get("since"), source.hub.sequence))
        if missed is None:  # the page is older than the changes kept
            await common.send(response, "reload", {})
            return response
        async for changes in common.batches(response, subscription, missed):
            latest = {(c.namespace, c.name): c for c in changes if c.kind == "Run"}
            for (namespace, name), change in latest.items():
                row = source.row(namespace, name) if change.type != "DELETED" else None
                if row is None:
                    await common.send(response, "removed", {"key": f"{namespace}/{name}"})
                elif matches(row, query, terms):
                    await common.send(response, "row", row.as_json())
    return response
