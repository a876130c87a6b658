"""Local runs in the UI: `kubeline run` keeps run.yaml current, LocalSource lists and follows it, `kubeline ui
--local` serves it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kubeline.ui.local import RUN_DOCUMENT, LocalSource
from kubeline.ui.sources import ActionRefused
from tests.helpers import ROOT, kubeline, pipeline_file, shell


def finished_run(tmp_path: Path, name: str = "fan") -> dict[str, Any]:
    result = kubeline("run", str(ROOT / "examples" / "fan-out.yaml"), "--name", name, home=tmp_path)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads((tmp_path / "runs" / name / RUN_DOCUMENT).read_text())
    return document


def test_a_local_run_leaves_a_run_document_with_its_final_phase_and_tasks(tmp_path: Path) -> None:
    document = finished_run(tmp_path)
    assert (document["apiVersion"], document["kind"]) == ("kubeline.dev/v1alpha1", "Run")
    assert document["metadata"]["namespace"] == "local" and document["metadata"]["name"] == "fan"
    status = document["status"]
    assert status["phase"] == "Succeeded" and status["finishedAt"]
    assert status["progress"]["total"] == status["progress"]["succeeded"] == 14
    assert status["tasks"]["per-item[2].square"]["phase"] == "Succeeded"
    assert status["pipelineSpec"]["tasks"] and status["artifactStore"]
    # as the operator records a Run: the spec has what was asked (nothing), the status the values bound
    assert document["spec"]["arguments"] == {} and status["arguments"] == {"count": 4}
    assert (tmp_path / "runs" / "fan" / "run.json").is_file()  # the store record `kubeline logs` reads stays


def test_local_source_lists_runs_serves_logs_and_deletes_only_finished_ones(tmp_path: Path) -> None:
    finished_run(tmp_path)

    async def main() -> None:
        source = LocalSource(tmp_path)
        await source.start()
        try:
            rows = source.rows()
            assert [(r.namespace, r.name, r.phase, r.pipeline) for r in rows] == [
                ("local", "fan", "Succeeded", "fan-out")
            ]
            run = await source.run("local", "fan")
            assert run is not None
            log = "".join([chunk async for chunk in source.log("local", run, "per-item[1].check", False)])
            assert "2^2 = 4" in log
            assert await source.run("local", "../fan") is None
            with pytest.raises(ActionRefused, match="not started by this process"):
                await source.cancel("local", "fan")
            with pytest.raises(ActionRefused, match="kubeline run"):
                await source.create_run("local", {}, {}, generate_name="x-", labels={})
            with pytest.raises(ActionRefused, match=r"retried with `kubeline retry --local fan`"):
                await source.retry("local", run)
            with source.hub.subscribe() as subscription:
                await source.delete("local", "fan")
                change = await asyncio.wait_for(subscription.get(), 2)
            assert change is not None and (change.type, change.name) == ("DELETED", "fan")
            assert not (tmp_path / "runs" / "fan").exists() and source.rows() == []
        finally:
            await source.stop()

    asyncio.run(main())


def test_local_source_reports_a_run_whose_document_changes(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    running = {"metadata": {"name": "r1"}, "status": {"phase": "Running"}}
    (folder / RUN_DOCUMENT).write_text(json.dumps(running))

    async def main() -> None:
        source = LocalSource(tmp_path)
        await source.start()
        try:
            assert source.rows()[0].phase == "Running"
            with pytest.raises(ActionRefused, match="has not finished"):
                await source.delete("local", "r1")
            with source.hub.subscribe() as subscription:
                (folder / RUN_DOCUMENT).write_text(json.dumps({**running, "status": {"phase": "Failed"}}))
                os.utime(folder / RUN_DOCUMENT, ns=(1, time.time_ns() + 10**9))
                change = await asyncio.wait_for(subscription.get(), 3)
            assert change is not None and change.type == "MODIFIED" and source.rows()[0].phase == "Failed"
        finally:
            await source.stop()

    asyncio.run(main())


def test_a_running_local_run_is_shown_running_before_it_ends(tmp_path: Path) -> None:
    path = pipeline_file(tmp_path, [{"name": "slow", "component": "slow"}], [shell("slow", "echo started; sleep 3")])
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeline", "run", str(path), "--name", "slow-run"],
        env={**os.environ, "KUBELINE_HOME": str(tmp_path / "home")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        document_path = tmp_path / "home" / "runs" / "slow-run" / RUN_DOCUMENT
        deadline, phase = time.monotonic() + 20, None
        while time.monotonic() < deadline and phase != "Running":
            if document_path.is_file():
                tasks = json.loads(document_path.read_text()).get("status", {}).get("tasks", {})
                phase = tasks.get("slow", {}).get("phase")
            time.sleep(0.1)
        assert phase == "Running"
        assert process.wait(30) == 0
        assert json.loads(document_path.read_text())["status"]["phase"] == "Succeeded"
    finally:
        process.kill()
        process.wait()


def test_kubeline_ui_local_prints_its_url_and_serves_the_runs(tmp_path: Path) -> None:
    finished_run(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "kubeline", "ui", "--local", "--port", "0"],
        env={**os.environ, "KUBELINE_HOME": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("kubeline UI: http://127.0.0.1:")
        url = line.split()[-1]
        with urllib.request.urlopen(url + "healthz", timeout=10) as response:
            assert response.read() == b"ok"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert 'data-run="local/fan"' in response.read().decode()
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(("read_only", "status"), [(True, 403), (False, 303)])
def test_kubeline_ui_local_read_only_refuses_deleting_a_finished_run(
    tmp_path: Path, read_only: bool, status: int
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from kubeline.ui.app import make_app

    folder = tmp_path / "runs" / "done"
    folder.mkdir(parents=True)
    (folder / RUN_DOCUMENT).write_text(json.dumps({"metadata": {"name": "done"}, "status": {"phase": "Succeeded"}}))

    async def main() -> None:
        async with TestClient(TestServer(make_app(LocalSource(tmp_path, read_only=read_only)))) as client:
            page = await (await client.get("/runs/local/done")).text()
            csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0] if 'name="csrf"' in page else "x"
            response = await client.post("/runs/local/done/delete", data={"csrf": csrf}, allow_redirects=False)
            assert response.status == status
            assert ("read-only" in await response.text()) is read_only

    asyncio.run(main())
    assert folder.exists() is read_only


def test_a_stray_attempt_folder_does_not_hide_a_running_step_s_log(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "r1"
    for attempt, text in (("attempt-x", "stray"), ("attempt-2", "second"), ("attempt-10", "tenth")):
        (folder / "steps" / "train" / attempt).mkdir(parents=True)
        (folder / "steps" / "train" / attempt / "log").write_text(text)
    running = {"metadata": {"name": "r1"}, "status": {"phase": "Running", "tasks": {"train": {"phase": "Running"}}}}
    (folder / RUN_DOCUMENT).write_text(json.dumps(running))

    async def main() -> str:
        source = LocalSource(tmp_path)
        return "".join([chunk async for chunk in source.log("local", running, "train", False)])

    assert asyncio.run(main()) == "tenth"


def test_an_unreadable_run_document_is_a_problem_shown_until_fixed(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "bad"
    folder.mkdir(parents=True)
    (folder / RUN_DOCUMENT).write_text("{not: [json")

    async def main() -> None:
        source = LocalSource(tmp_path)
        await source.start()
        try:
            assert source.rows() == [] and [str(folder / RUN_DOCUMENT) in p for p in source.problems()] == [True]
            (folder / RUN_DOCUMENT).write_text(json.dumps({"metadata": {"name": "bad"}, "status": {}}))
            os.utime(folder / RUN_DOCUMENT, ns=(1, time.time_ns() + 10**9))
            await asyncio.sleep(1.5)
            assert source.problems() == [] and [r.name for r in source.rows()] == ["bad"]
        finally:
            await source.stop()

    asyncio.run(main())


def test_the_run_document_builds_and_serializes_the_latest_status_per_write_not_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from kubeline.api.models import RunStatus
    from kubeline.commands import run_document

    dumps: list[int] = []
    real_dumps = json.dumps

    def counted(value: Any, **kwargs: Any) -> str:
        dumps.append(1)
        return real_dumps(value, **kwargs)

    built: list[str] = []

    def status_document(plan: Any, decision: Any, *rest: Any) -> RunStatus:
        built.append(decision.message)
        return RunStatus(phase="Running", message=decision.message)

    monkeypatch.setattr(run_document.json, "dumps", counted)
    monkeypatch.setattr(run_document, "status_document", status_document)
    writer = run_document.RunDocumentWriter(tmp_path, "r", "p", {}, {}, {}, "file:///x", plan=None)  # type: ignore[arg-type]
    for change in range(1000):  # a burst of changes, within the write interval
        writer.update(SimpleNamespace(finished=False, message=str(change)), SimpleNamespace(started_at=None))  # type: ignore[arg-type]
    writer.finish()
    assert built == ["999"]  # the status is built once, from the latest decision
    assert len(dumps) == 2  # the first document, then the latest status once
    assert json.loads((tmp_path / RUN_DOCUMENT).read_text())["status"]["message"] == "999"
