"""The pipelines list and a pipeline's page: its graph without a run, and the form starting a run of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kubeline.api.constants import PIPELINE_LABEL
from kubeline.ui import app as ui
from kubeline.ui.rows import mapping, sequence
from kubeline.ui.views import common
from kubeline.ui.views.actions import action_form, form_page, start_from_form


async def pipelines_list(request: web.Request) -> web.Response:
    pipelines = []
    for document in common.source(request).pipelines():
        metadata, spec = mapping(document.get("metadata")), mapping(document.get("spec"))
        pipelines.append(
            {
                "namespace": str(metadata.get("namespace", "")),
                "name": str(metadata.get("name", "")),
                "description": str(spec.get("description") or ""),
                "params": len(common.params(spec)),
                "tasks": len(sequence(spec.get("tasks"))),
                "created": str(metadata.get("creationTimestamp", "")),
            }
        )
    pipelines.sort(key=lambda p: (p["namespace"], p["name"]))
    return ui.page(
        request, "pipelines.html", title="Pipelines", pipelines=pipelines, problems=common.source(request).problems()
    )


async def _pipeline_or_404(request: web.Request) -> tuple[str, str, dict[str, Any]]:
    namespace, name = common.names(request)
    document = await common.source(request).pipeline(namespace, name)
    if document is None:
        raise web.HTTPNotFound(text=f"no pipeline {name} in namespace {namespace}")
    return namespace, name, document


def _pipeline_spec(document: Mapping[str, Any]) -> dict[str, Any]:
    spec = document.get("spec")
    return spec if isinstance(spec, dict) else {}


async def pipeline_page(request: web.Request) -> web.Response:
    namespace, name, document = await _pipeline_or_404(request)
    return await form_page(
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
    form = await action_form(request)
    namespace, name, document = await _pipeline_or_404(request)
    return await start_from_form(
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
