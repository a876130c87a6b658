"""The actions on a run (cancel, delete, retry, clone): POST forms checked by ``app.check_action``; and the
run form page, shared by a run's clone page and a pipeline's page."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from kubeline.api.constants import EXPERIMENT_LABEL, PIPELINE_LABEL
from kubeline.api.models import RunStatus
from kubeline.engine.retry import source_problem
from kubeline.ui import app as ui
from kubeline.ui.forms import arguments_to_clone, form_values, parse_form, run_form
from kubeline.ui.pagegraph import page_graph
from kubeline.ui.rows import mapping
from kubeline.ui.sources import ActionRefused
from kubeline.ui.views import common


async def action_form(request: web.Request) -> Mapping[str, Any]:
    form = await request.post()
    ui.check_action(request, form)
    return form


def _run_url(request: web.Request, namespace: str, name: str) -> str:
    return f"{request.app[ui.BASE]}/runs/{namespace}/{name}"


async def cancel_run(request: web.Request) -> web.Response:
    namespace, name = common.names(request)
    await action_form(request)
    await common.source(request).cancel(namespace, name)
    raise web.HTTPSeeOther(_run_url(request, namespace, name))


async def delete_run(request: web.Request) -> web.Response:
    namespace, name = common.names(request)
    await action_form(request)
    await common.source(request).delete(namespace, name)
    raise web.HTTPSeeOther(f"{request.app[ui.BASE]}/")


def _run_labels(document: Mapping[str, Any]) -> dict[str, str]:
    labels = mapping(mapping(document.get("metadata")).get("labels"))
    return {key: str(labels[key]) for key in (PIPELINE_LABEL, EXPERIMENT_LABEL) if key in labels}


async def retry_run(request: web.Request) -> web.Response:
    """A Run retrying this one (spec.retryOf): its frozen pipeline and arguments, the steps that succeeded reused."""
    await action_form(request)
    namespace, name, document = await common.run_or_404(request)
    try:
        problem = source_problem(name, RunStatus.model_validate(mapping(document.get("status"))))
    except ValidationError:
        problem = f"Run {name!r} has a status kubeline did not write: there is nothing to reuse"
    if problem is not None:
        raise ActionRefused(problem, status=409)
    created = await common.source(request).retry(namespace, document)
    raise web.HTTPSeeOther(_run_url(request, namespace, created))


async def form_page(
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


async def start_from_form(
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
        return await form_page(
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
    created = await common.source(request).create_run(
        namespace, run_of, arguments, generate_name=generate_name, labels=labels
    )
    raise web.HTTPSeeOther(_run_url(request, namespace, created))


async def clone_form(request: web.Request) -> web.Response:
    """A form prefilled with what the run asked for; its defaults are computed anew for the new run."""
    namespace, name, document = await common.run_or_404(request)
    return await form_page(
        request,
        namespace=namespace,
        name=name,
        spec=common.spec_of_run(document),
        pipeline=None,
        clone_of=name,
        values=arguments_to_clone(document),
        problems=None,
        action=f"{_run_url(request, namespace, name)}/clone",
    )


async def clone_run(request: web.Request) -> web.Response:
    form = await action_form(request)
    namespace, name, document = await common.run_or_404(request)
    spec = common.spec_of_run(document)
    return await start_from_form(
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
