"""The browser harness itself, on a static page served by `python -m http.server`: Chromium loads it and runs its
script, finds an element, takes a screenshot; the console check catches a script error."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Server, console_errors, ready, start_server

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>harness</title><link rel="icon" href="data:,">
<script src="page.js" defer></script></head>
<body><h1 id="greeting">waiting</h1><table class="runs"><tbody></tbody></table></body></html>
"""
SERVING = re.compile(r"^Serving HTTP on \S+ port \d+ \((?P<url>http://\S+/)\)")
# what the UI's script does too: text set with textContent, rows added from data
SCRIPT = """document.getElementById("greeting").textContent = "hello from page.js";
const body = document.querySelector("table.runs tbody");
for (const name of ["run-a", "<b>run-b</b>"]) {
  const cell = body.insertRow().insertCell();
  cell.textContent = name;
}
"""


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    site = tmp_path_factory.mktemp("site")
    (site / "index.html").write_text(PAGE)
    (site / "page.js").write_text(SCRIPT)
    (site / "broken.html").write_text(PAGE.replace("page.js", "broken.js"))
    (site / "broken.js").write_text("undefinedFunction();\n")
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(site), "0"]
    server = start_server(argv, SERVING, tmp_path_factory.mktemp("logs") / "http.log")
    yield server
    server.stop()


def test_chromium_loads_a_page_runs_its_script_and_takes_a_screenshot(
    browser: Any, static_site: Server, screenshot: Callable[[Any, str], Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    browser.get(static_site.url)
    WebDriverWait(browser, 10).until(
        expected_conditions.text_to_be_present_in_element((By.ID, "greeting"), "hello from page.js")
    )
    cells = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table.runs tbody tr td")]
    assert cells == ["run-a", "<b>run-b</b>"]  # textContent: markup in data stays text
    assert browser.execute_script("return [window.innerWidth, window.innerHeight]")[0] == 1400
    png = screenshot(browser, "harness-static-page")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (Path(__file__).resolve().parents[2] / "build" / "screenshots" / png.name).is_file()


def test_a_script_error_shows_in_the_console_errors(chrome: Any, static_site: Server) -> None:
    console_errors(chrome)
    chrome.get(static_site.url + "broken.html")
    errors = console_errors(chrome)
    assert any("undefinedFunction" in error for error in errors), errors


def test_a_stopped_server_no_longer_answers(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(tmp_path), "0"]
    server = start_server(argv, SERVING, tmp_path / "http.log")
    assert ready(server.url)
    server.stop()
    assert server.process.returncode is not None and not ready(server.url)
