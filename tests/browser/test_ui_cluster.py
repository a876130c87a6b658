"""`kubeline ui -n NS` in headless Chromium against the real control plane, with the operator running Runs on
kwok's fake nodes (a step's outcome and duration come from its env, see tests.helpers.fake).

What a user sees: the runs list and a run's graph follow the run live (no reload), a step's panel opens on a
click, a run started from a pipeline's form succeeds and a bad value is refused naming the field, cancel /
retry / delete do what they say, and hostile names, values and messages show as text without running.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeline.api.constants import API_VERSION, DISPLAY_NAME_ANNOTATION
from kubeline.api.yamlio import dump_all
from tests.browser.conftest import Server, console_errors, leave
from tests.browser.ui_pages import (
    assert_no_alert,
    click_node,
    confirm,
    eventually,
    mark_page,
    node_classes,
    node_phases,
    row_phase,
    start_ui,
    still_same_page,
    text_of,
)
from tests.helpers import by_step, fake, pods_of, submit, wait_run

pytestmark = pytest.mark.browser

Screenshot = Callable[[Any, str], Path]

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def ns(operator_namespace: Any) -> Any:
    return operator_namespace


@pytest.fixture(scope="module")
def ui(chrome: Any, ns: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`kubeline ui -n NS` with the test cluster's kubeconfig, for the module."""
    cluster, namespace, _ = ns
    server = start_ui(["-n", namespace], tmp_path_factory.mktemp("ui") / "ui.log", kube_env(cluster))
    yield server
    leave(chrome)
    server.stop()


def kube_env(cluster: Any) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig)}


def diamond(seconds: int) -> dict[str, Any]:
    """first -> (left, right) -> last, each step taking ``seconds``; no caching."""
    step = f"{seconds}s"
    return {
        "components": [
            fake("first", outputs={"out": "10"}, duration=step),
            fake("side", ["x"], outputs={"out": "4"}, duration=step),
            fake("last", ["a", "b"], outputs={"result": "40"}, duration=step),
        ],
        "tasks": [
            {"name": "first", "component": "first"},
            {"name": "left", "component": "side", "arguments": {"x": "{{tasks.first.outputs.out}}"}},
            {"name": "right", "component": "side", "arguments": {"x": "{{tasks.first.outputs.out}}"}},
            {
                "name": "last",
                "component": "last",
                "arguments": {"a": "{{tasks.left.outputs.out}}", "b": "{{tasks.right.outputs.out}}"},
            },
        ],
        "outputs": {"result": "{{tasks.last.outputs.result}}"},
        "defaults": {"caching": {"enabled": False}},
    }


def ok_then_failing() -> dict[str, Any]:
    """A step that succeeds (cached), then one that fails (exit code 1)."""
    return {
        "components": [fake("ok", outputs={"out": "fine"}), fake("boom", ["x"], exit_code=1)],
        "tasks": [
            {"name": "ok", "component": "ok"},
            {"name": "boom", "component": "boom", "arguments": {"x": "{{tasks.ok.outputs.out}}"}},
        ],
    }


def long_step() -> dict[str, Any]:
    return {
        "components": [fake("long", duration="300s")],
        "tasks": [{"name": "long", "component": "long"}],
        "defaults": {"caching": {"enabled": False}},
    }


def run_exists(ns: Any, run: str) -> bool:
    cluster, namespace, _ = ns
    return cluster.kubectl("get", "run", run, "-n", namespace, check=False).returncode == 0


# -- live list and graph ------------------------------------------------------------------------------------


def test_the_runs_list_follows_a_run_live_without_a_reload(browser: Any, ui: Server, ns: Any, screenshot: Screenshot):
    browser.get(ui.url)
    mark_page(browser)
    run = submit(ns, diamond(2))
    key = f"{ns[1]}/{run}"
    seen: list[str] = []

    def finished() -> bool:
        phase = row_phase(browser, key)
        if phase and (not seen or seen[-1] != phase):
            seen.append(phase)
        return phase == "Succeeded"

    eventually(finished, 60, f"the row of {key} showing Succeeded (seen {seen})")
    assert "Running" in seen, f"the row never showed Running: {seen}"
    assert still_same_page(browser), "the page was reloaded"
    assert text_of(browser, f'table.runs tr[data-run="{key}"] td.progress-cell .count') == "4/4"
    screenshot(browser, "runs-list")


def test_the_graph_colours_each_step_by_phase_live_and_a_click_opens_its_panel(
    browser: Any, ui: Server, ns: Any, screenshot: Screenshot
):
    run = submit(ns, diamond(3))
    eventually(lambda: pods_of(ns, run), 30, "the first pod")
    browser.get(f"{ui.url}runs/{ns[1]}/{run}")
    mark_page(browser)
    assert set(node_phases(browser)) == {"first", "left", "right", "last"}
    assert buttons(browser) == ["cancel"], "a running run's actions"
    eventually(lambda: "running" in node_phases(browser).values(), 30, "a node shown running")
    screenshot(browser, "run-page-running")
    eventually(lambda: node_phases(browser)["first"] == "succeeded", 30, "the first step shown succeeded")
    assert text_of(browser, "#run-phase") == "Running" and still_same_page(browser), "not followed live"
    # steps that start after the page was rendered join the steps table live, with their phase
    eventually(
        lambda: step_rows(browser).get("last") == "Running" and still_same_page(browser), 30, "a later step listed live"
    )
    eventually(lambda: text_of(browser, "#run-phase") == "Succeeded", 60, "the run shown Succeeded")
    # its end renders the page once more, as for a finished run: its actions now Retry and Delete
    assert not still_same_page(browser), "the finished run's page was not rendered anew"
    assert set(node_phases(browser).values()) == {"succeeded"}
    assert buttons(browser) == ["retry", "delete"], "a finished run's actions"

    click_node(browser, "first")
    eventually(lambda: text_of(browser, "#step-panel .step #step-phase") == "Succeeded", 10, "the step's panel")
    panel = text_of(browser, "#step-panel")
    assert "first" in panel and "out" in panel and "10" in panel, panel
    assert browser.find_element("css selector", "#step-panel .step").get_attribute("data-step") == "first"
    assert "step=first" in browser.current_url  # the panel's step survives a reload
    screenshot(browser, "step-panel")


def step_rows(driver: Any) -> dict[str, str]:
    """The steps table: each row's step id and the phase its badge shows."""
    rows = driver.find_elements("css selector", "table.steps tbody tr[data-step]")
    return {row.get_attribute("data-step"): row.find_element("css selector", ".badge").text for row in rows}


def buttons(driver: Any) -> list[str]:
    """The ids of the run page's action buttons, in their order."""
    found: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#run .actions button')).map((b) => b.id)"
    )
    return found


def test_a_failed_step_shows_failed_in_the_graph_and_its_panel(browser: Any, ui: Server, ns: Any) -> None:
    run = submit(ns, ok_then_failing())
    assert wait_run(ns, run)["phase"] == "Failed"
    browser.get(f"{ui.url}runs/{ns[1]}/{run}")
    assert node_phases(browser) == {"ok": "succeeded", "boom": "failed"}
    assert text_of(browser, "#run-phase") == "Failed"
    click_node(browser, "boom")
    eventually(lambda: text_of(browser, "#step-panel .step #step-phase") == "Failed", 10, "the failed step's panel")
    assert "exit code 1" in text_of(browser, "#step-panel")


def churn_model() -> dict[str, Any]:
    """A pipeline as in the README: a loop of sub-DAGs (tuning), a condition group (release), an exit handler;
    the tuning's training runs for minutes, so a run shows steps succeeded and steps running."""
    return {
        "params": [{"name": "dataset", "type": "string", "default": "s3://data/churn.csv"}],
        "components": [
            fake("load-data", ["source"], outputs={"rows": "120000"}, duration="1s"),
            fake("validate", ["rows"], outputs={"quality": "good"}, duration="1s"),
            fake("features", ["rows"], outputs={"columns": "42"}, duration="2s"),
            fake("train", ["rate", "columns"], outputs={"model": "s3://models/churn.pkl"}, duration="300s"),
            fake("evaluate", ["model"], outputs={"auc": "0.91"}, duration="5s"),
            fake("pick-best", outputs={"best": "0.1"}, duration="2s"),
            fake("package", ["model"], outputs={"image": "churn:v7"}, duration="2s"),
            fake("deploy", ["image"], duration="2s"),
            fake("notify", ["status"], duration="1s"),
        ],
        "tasks": [
            {"name": "load-data", "component": "load-data", "arguments": {"source": "{{params.dataset}}"}},
            {"name": "validate", "component": "validate", "arguments": {"rows": "{{tasks.load-data.outputs.rows}}"}},
            {"name": "features", "component": "features", "arguments": {"rows": "{{tasks.load-data.outputs.rows}}"}},
            {
                "name": "tune",
                "forEach": [0.01, 0.03, 0.1, 0.3],
                "itemName": "rate",
                "after": ["features"],
                "dag": {
                    "tasks": [
                        {
                            "name": "train",
                            "component": "train",
                            "arguments": {"rate": "{{items.rate}}", "columns": "42"},
                        },
                        {
                            "name": "evaluate",
                            "component": "evaluate",
                            "arguments": {"model": "{{tasks.train.outputs.model}}"},
                        },
                    ]
                },
            },
            {"name": "pick-best", "component": "pick-best", "after": ["tune"]},
            {
                "name": "release",
                "when": "{{tasks.validate.outputs.quality}} == good",
                "after": ["pick-best"],
                "dag": {
                    "tasks": [
                        {"name": "package", "component": "package", "arguments": {"model": "best"}},
                        {
                            "name": "deploy",
                            "component": "deploy",
                            "arguments": {"image": "{{tasks.package.outputs.image}}"},
                        },
                    ]
                },
            },
        ],
        "onExit": {"name": "notify", "component": "notify", "arguments": {"status": "{{run.status}}"}},
        "defaults": {"caching": {"enabled": False}},
    }


def test_a_pipeline_with_a_loop_and_a_condition_draws_its_groups_and_follows_the_run(
    browser: Any, ui: Server, ns: Any, screenshot: Screenshot
) -> None:
    from selenium.webdriver.common.by import By

    cluster, namespace, _ = ns
    run = f"churn-model-{uuid.uuid4().hex[:5]}"
    pipeline = {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": "churn-model"},
        "spec": churn_model(),
    }
    started = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": run},
        "spec": {"pipelineRef": {"name": "churn-model"}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([pipeline, started]))
    browser.get(f"{ui.url}runs/{namespace}/{run}")
    expected = {"load-data", "validate", "features", "tune.train", "tune.evaluate", "pick-best", "release.package"}
    expected |= {"release.deploy", "notify"}
    assert set(node_phases(browser)) == expected
    groups = browser.find_elements(By.CSS_SELECTOR, "#graph svg g.group")
    kinds = sorted(c for g in groups for c in g.get_attribute("class").split() if c.startswith("group-"))
    assert kinds == ["group-condition", "group-exit", "group-loop"], kinds
    eventually(lambda: node_phases(browser)["tune.train"] == "running", 60, "the tuning's training shown running")
    phases = node_phases(browser)
    assert [phases[t] for t in ("load-data", "validate", "features", "pick-best")] == [
        "succeeded", "succeeded", "succeeded", "pending",
    ], phases  # fmt: skip
    assert text_of(browser, "#run-started") != "—", "the run's start not shown live"
    click_node(browser, "features")
    eventually(lambda: text_of(browser, "#step-panel .step #step-phase") == "Succeeded", 10, "the step's panel")
    assert "columns" in text_of(browser, "#step-panel") and "42" in text_of(browser, "#step-panel")
    # the README's picture: the page as opened now (its steps table filled), a viewport of 1400x1000
    browser.get(f"{ui.url}runs/{namespace}/{run}?step=features")
    assert text_of(browser, "#step-panel .step #step-phase") == "Succeeded"
    assert "selected" in node_classes(browser)["features"].split(), "the open step's node not marked"
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
    )
    try:
        screenshot(browser, "readme-run-page")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    # gone before the next test: its daemon, stopped mid-step, must not hold up another test's deletion
    cluster.kubectl("delete", "run", run, "-n", namespace, "--timeout=90s", timeout=120)


# -- a run started from a pipeline's form -------------------------------------------------------------------


def typed_pipeline(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {
            "description": "adds a count to a greeting",
            "params": [
                {"name": "count", "type": "integer", "default": 2},
                {"name": "greeting", "type": "string", "default": "hello"},
            ],
            "components": [fake("say", ["count", "greeting"], outputs={"said": "ok"}, duration="1s")],
            "tasks": [
                {
                    "name": "say",
                    "component": "say",
                    "arguments": {"count": "{{params.count}}", "greeting": "{{params.greeting}}"},
                }
            ],
            "defaults": {"caching": {"enabled": False}},
        },
    }


def test_a_run_started_from_the_pipeline_form_succeeds_and_a_bad_value_is_refused_naming_the_field(
    browser: Any, ui: Server, ns: Any, screenshot: Screenshot
) -> None:
    from selenium.webdriver.common.by import By

    cluster, namespace, _ = ns
    name = f"form-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([typed_pipeline(name)]))
    page = f"{ui.url}pipelines/{namespace}/{name}"
    eventually(lambda: "Start a run" in (browser.get(page) or browser.page_source), 10, "the pipeline page")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph svg g.node")) == 1
    screenshot(browser, "pipeline-page")

    field = browser.find_element(By.CSS_SELECTOR, 'form#run-form input[name="param.count"]')
    field.clear()
    field.send_keys("5")
    browser.find_element(By.ID, "start-run").click()
    prefix = f"{ui.url}runs/{namespace}/{name}-"
    eventually(lambda: browser.current_url.startswith(prefix), 10, "the new run's page")
    run = browser.current_url.removeprefix(f"{ui.url}runs/{namespace}/").split("?")[0]
    eventually(lambda: text_of(browser, "#run-phase") == "Succeeded", 60, "the new run shown Succeeded")
    made = cluster.kubectl_json("get", "run", run, "-n", namespace)
    # the form sends what the user filled in; the operator records the defaults it applied
    assert made["spec"]["arguments"] == {"count": 5}
    assert made["status"]["arguments"] == {"count": 5, "greeting": "hello"}
    assert made["spec"]["pipelineRef"] == {"name": name}

    browser.get(page)
    field = browser.find_element(By.CSS_SELECTOR, 'form#run-form input[name="param.count"]')
    field.clear()
    field.send_keys("five")
    runs_before = len(cluster.kubectl_json("get", "runs", "-n", namespace)["items"])
    browser.find_element(By.ID, "start-run").click()
    eventually(lambda: "count" in text_of(browser, "main"), 10, "a refusal naming the field")
    refusal = text_of(browser, "main")
    assert "Internal error" not in refusal and "five" in refusal, refusal
    # the refusal is a 422 page, which Chromium notes in the console; nothing else may be there
    assert [e for e in console_errors(browser) if "status of 422" not in e] == []
    assert len(cluster.kubectl_json("get", "runs", "-n", namespace)["items"]) == runs_before


# -- actions ------------------------------------------------------------------------------------------------


def test_cancel_stops_the_run_and_its_pod_goes(browser: Any, ui: Server, ns: Any) -> None:
    from selenium.webdriver.common.by import By

    run = submit(ns, long_step())
    browser.get(f"{ui.url}runs/{ns[1]}/{run}")
    eventually(lambda: text_of(browser, "#run-phase") == "Running", 30, "the run shown Running")
    browser.find_element(By.ID, "cancel").click()
    assert run in confirm(browser)
    eventually(lambda: text_of(browser, "#run-phase") == "Cancelled", 30, "the run shown Cancelled")
    assert wait_run(ns, run)["phase"] == "Cancelled"
    eventually(lambda: "long" not in by_step(pods_of(ns, run)), 30, "the step's pod deleted")


def test_retry_makes_a_new_run_reusing_the_succeeded_step_and_delete_removes_the_run(
    browser: Any, ui: Server, ns: Any
) -> None:
    from selenium.webdriver.common.by import By

    cluster, namespace, _ = ns
    run = submit(ns, ok_then_failing())
    assert wait_run(ns, run)["phase"] == "Failed"
    browser.get(f"{ui.url}runs/{namespace}/{run}")
    browser.find_element(By.ID, "retry").click()
    prefix = f"{ui.url}runs/{namespace}/{run}-retry-"
    eventually(lambda: browser.current_url.startswith(prefix), 10, "the retry's page")
    retried = browser.current_url.removeprefix(f"{ui.url}runs/{namespace}/").split("?")[0]
    status = wait_run(ns, retried)
    assert status["tasks"]["ok"].get("reusedFrom") == run, status["tasks"]
    assert status["tasks"]["boom"]["phase"] == "Failed"

    browser.get(f"{ui.url}runs/{namespace}/{run}")
    browser.find_element(By.ID, "delete").click()
    assert run in confirm(browser)
    eventually(lambda: browser.current_url.rstrip("/") == ui.url.rstrip("/"), 10, "back on the runs list")
    try:
        # the operator's finalizer goes once the run's daemon stopped (kopf cancels it after 5 s at the most)
        eventually(lambda: not run_exists(ns, run), 60, "the Run deleted")
    except AssertionError as late:  # say what holds it: the operator's finalizer, a deletion never asked
        left = cluster.kubectl_json("get", "run", run, "-n", namespace)["metadata"]
        held = {key: left.get(key) for key in ("deletionTimestamp", "finalizers")}
        raise AssertionError(f"{late}; the Run still there with {held}") from None
    eventually(lambda: row_phase(browser, f"{namespace}/{run}") is None, 15, "its row gone from the list")


def test_the_runs_count_follows_a_run_created_and_deleted_elsewhere_live(browser: Any, ui: Server, ns: Any) -> None:
    cluster, namespace, _ = ns
    browser.get(ui.url)
    mark_page(browser)
    before = int(text_of(browser, "#runs-total"))
    assert before == len(cluster.kubectl_json("get", "runs", "-n", namespace)["items"])
    run = submit(ns, ok_then_failing())
    key = f"{namespace}/{run}"
    eventually(lambda: row_phase(browser, key), 10, "the new run's row")
    assert text_of(browser, "#runs-total") == str(before + 1)
    wait_run(ns, run)
    cluster.kubectl("delete", "run", run, "-n", namespace)
    eventually(lambda: row_phase(browser, key) is None, 15, "the row gone")
    assert text_of(browser, "#runs-total") == str(before)
    assert still_same_page(browser)


# -- hostile input ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(chrome: Any, crds: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A namespace no operator watches, holding a Pipeline and a Run whose every free text is hostile (the Run's
    status written as a misbehaving client could), and `kubeline ui -n` on it."""
    from tests.control_plane import new_namespace

    namespace = new_namespace(crds, "hostile")
    spec = {
        "description": HOSTILE,
        "params": [{"name": "text", "type": "string", "default": HOSTILE}],
        "components": [fake("say", ["text"], outputs={"said": HOSTILE})],
        "tasks": [{"name": "say", "component": "say", "arguments": {"text": "{{params.text}}"}}],
    }
    documents = [
        {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": "evil"}, "spec": spec},
        {
            "apiVersion": API_VERSION,
            "kind": "Run",
            "metadata": {
                "name": "evil-run",
                "annotations": {DISPLAY_NAME_ANNOTATION: HOSTILE},
                "labels": {"kubeline.dev/pipeline": "evil"},
            },
            "spec": {"pipelineRef": {"name": "evil"}, "arguments": {"text": HOSTILE}},
        },
    ]
    crds.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all(documents))
    status = {
        "phase": "Failed",
        "message": HOSTILE,
        "pipelineSpec": spec,
        "arguments": {"text": HOSTILE},
        "outputs": {"said": HOSTILE},
        "tasks": {"say": {"phase": "Failed", "message": HOSTILE, "outputs": {"said": HOSTILE}, "attempts": 1}},
        "conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed", "message": HOSTILE}],
    }
    crds.kubectl(
        "patch", "run", "evil-run", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    server = start_ui(["-n", namespace], tmp_path_factory.mktemp("hostile-ui") / "ui.log", kube_env(crds))
    try:
        yield server, namespace
    finally:
        leave(chrome)
        server.stop()
        crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def assert_shown_as_text(driver: Any, where: str) -> None:
    assert_no_alert(driver)
    assert "<script>alert(1)</script>" in text_of(driver, "body"), f"{where}: the hostile text is not shown"
    # the page's only scripts are its own: ui.js in the head and the one graph data (JSON, never run)
    injected = driver.execute_script(
        "const own = (s) => (s.parentNode === document.head && (s.getAttribute('src') || '').endsWith('/static/ui.js'))"
        "  || (s.id === 'graph-data' && s.type === 'application/json' && s.closest('main') !== null);"
        "const foreign = Array.from(document.scripts).filter((s) => !own(s));"
        "const data = document.querySelectorAll('#graph-data');"
        "return [...foreign, ...document.querySelectorAll('img[src=\"x\"], [onerror]'), ...Array.from(data).slice(1)]"
        "  .map((e) => e.outerHTML);"
    )
    assert injected == [], f"{where}: hostile markup became elements"


def test_hostile_names_values_and_messages_show_as_text_and_never_run(
    browser: Any, hostile: tuple[Server, str]
) -> None:
    server, namespace = hostile
    browser.get(server.url)
    eventually(lambda: row_phase(browser, f"{namespace}/evil-run") == "Failed", 10, "the hostile run's row")
    assert_shown_as_text(browser, "runs list")
    browser.get(f"{server.url}runs/{namespace}/evil-run")
    assert_shown_as_text(browser, "run page")
    click_node(browser, "say")
    eventually(lambda: text_of(browser, "#step-panel .step #step-phase") == "Failed", 10, "the step's panel")
    assert_shown_as_text(browser, "step panel")
    browser.get(f"{server.url}runs/{namespace}/evil-run?step=say")
    assert_shown_as_text(browser, "run page with its step")
    browser.get(f"{server.url}pipelines/{namespace}/evil")
    assert_shown_as_text(browser, "pipeline page")
    # the default is shown (as the empty field's placeholder), as text
    field = browser.find_element("css selector", 'input[name="param.text"]')
    assert (field.get_attribute("value"), field.get_attribute("placeholder")) == ("", f"default: {HOSTILE}")
    browser.get(f"{server.url}pipelines")
    assert_no_alert(browser)
    browser.get(f"{server.url}runs/{namespace}/evil-run/clone")
    assert_shown_as_text(browser, "clone form")
