"""The UI over local runs in headless Chromium: `kubeline ui --local` shows what `kubeline run` made, and
`kubeline run --ui` serves a live view of its run (the step's log streamed while it runs). No cluster."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Server, leave, start_server
from tests.browser.ui_pages import click_node, eventually, mark_page, node_phases, row_phase, still_same_page, text_of
from tests.helpers import ROOT, kubeline, pipeline_file, shell

pytestmark = pytest.mark.browser

RUN_URL_LINE = re.compile(r"^kubeline UI: (?P<url>http://\S+/runs/local/\S+)$")


def chatty(tmp_path: Path, lines: int, pause: float) -> Path:
    """speak (prints ``lines`` lines, ``pause`` seconds apart) -> after."""
    script = f'for i in $(seq {lines}); do echo "line-$i"; sleep {pause}; done; printf done > "$1"'
    return pipeline_file(
        tmp_path,
        [{"name": "speak", "component": "speak"}, {"name": "after", "component": "after", "after": ["speak"]}],
        [shell("speak", script, outputs=["said"]), shell("after", "true")],
    )


def test_the_local_ui_shows_a_finished_local_run(
    browser: Any, ui_server: Callable[..., Server], tmp_path: Path, screenshot: Callable[[Any, str], Path]
) -> None:
    home = tmp_path / "home"
    done = kubeline("run", str(chatty(tmp_path, 2, 0)), home=home, env={"PYTHONPATH": str(ROOT / "operator")})
    assert done.returncode == 0, done.stderr
    (name,) = [entry.name for entry in (home / "runs").iterdir()]
    server = ui_server("--local", env={"KUBELINE_HOME": str(home)})
    browser.get(server.url)
    assert row_phase(browser, f"local/{name}") == "Succeeded"
    browser.get(f"{server.url}runs/local/{name}")
    assert node_phases(browser) == {"speak": "succeeded", "after": "succeeded"}
    click_node(browser, "speak")
    eventually(lambda: "line-2" in text_of(browser, "pre#step-log"), 10, "the finished step's log")
    screenshot(browser, "local-run-page")


def test_kubeline_run_ui_serves_the_live_run_and_streams_the_steps_log(browser: Any, tmp_path: Path) -> None:
    env = {"KUBELINE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT / "operator")}
    argv = [sys.executable, "-m", "kubeline", "run", str(chatty(tmp_path, 8, 1)), "--ui", "--ui-port", "0"]
    server = start_server(argv, RUN_URL_LINE, tmp_path / "run.log", {**os.environ, **env})
    try:
        browser.get(server.url)
        mark_page(browser)
        eventually(lambda: node_phases(browser).get("speak") == "running", 10, "the step shown running")
        click_node(browser, "speak")
        eventually(lambda: "line-2" in text_of(browser, "pre#step-log"), 15, "the log streamed")
        assert text_of(browser, "#run-phase") == "Running", "the log appeared only after the run ended"
        assert still_same_page(browser), "the page was reloaded while its run ran"
        eventually(lambda: text_of(browser, "#run-phase") == "Succeeded", 30, "the run shown Succeeded")
        # the run's end renders the page once more (as for a finished run); the open step stays open
        assert not still_same_page(browser), "the finished run's page was not rendered anew"
        assert node_phases(browser) == {"speak": "succeeded", "after": "succeeded"}
        eventually(lambda: "line-8" in text_of(browser, "pre#step-log"), 10, "the whole log after the run")
    finally:
        leave(browser)
        server.stop()
    assert server.process.returncode == 0, server.output()


WEB_APP = (
    "<!doctype html><html><body><p id='said'>web app:</p><script>"
    "const said = document.getElementById('said');"
    "said.append(' script ran;');"
    "try { said.append(' parent title ' + window.parent.document.title); }"
    "catch (error) { said.append(' parent refused: ' + error.name); }"
    "</script></body></html>"
)


def test_a_kfp_web_app_runs_its_script_in_a_sandboxed_frame_that_cannot_reach_the_page(
    browser: Any, ui_server: Callable[..., Server], tmp_path: Path, screenshot: Callable[[Any, str], Path]
) -> None:
    from selenium.webdriver.common.by import By

    metadata = tmp_path / "ui-metadata.json"
    metadata.write_text(json.dumps({"outputs": [{"type": "web-app", "storage": "inline", "source": WEB_APP}]}))
    component = shell("report", f'cp "{metadata}" "$1"', outputs=["mlpipeline-ui-metadata"])
    component["outputs"] = [{"name": "mlpipeline-ui-metadata", "type": "ui-metadata"}]
    pipeline = pipeline_file(tmp_path, [{"name": "report", "component": "report"}], [component])
    home = tmp_path / "home"
    done = kubeline("run", str(pipeline), home=home, env={"PYTHONPATH": str(ROOT / "operator")})
    assert done.returncode == 0, done.stderr
    (name,) = [entry.name for entry in (home / "runs").iterdir()]
    server = ui_server("--local", env={"KUBELINE_HOME": str(home)})
    browser.get(f"{server.url}runs/local/{name}?step=report")
    frame = browser.find_element(By.CSS_SELECTOR, '#step-panel iframe.web-app[sandbox="allow-scripts"]')
    screenshot(browser, "web-app")
    browser.switch_to.frame(frame)
    try:
        said = eventually(
            lambda: "script ran" in text_of(browser, "#said") and text_of(browser, "#said"), 10, "the app"
        )
    finally:
        browser.switch_to.default_content()
    assert said == "web app: script ran; parent refused: SecurityError", said
