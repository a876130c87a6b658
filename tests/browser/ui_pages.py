"""What the UI's browser tests do on its pages: wait for a condition, read a run's row or its graph's nodes,
accept a confirmation, check that no hostile markup ran. Selectors are the markup contract of the UI."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.browser.conftest import UI_URL_LINE, Server, start_server

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 30, what: str = "the condition") -> T:
    """The first truthy value of ``check()`` within ``timeout`` seconds; fails naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s (last value {value!r})")
        time.sleep(0.1)


def row_phase(driver: Any, key: str) -> str | None:
    """The phase shown in the runs table for the run ``key`` ("NS/NAME"); None when it has no row."""
    result: str | None = driver.execute_script(
        "const cell = document.querySelector('table.runs tbody tr[data-run=\"' + CSS.escape(arguments[0]) + "
        "'\"] td.phase'); return cell ? cell.textContent.trim() : null",
        key,
    )
    return result


# the page's own graph data (as static/ui.js reads it): graph node id -> {task, steps, phase, ...}
GRAPH_NODES = (
    "const data = document.getElementById('graph-data');"
    "const nodes = data ? (JSON.parse(data.textContent).nodes || {}) : {};"
)


def node_classes(driver: Any) -> dict[str, str]:
    """Each graph node's task name -> its class attribute (e.g. "node phase-succeeded cached")."""
    found: dict[str, str] = driver.execute_script(
        GRAPH_NODES + "const out = {};"
        "for (const g of document.querySelectorAll('#graph svg g.node')) {"
        "  const node = nodes[g.id]; out[node ? node.task : g.id] = g.getAttribute('class'); }"
        "return out;"
    )
    return found


def node_phases(driver: Any) -> dict[str, str]:
    """Each graph node's task name -> its phase as its class says (succeeded, running, failed, none...)."""
    phases = {}
    for task, classes in node_classes(driver).items():
        phase = next((c for c in classes.split() if c.startswith("phase-")), "phase-?")
        phases[task] = phase.removeprefix("phase-")
    return phases


def click_node(driver: Any, task: str) -> None:
    """Clicks the graph node of ``task`` (as a user would: on the node's shape)."""
    node_id = driver.execute_script(
        GRAPH_NODES + "return Object.keys(nodes).find((id) => nodes[id].task === arguments[0]) || null",
        task,
    )
    assert node_id, f"the graph has no node for {task}: {node_classes(driver)}"
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"#graph svg g.node#{node_id}").click()


def text_of(driver: Any, css: str) -> str:
    value: str = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : ''", css
    )
    return value


def confirm(driver: Any, timeout: float = 5) -> str:
    """Accepts the page's confirmation dialog; its text."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    alert = WebDriverWait(driver, timeout).until(expected_conditions.alert_is_present())
    text = str(alert.text)
    alert.accept()
    return text


def assert_no_alert(driver: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property raises when no dialog is open


def mark_page(driver: Any) -> None:
    """Marks the loaded page; `still_same_page` then tells whether it was reloaded or left since."""
    driver.execute_script("window.__marker = 1")


def still_same_page(driver: Any) -> bool:
    return bool(driver.execute_script("return window.__marker === 1"))


def start_ui(argv: list[str], log: Path, env: dict[str, str]) -> Server:
    """`kubeline ui ARGV --port 0` running, for a whole test module (the `ui_server` fixture is per test)."""
    command = [sys.executable, "-m", "kubeline", "ui", "--port", "0", *argv]
    return start_server(command, UI_URL_LINE, log, env)
