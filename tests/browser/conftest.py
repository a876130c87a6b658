"""The browser tests' harness: headless Chromium driven by Debian's chromedriver, the UI server in a subprocess.

- `chrome` (session): one headless Chromium, window 1400x900, a fresh profile, its console log kept;
  `browser` (per test): that same driver, its console emptied first and checked empty after the test (a
  Content-Security-Policy violation or a script error is a console error), a screenshot taken if the test fails.
- `screenshot(driver, name)`: a PNG in BASETEMP/screenshots/ and in build/screenshots/ (named at the end of the
  test output) so that one can look at what the tests saw.
- `ui_server(*args, env=...)`: `kubeline ui ARGS` started, its URL read from its one line of standard output,
  ready once `GET /` answers 200; stopped (its process group) at the end of the test.

Nothing is downloaded: the driver is /usr/bin/chromedriver given to selenium's Service, so Selenium Manager is
never run; `hack/browser ensure` installs chromium and chromedriver (`make test` runs it). Where they are missing
the tests are skipped, saying so. The control plane's fixtures (`cluster`, `crds`, ...) come from
tests/control_plane.py, shared with the integration tests.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCREENSHOTS = ROOT / "build" / "screenshots"
UI_URL_LINE = re.compile(r"^kubeline UI: (?P<url>https?://\S+/)$")
WINDOW = (1400, 900)


# -- the browser -------------------------------------------------------------------------------------------


def new_chrome(profile: Path) -> Any:
    """Headless Chromium through Debian's chromedriver; skipped (saying why) where either is missing."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("chromium and chromedriver are not installed: `hack/browser ensure` (root) installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={profile}",
        "--disable-dev-shm-usage",  # containers' /dev/shm is small
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",  # no calls home while testing
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # a driver path given: selenium skips Selenium Manager, which would otherwise look for (download) a driver
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))


@pytest.fixture(scope="session")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = new_chrome(tmp_path_factory.mktemp("chrome-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors since the last call (reading the log empties it): script errors, CSP
    violations, resources that failed to load."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def assert_no_console_errors(driver: Any) -> None:
    errors = console_errors(driver)
    assert not errors, "the browser console has errors:\n" + "\n".join(errors)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def browser(chrome: Any, request: pytest.FixtureRequest, screenshot: Callable[[Any, str], Path]) -> Iterator[Any]:
    """The session's Chromium for one test: console emptied first, asserted free of errors at the end."""
    console_errors(chrome)
    yield chrome
    if request.node.stash.get(_CALL_FAILED, False):
        screenshot(chrome, f"FAILED-{request.node.name}")
    assert_no_console_errors(chrome)


# -- screenshots -------------------------------------------------------------------------------------------


_SCREENSHOTS = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def screenshot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any, str], Path]:
    """`screenshot(driver, name)`: the page as name.png, in the session's folder and in build/screenshots/."""
    folders = [tmp_path_factory.getbasetemp() / "screenshots", BUILD_SCREENSHOTS]
    request.config.stash[_SCREENSHOTS] = folders[0]

    def take(driver: Any, name: str) -> Path:
        file_name = re.sub(r"[^\w.-]+", "_", name) + ".png"
        png = driver.get_screenshot_as_png()
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file_name).write_bytes(png)
        return folders[0] / file_name

    return take


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    folder = config.stash.get(_SCREENSHOTS, None)
    if folder is not None and folder.is_dir():
        terminalreporter.write_line(f"browser screenshots: {folder} (copied to {BUILD_SCREENSHOTS})")


# -- servers in subprocesses -------------------------------------------------------------------------------


@dataclass
class Server:
    """A server in a subprocess (its own process group), its output in ``log``."""

    process: subprocess.Popen[str]
    log: Path
    url: str = ""
    _found: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(
    argv: Sequence[str], url_line: re.Pattern[str], log: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> Server:
    """Start ``argv``, wait for the standard output line ``url_line`` matches (its group `url`), then for `GET /`
    to answer 200. The environment is inherited (so is KUBELINE_TEST_MARKER: hack/stop-marked finds what a
    test run left); standard output keeps being read into ``log`` so that the server never blocks on it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as errors:
        process = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            start_new_session=True,
        )
    server = Server(process, log)

    def read_output() -> None:
        assert process.stdout is not None
        with open(log, "a") as out:
            for line in process.stdout:
                out.write(line)
                out.flush()
                match = url_line.match(line.strip())
                if match and not server.url:
                    server.url = match["url"]
                    server._found.set()

    threading.Thread(target=read_output, daemon=True).start()
    deadline = time.monotonic() + timeout
    try:
        while not server._found.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{' '.join(argv)} printed no URL line:\n{server.output()}")
        while not ready(server.url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{server.url} never answered 200:\n{server.output()}")
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
    return server


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def leave(driver: Any) -> None:
    """Leaves the page for about:blank: a server stopped under an open page would cut its live stream (the
    EventSource), which Chromium logs as a console error (ERR_INCOMPLETE_CHUNKED_ENCODING)."""
    driver.get("about:blank")


@pytest.fixture
def ui_server(chrome: Any, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """`ui_server(*args, env=None)`: `kubeline ui ARGS --port 0` running, e.g. `ui_server("--local",
    env={"KUBELINE_HOME": ...})` or `ui_server("-A", env=crds.env)`; stopped at the end of the test, after the
    browser left its page."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        log = tmp_path / f"kubeline-ui-{len(started)}.log"
        argv = [sys.executable, "-m", "kubeline", "ui", "--port", "0", *args]
        started.append(start_server(argv, UI_URL_LINE, log, env))
        return started[-1]

    yield start
    leave(chrome)
    for server in started:
        server.stop()
