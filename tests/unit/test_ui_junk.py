"""A Run document is whatever the API server or a run.yaml holds: a wrong type at any field of its metadata,
spec or status is shown as missing (or refused), never a 500."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from kubeline.ui.app import make_app
from kubeline.ui.views.run import live_state
from tests.unit.test_ui_app import FakeSource, document

JUNK: list[Any] = [None, 7, "str", [], {}]
#: Where junk goes: a path of keys (ints index lists) into the run document of tests.unit.test_ui_app.
FIELDS: list[tuple[Any, ...]] = [
    ("metadata", "labels"),
    ("metadata", "creationTimestamp"),
    ("spec",),
    ("spec", "arguments"),
    ("spec", "pipelineRef"),
    ("status",),
    ("status", "phase"),
    ("status", "message"),
    ("status", "startedAt"),
    ("status", "progress"),
    ("status", "conditions"),
    ("status", "outputs"),
    ("status", "metrics"),
    ("status", "arguments"),
    ("status", "artifactStore"),
    ("status", "tasks"),
    ("status", "tasks", "step-a"),
    ("status", "tasks", "step-a", "phase"),
    ("status", "tasks", "step-a", "outputs"),
    ("status", "tasks", "step-a", "attempts"),
    ("status", "tasks", "step-a", "pod"),
    ("status", "tasks", "step-a", "startedAt"),
    ("status", "tasks", "step-a", "message"),
    ("status", "tasks", "step-a", "log"),
    ("status", "pipelineSpec"),
    ("status", "pipelineSpec", "params"),
    ("status", "pipelineSpec", "params", 0),
    ("status", "pipelineSpec", "tasks"),
    ("status", "pipelineSpec", "tasks", 0),
    ("status", "pipelineSpec", "tasks", 1, "forEach"),
    ("status", "pipelineSpec", "components"),
    ("status", "pipelineSpec", "components", 0, "outputs"),
    ("status", "pipelineSpec", "onExit"),
]
PAGES = [
    "/",
    "/runs/ml/r1",
    "/runs/ml/r1?step=step-a",
    "/runs/ml/r1/steps/step-a",
    "/runs/ml/r1/steps/step-a/log",
    "/runs/ml/r1/steps/step-a/outputs/scores",
    "/runs/ml/r1/steps/step-a/webapp/0",
    "/runs/ml/r1/clone",
    "/compare?run=ml/r1&run=ml/r2",
]


def with_junk(path: tuple[Any, ...], junk: Any) -> dict[str, Any]:
    run = copy.deepcopy(document("r1"))
    run["status"]["pipelineSpec"]["tasks"][0]["dag"] = {"tasks": []}
    where: Any = run
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = copy.deepcopy(junk)
    return run


@pytest.mark.parametrize("path", FIELDS, ids=lambda path: ".".join(map(str, path)))
def test_junk_at_any_field_is_never_a_server_error(path: tuple[Any, ...]) -> None:
    for junk in JUNK:
        run = with_junk(path, junk)
        source = FakeSource([document("r2")])
        source.documents[("ml", "r1")] = run
        live_state(run)  # the run page's live stream
        asyncio.run(pages_answer(source, junk))


async def pages_answer(source: FakeSource, junk: Any) -> None:
    async with TestClient(TestServer(make_app(source))) as client:
        for page in PAGES:
            response = await client.get(page)
            assert response.status in (200, 404, 422), (page, junk, await response.text())


@pytest.mark.parametrize("junk", [*JUNK, [7, "x"], [{"name": 7}]])
def test_a_pipeline_with_junk_params_or_tasks_shows_its_page_and_list(junk: Any) -> None:
    source = FakeSource([document("r1")])
    spec = {**FakeSource.pipeline_spec(), "params": junk, "tasks": junk}
    source.pipelines = lambda: [{"metadata": {"namespace": "ml", "name": "train"}, "spec": spec}]  # type: ignore[method-assign]

    async def main() -> None:
        async with TestClient(TestServer(make_app(source))) as client:
            for page in ("/pipelines", "/pipelines/ml/train"):
                response = await client.get(page)
                assert response.status in (200, 404, 422), (page, await response.text())

    asyncio.run(main())
