"""`kubeline retry --local`: a local run retried on this machine, its succeeded steps reused (real processes)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from kubeline.ui.local import LocalSource
from tests.helpers import kubeline, pipeline_file, shell

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the step guard needs Linux")


def status_of(home: Path, run: str) -> dict:
    return json.loads((home / "runs" / run / "run.yaml").read_text())["status"]


def test_a_local_retry_reuses_the_succeeded_step_and_from_a_step_runs_it_again(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    file = pipeline_file(
        tmp_path,
        [
            {"name": "prep", "component": "prep"},
            {"name": "train", "component": "train", "arguments": {"data": "{{tasks.prep.outputs.out}}"}},
            {"name": "report", "component": "report", "after": ["train"]},
        ],
        [
            shell("prep", f'echo ran >> {work}/prep.log; printf prepared > "$1"', outputs=["out"]),
            shell("train", f'test -e {work}/fixed && printf "$1" > {work}/trained', inputs=["data"]),
            shell("report", f"echo ran >> {work}/report.log"),
        ],
        defaults={"caching": {"enabled": False}},  # what is reused, the retry reuses
    )
    home = tmp_path / "home"
    assert kubeline("run", str(file), "--name", "first", home=home).returncode == 1
    (work / "fixed").touch()

    refused = kubeline("retry", "--local", "first", "--from", "nope", home=home)
    assert refused.returncode == 2 and "its tasks: prep, report, train" in refused.stderr, refused.stderr
    retried = kubeline("retry", "--local", "first", "--name", "second", home=home)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "Succeeded (reused from first)" in retried.stdout  # the summary's prep row
    assert (work / "prep.log").read_text() == "ran\n"  # prep ran once: in the first run
    assert (work / "trained").read_text() == "prepared"  # its output, reused, reached train
    status = status_of(home, "second")
    assert status["tasks"]["prep"]["reusedFrom"] == "first"
    assert status["phase"] == "Succeeded" and status["message"].endswith("1 step reused from first")

    again = kubeline("retry", "--local", "second", "--from", "prep", "--name", "third", home=home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (work / "prep.log").read_text() == "ran\nran\n"
    assert (work / "report.log").read_text() == "ran\nran\n"
    assert "reusedFrom" not in json.dumps(status_of(home, "third")["tasks"])
    missing = kubeline("retry", "--local", "nowhere", home=home)
    assert missing.returncode == 2 and "no local run" in missing.stderr


def test_a_retry_from_a_step_runs_what_follows_it_again_even_where_the_cache_holds_it(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    file = pipeline_file(
        tmp_path,
        [
            {"name": "prep", "component": "prep"},
            {"name": "train", "component": "train", "arguments": {"data": "{{tasks.prep.outputs.out}}"}},
            {"name": "report", "component": "report", "after": ["train"]},
            {"name": "other", "component": "other"},
        ],
        [
            shell("prep", f'echo ran >> {work}/prep.log; printf same > "$1"', outputs=["out"]),
            shell("train", f"echo ran >> {work}/train.log", inputs=["data"]),
            shell("report", f"echo ran >> {work}/report.log"),
            shell("other", f"echo ran >> {work}/other.log; echo other says hello"),
        ],
    )
    home = tmp_path / "home"
    assert kubeline("run", str(file), "--name", "first", home=home).returncode == 0
    # prep makes the same output again: train and report would hit the cache, yet they follow prep
    retried = kubeline("retry", "--local", "first", "--from", "prep", "--name", "second", home=home)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert (
        "retrying first, reusing 1 from Run first; running again steps that succeeded there: prep, report, train"
        in (retried.stdout)
    )
    for step in ("prep", "train", "report"):
        assert (work / f"{step}.log").read_text() == "ran\nran\n", step
    assert (work / "other.log").read_text() == "ran\n"  # not downstream of prep: reused
    assert status_of(home, "second")["tasks"]["other"]["reusedFrom"] == "first"
    logs = kubeline("logs", "second", "other", home=home)  # the log of the reused step: where it ran
    assert logs.returncode == 0 and logs.stdout == "==> other <==\nother says hello\n", logs.stdout + logs.stderr
    assert "other says hello" in asyncio.run(ui_log(home, "second", "other"))


async def ui_log(home: Path, run: str, step: str) -> str:
    """The step's log as the local UI's log view shows it."""
    source = LocalSource(home)
    await source.start()
    try:
        document = await source.run("local", run)
        assert document is not None
        return "".join([chunk async for chunk in source.log("local", document, step, False)])
    finally:
        await source.stop()
