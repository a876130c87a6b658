"""The page handlers: each reads from the Source, builds a plain context and renders a template (autoescaped).

One module a page: ``runs`` (the runs list), ``run`` (a run), ``steps`` (a step's panel, log and outputs),
``actions`` (cancel, delete, retry, clone; the run form page), ``pipelines`` (the pipelines and the form starting
a run), ``compare`` (runs side by side); ``common`` holds what several of them share.
"""

from __future__ import annotations

from aiohttp import web

from kubeline.ui.views import actions, compare, pipelines, run, runs, steps


def add_routes(app: web.Application, base: str) -> None:
    routes = [
        web.get(f"{base}/healthz", healthz),
        web.get(f"{base}/", runs.runs_list),
        web.get(f"{base}/events", runs.list_events),
        web.get(f"{base}/runs/{{namespace}}/{{name}}", run.run_page),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/events", run.run_events),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}", steps.step_panel),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}/log", steps.step_log),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}/outputs/{{output}}", steps.step_artifact),
        web.get(
            f"{base}/runs/{{namespace}}/{{name}}/steps/{{step}}/webapp/{{number:[0-9]{{1,4}}}}", steps.step_web_app
        ),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/cancel", actions.cancel_run),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/delete", actions.delete_run),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/retry", actions.retry_run),
        web.get(f"{base}/runs/{{namespace}}/{{name}}/clone", actions.clone_form),
        web.post(f"{base}/runs/{{namespace}}/{{name}}/clone", actions.clone_run),
        web.get(f"{base}/pipelines", pipelines.pipelines_list),
        web.get(f"{base}/pipelines/{{namespace}}/{{name}}", pipelines.pipeline_page),
        web.post(f"{base}/pipelines/{{namespace}}/{{name}}/runs", pipelines.start_run),
        web.get(f"{base}/compare", compare.compare_page),
    ]
    app.router.add_routes(routes)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")
