"""The web UI's benchmark: first render of the runs list with 10,000 Runs, and of a run with a 1,000-step DAG.

    python benchmarks/ui_bench.py [--runs 10000] [--steps 1000] [--repeat 5] [--keep]

On a control plane of its own (hack/cluster, as tests/chaos starts it) with kubeline's CRDs: --runs Runs of the
examples' pipelines spread over four namespaces, twenty experiments and every phase, each with the status the
operator writes (frozen pipeline, progress, step entries, metrics, conditions) set through the status
subresource, and one Run of a --steps-step pipeline (layers of 25, each step after two of the layer before) with
a status entry per step. Then `kubeline ui -A --port 0`, and headless Chromium (the browser tests' harness) loads
`/` until `table.runs tbody tr` exists, and the big run's page until `#graph svg g.node` does: the time from
navigation start to that element's insertion (a MutationObserver installed before the page's own scripts), with
the Navigation Timing figures beside it; --repeat loads each, median and max printed. Also: the creation rates,
the UI's time to listen and to answer `/`, its RSS. --keep leaves the control plane up (its KUBECONFIG printed).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harnesses are the tests' own: one copy for both

from tests.browser.conftest import UI_URL_LINE, new_chrome, ready, start_server  # noqa: E402
from tests.chaos.harness import ControlPlane  # noqa: E402

from kubeline.api.constants import EXPERIMENT_LABEL, GROUP, PIPELINE_LABEL, VERSION  # noqa: E402
from kubeline.api.durations import format_duration  # noqa: E402

RUNS_SELECTOR = "table.runs tbody tr"
GRAPH_SELECTOR = "#graph svg g.node"
NAMESPACES = [f"bench-{i}" for i in range(4)]
EXAMPLES = ["add-subtract-multiply", "condition-random", "exit-handler", "fan-out", "json-file-passing"]
PHASES = ["Succeeded"] * 12 + ["Failed"] * 3 + ["Running"] * 2 + ["Pending", "Cancelled"]
LAYER_WIDTH = 25
#: Set before any page script: when the selector first matches, performance.now() (ms since navigation start).
FIRST_MATCH = """(() => {
  const check = () => {
    if (window.__benchSeen === undefined && document.querySelector(%r)) window.__benchSeen = performance.now();
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true});
  document.addEventListener("DOMContentLoaded", check);
})();"""


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def pipelines() -> dict[str, dict[str, Any]]:
    """The examples' Pipelines by name."""
    found = {}
    for name in EXAMPLES:
        for document in yaml.safe_load_all((ROOT / "examples" / f"{name}.yaml").read_text()):
            if document and document.get("kind") == "Pipeline":
                found[document["metadata"]["name"]] = document
    return found


def status_of(spec: dict[str, Any], arguments: dict[str, Any], phase: str, rng: random.Random) -> dict[str, Any]:
    """A status as the operator writes it for a run of ``spec`` in ``phase``."""
    names = [task["name"] for task in spec["tasks"]]
    started = time.time() - rng.uniform(60, 30 * 86400)
    finished = phase not in ("Running", "Pending")
    took = rng.uniform(5, 3600)
    done = len(names) if phase == "Succeeded" else rng.randrange(len(names)) if finished else len(names) // 2
    tasks: dict[str, Any] = {}
    for index, name in enumerate(names):
        if index < done:
            tasks[name] = {"phase": "Succeeded", "attempts": 1, "pod": f"p-{name}", "node": "kwok-node-0",
                           "startedAt": stamp(started + index), "finishedAt": stamp(started + index + 3),
                           "cached": rng.random() < 0.2, "outputs": {"result": str(rng.randrange(100))}}  # fmt: skip
        elif index == done and phase == "Failed":
            tasks[name] = {"phase": "Failed", "attempts": 3, "message": "exit code 1", "exitCode": 1}
        elif index == done and phase == "Running":
            tasks[name] = {"phase": "Running", "attempts": 1, "pod": f"p-{name}", "startedAt": stamp(started + index)}
    count = {p: sum(1 for t in tasks.values() if t["phase"] == p) for p in ("Succeeded", "Failed", "Running")}
    progress = {"total": len(names), "pending": len(names) - len(tasks), "running": count["Running"],
                "succeeded": count["Succeeded"], "failed": count["Failed"], "skipped": 0,
                "cached": sum(1 for t in tasks.values() if t.get("cached"))}  # fmt: skip
    value = {"Succeeded": "True", "Failed": "False", "Cancelled": "False"}.get(phase, "Unknown")
    status: dict[str, Any] = {
        "phase": phase,
        "pipelineSpec": spec,
        "arguments": arguments,
        "startedAt": stamp(started),
        "progress": progress,
        "progressText": f"{count['Succeeded'] + count['Failed']}/{len(names)}",
        "duration": format_duration(took if finished else time.time() - started),
        "tasks": tasks,
        "metrics": {names[-1]: {"accuracy": round(rng.uniform(0.5, 1), 4), "loss": round(rng.uniform(0, 2), 4)}},
        "conditions": [
            {"type": kind, "status": value, "reason": phase, "message": phase, "lastTransitionTime": stamp(started)}
            for kind in ("Succeeded", "Ready")
        ],
    }
    if finished:
        status["finishedAt"] = stamp(started + took)
        status["message"] = {"Failed": "step failed", "Cancelled": "cancelled"}.get(phase, "done")
    return status


def create_runs(plane: ControlPlane, count: int, threads: int) -> tuple[float, float]:
    """--runs Runs created, then their statuses patched, each with a pool of threads; the two durations."""
    found = pipelines()
    for namespace in NAMESPACES:
        plane.kubectl("create", "namespace", namespace)
        plane.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(list(found.values())))
    rng = random.Random(16)
    plan = []
    for i in range(count):
        pipeline = found[EXAMPLES[i % len(EXAMPLES)]]
        arguments = {p["name"]: p.get("default", 1) for p in pipeline["spec"].get("params", [])}
        experiment = f"exp-{i % 20:02d}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Run",
            "metadata": {"name": f"run-{i:05d}", "labels": {EXPERIMENT_LABEL: experiment,
                                                             PIPELINE_LABEL: pipeline["metadata"]["name"]}},
            "spec": {"pipelineRef": {"name": pipeline["metadata"]["name"]}, "arguments": arguments},
        }  # fmt: skip
        status = status_of(pipeline["spec"], arguments, rng.choice(PHASES), rng)
        plan.append((NAMESPACES[i % len(NAMESPACES)], body, status))
    return timed_pool(plane, plan, threads)


def timed_pool(
    plane: ControlPlane, plan: list[tuple[str, dict[str, Any], dict[str, Any]]], threads: int
) -> tuple[float, float]:
    def create(item: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        namespace, body, _ = item
        plane.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "runs", body)

    def patch(item: tuple[str, dict[str, Any], dict[str, Any]]) -> None:
        namespace, body, status = item
        plane.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "runs", body["metadata"]["name"], {"status": status}
        )

    durations = []
    with ThreadPoolExecutor(threads) as pool:
        for action in (create, patch):
            started = time.monotonic()
            list(pool.map(action, plan))
            durations.append(time.monotonic() - started)
    return durations[0], durations[1]


def big_pipeline(steps: int) -> dict[str, Any]:
    """``steps`` steps in layers of LAYER_WIDTH, each after two steps of the layer before."""
    tasks = []
    for index in range(steps):
        layer, column = divmod(index, LAYER_WIDTH)
        task: dict[str, Any] = {"name": f"l{layer:03d}-s{column:02d}", "component": "work"}
        if layer:
            # the layer before is whole: steps fill the layers in order
            task["after"] = sorted(
                {f"l{layer - 1:03d}-s{column:02d}", f"l{layer - 1:03d}-s{(column + 1) % LAYER_WIDTH:02d}"}
            )
        tasks.append(task)
    component = {"name": "work", "container": {"image": "python:3.11-slim", "command": ["python3", "-c", "pass"]}}
    return {"components": [component], "tasks": tasks}


def create_big_run(plane: ControlPlane, steps: int) -> tuple[str, str]:
    spec = big_pipeline(steps)
    namespace, name = NAMESPACES[0], f"dag-{steps}"
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Run",
        "metadata": {"name": name},
        "spec": {"pipelineSpec": spec},
    }
    plane.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "runs", body)
    started = time.time() - 3600
    tasks: dict[str, Any] = {}
    for index, task in enumerate(spec["tasks"]):
        share = index / steps
        phase = "Succeeded" if share < 0.7 else "Running" if share < 0.75 else "Failed" if share < 0.76 else None
        if phase is not None:
            tasks[task["name"]] = {"phase": phase, "attempts": 1, "pod": f"{name}-{task['name']}",
                                   "node": f"kwok-node-{index % 2}", "startedAt": stamp(started + index),
                                   "cached": index % 7 == 0}  # fmt: skip
            if phase != "Running":
                tasks[task["name"]]["finishedAt"] = stamp(started + index + 2)
    count = {p: sum(1 for t in tasks.values() if t["phase"] == p) for p in ("Succeeded", "Running", "Failed")}
    status = {
        "phase": "Running",
        "pipelineSpec": spec,
        "arguments": {},
        "startedAt": stamp(started),
        "progress": {
            "total": steps,
            "pending": steps - len(tasks),
            "running": count["Running"],
            "succeeded": count["Succeeded"],
            "failed": count["Failed"],
            "skipped": 0,
            "cached": sum(1 for t in tasks.values() if t["cached"]),
        },  # fmt: skip
        "progressText": f"{count['Succeeded'] + count['Failed']}/{steps}",
        "duration": format_duration(3600),
        "tasks": tasks,
    }
    plane.custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, "runs", name, {"status": status})
    return namespace, name


def first_render(driver: Any, url: str, selector: str, repeat: int) -> list[dict[str, float]]:
    """Each load: ms from navigation start to the selector's first match, and Navigation Timing's figures."""
    from selenium.webdriver.support.wait import WebDriverWait

    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})  # each load asks the server
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FIRST_MATCH % selector})
    figures = []
    try:
        for _ in range(repeat):
            driver.get("about:blank")
            driver.get(url)
            seen = WebDriverWait(driver, 120, poll_frequency=0.05).until(
                lambda d: d.execute_script("return window.__benchSeen")
            )
            timing = driver.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return {response: n.responseEnd, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
                " bytes: n.transferSize, matches: document.querySelectorAll(arguments[0]).length};",
                selector,
            )
            figures.append({"seen": float(seen), **timing})
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    return figures


def summary(name: str, figures: list[dict[str, float]]) -> None:
    seen = [f["seen"] for f in figures]
    last = figures[-1]
    print(
        f"{name}: first render median {statistics.median(seen):.0f} ms, max {max(seen):.0f} ms "
        f"(of {len(seen)}); last load: response {last['response']:.0f} ms, DOMContentLoaded {last['dom']:.0f} ms, "
        f"load {last['load']:.0f} ms, {last['bytes'] / 1024:.0f} KiB, {last['matches']:.0f} matches",
        flush=True,
    )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=16, help="concurrent create and patch calls")
    parser.add_argument("--keep", action="store_true", help="leave the control plane up")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kubeline-ui-bench-"))
    started = time.monotonic()
    plane = ControlPlane(work / "cluster")
    print(f"control plane up, CRDs established: {time.monotonic() - started:.1f} s", flush=True)
    try:
        created, patched = create_runs(plane, args.runs, args.threads)
        print(f"{args.runs} Runs created in {created:.1f} s ({args.runs / created:.0f}/s), statuses patched in "
              f"{patched:.1f} s ({args.runs / patched:.0f}/s), {args.threads} threads", flush=True)  # fmt: skip
        namespace, name = create_big_run(plane, args.steps)
        print(f"run {namespace}/{name}: {args.steps} steps", flush=True)
        env = {"KUBECONFIG": str(plane.kubeconfig)}
        argv = [sys.executable, "-m", "kubeline", "ui", "-A", "--port", "0"]
        launched = time.monotonic()
        try:
            ui = start_server(argv, UI_URL_LINE, work / "ui.log", env, timeout=300)
        except AssertionError as error:
            print(f"the UI did not start: {error}", flush=True)
            return 1
        answered = time.monotonic() - launched
        print(f"kubeline ui: answers / {answered:.2f} s after its start, RSS {rss_mib(ui.process.pid):.0f} MiB",
              flush=True)  # fmt: skip
        try:
            driver = new_chrome(work / "chrome-profile")
            try:
                summary(f"runs list ({args.runs} Runs)", first_render(driver, ui.url, RUNS_SELECTOR, args.repeat))
                run_url = f"{ui.url}runs/{namespace}/{name}"
                summary(f"run page ({args.steps} steps)", first_render(driver, run_url, GRAPH_SELECTOR, args.repeat))
            finally:
                driver.quit()
            print(f"kubeline ui RSS after the loads: {rss_mib(ui.process.pid):.0f} MiB; still answering: "
                  f"{ready(ui.url)}", flush=True)  # fmt: skip
        finally:
            ui.stop()
    finally:
        if args.keep:
            print(f"kept: export KUBECONFIG={plane.kubeconfig}  (stop: hack/cluster down --state-dir {plane.state})")
        else:
            plane.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
