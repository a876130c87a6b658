"""The local runner: every step is a process on this machine, independent steps run side by side.

The container image is not used: the component's command runs on the host, with ``python``/``python3``
meaning the interpreter running kubeline (so the steps see the same installed packages). Outputs are
files under the run's directory; artifacts pass between steps as paths; results are cached on disk
under the same keys and staleness rules as the cluster's CacheEntry resources.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kubeline.engine.container import render_container
from kubeline.engine.outputs import OutputError, check_values
from kubeline.engine.plan import Plan
from kubeline.engine.run import Decision, RunState, StartStep, StepState, decide
from kubeline.engine.stepid import folder_name

_KILL_GRACE = 5.0


def kubeline_home() -> Path:
    return Path(os.environ.get("KUBELINE_HOME") or Path.home() / ".kubeline")


class LocalCache:
    """Step results on disk, one directory per cache key: ``entry.json`` and copies of artifacts."""

    def __init__(self, root: Path):
        self.root = root

    def lookup(self, start: StartStep, now: float) -> dict[str, str] | None:
        if not start.caching_enabled or start.max_staleness == 0:
            return None
        entry_file = self.root / start.cache_key / "entry.json"
        try:
            entry = json.loads(entry_file.read_text())
        except (OSError, ValueError):
            return None
        if start.max_staleness is not None and now - entry["createdAt"] > start.max_staleness:
            return None
        outputs = dict(entry["outputs"])
        for name in entry.get("artifacts", []):
            outputs[name] = str(self.root / start.cache_key / "artifacts" / name)
        return outputs

    def store(self, start: StartStep, outputs: dict[str, str], now: float) -> None:
        if not start.caching_enabled:
            return
        target = self.root / start.cache_key
        staging = self.root / f".{start.cache_key}.{os.getpid()}.{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        artifacts = [o.name for o in start.component.outputs or [] if o.type == "artifact"]
        values = {k: v for k, v in outputs.items() if k not in artifacts}
        for name in artifacts:
            source = Path(outputs[name])
            destination = staging / "artifacts" / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, destination)
            else:
                shutil.copy2(source, destination)
        staging.mkdir(parents=True, exist_ok=True)
        entry = {"key": start.cache_key, "component": start.component.name, "createdAt": now,
                 "outputs": values, "artifacts": artifacts}
        (staging / "entry.json").write_text(json.dumps(entry, indent=1))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)


@dataclass
class _Process:
    start: StartStep
    popen: subprocess.Popen[bytes]
    attempt_dir: Path
    log_path: Path
    stop_reason: str | None = None
    kill_at: float | None = None


@dataclass
class RunResult:
    name: str
    directory: Path
    decision: Decision
    state: RunState
    logs: dict[str, Path] = field(default_factory=dict)  # step id -> log of its latest attempt

    def log_tail(self, step_id: str, lines: int = 20) -> str:
        try:
            text = self.logs[step_id].read_text(errors="replace")
        except (KeyError, OSError):
            return ""
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class LocalRunner:
    def __init__(self, plan: Plan, params: dict, run_name: str, *, run_dir: Path | None = None,
                 cache: LocalCache | None = None, on_change: Callable[[Decision, RunState], None] | None = None,
                 max_parallel: int | None = None):
        self.plan, self.params, self.run_name = plan, params, run_name
        #: Processes at once on this machine; steps beyond it wait (the engine proposes them again).
        self.max_parallel = max_parallel or default_parallelism()
        self.run_dir = run_dir or kubeline_home() / "runs" / run_name
        self.cache = cache
        self.on_change = on_change
        self.state = RunState(identity={"name": run_name, "namespace": "local", "uid": run_name})
        self.processes: dict[str, _Process] = {}
        self.logs: dict[str, Path] = {}
        self.finished: queue.Queue[str] = queue.Queue()

    def cancel(self) -> None:
        self.state.cancelled = True

    def run(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state.started_at = time.time()
        while True:
            now = time.time()
            decision = decide(self.plan, self.params, self.state, now)
            acted = self._act(decision, now)
            if self.on_change:
                self.on_change(decision, self.state)
            if decision.finished and not self.processes:
                return RunResult(self.run_name, self.run_dir, decision, self.state, self.logs)
            if acted:
                continue  # cache hits changed the state: decide again at once
            self._wait(decision.wake_at)

    # -- acting on decisions --------------------------------------------------------------------------

    def _act(self, decision: Decision, now: float) -> bool:
        changed = False
        for stop in decision.stop:
            process = self.processes.get(stop.id)
            if process is not None and process.stop_reason is None:
                process.stop_reason = stop.reason
                process.kill_at = now + _KILL_GRACE
                _signal(process.popen, signal.SIGTERM)
        for start in decision.start:
            if start.id in self.processes:
                continue
            cached = self.cache.lookup(start, now) if self.cache else None
            if cached is None and len(self.processes) >= self.max_parallel:
                continue
            if cached is not None:
                self.state.steps[start.id] = StepState(
                    "Succeeded", attempt=start.attempt, started_at=now, finished_at=now, outputs=cached,
                    cached=True, message="served from the cache", cache_key=start.cache_key,
                )
                changed = True
                continue
            self._spawn(start, now)
        return changed

    def _spawn(self, start: StartStep, now: float) -> None:
        attempt_dir = self.run_dir / "steps" / folder_name(start.id) / f"attempt-{start.attempt}"
        shutil.rmtree(attempt_dir, ignore_errors=True)
        (attempt_dir / "outputs").mkdir(parents=True)

        def input_path(name: str) -> str:
            if name in start.artifacts:
                return start.artifacts[name]
            path = attempt_dir / "inputs" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(start.inputs.get(name, ""))
            return str(path)

        def output_path(name: str) -> str:
            return str(attempt_dir / "outputs" / name)

        rendered = render_container(start, input_path, output_path)
        argv = [_host_program(part) if i == 0 else part for i, part in enumerate(rendered.command + rendered.args)]
        log_path = attempt_dir / "log"
        self.logs[start.id] = log_path
        env = {**os.environ, **rendered.env, "KUBELINE_STEP": start.id, "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            try:
                popen = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    cwd=attempt_dir, start_new_session=True,
                )
            except (OSError, IndexError) as error:
                message = f"cannot start {argv[0] if argv else 'an empty command'}: {error}"
                log.write(message.encode())
                self.state.steps[start.id] = StepState(
                    "Failed", attempt=start.attempt, started_at=now, finished_at=now, message=message,
                    cache_key=start.cache_key, retryable=False,
                )
                return
        self.processes[start.id] = _Process(start, popen, attempt_dir, log_path)
        self.state.steps[start.id] = StepState(
            "Running", attempt=start.attempt, started_at=now, cache_key=start.cache_key
        )
        threading.Thread(target=self._await, args=(start.id, popen), daemon=True).start()

    def _await(self, step_id: str, popen: subprocess.Popen[bytes]) -> None:
        popen.wait()
        self.finished.put(step_id)

    def _wait(self, wake_at: float | None) -> None:
        deadline = wake_at if wake_at is not None else time.time() + 3600
        kill_times = [p.kill_at for p in self.processes.values() if p.kill_at]
        if kill_times:
            deadline = min(deadline, min(kill_times))
        timeout = max(0.0, min(deadline - time.time(), 1.0))
        try:
            step_id = self.finished.get(timeout=timeout)
        except queue.Empty:
            self._escalate()
            return
        self._collect(step_id)
        while True:  # take every step that finished meanwhile, so one decision covers them all
            try:
                self._collect(self.finished.get_nowait())
            except queue.Empty:
                return

    def _escalate(self) -> None:
        now = time.time()
        for process in self.processes.values():
            if process.kill_at is not None and now >= process.kill_at:
                _signal(process.popen, signal.SIGKILL)

    def _collect(self, step_id: str) -> None:
        process = self.processes.pop(step_id)
        now = time.time()
        step = self.state.steps[step_id]
        step.finished_at = now
        step.exit_code = process.popen.returncode
        if process.stop_reason is not None:
            step.phase, step.message = "Failed", process.stop_reason
            return
        if process.popen.returncode != 0:
            step.phase, step.message = "Failed", f"exit code {process.popen.returncode}"
            return
        try:
            outputs = self._outputs(process)
        except OutputError as error:
            step.phase, step.message, step.retryable = "Failed", str(error), False
            return
        step.phase, step.outputs = "Succeeded", outputs
        if self.cache:
            self.cache.store(process.start, outputs, now)

    def _outputs(self, process: _Process) -> dict[str, str]:
        component = process.start.component
        directory = process.attempt_dir / "outputs"
        values, artifacts = {}, {}
        for output in component.outputs or []:
            path = directory / output.name
            if output.type == "artifact":
                if not path.exists():
                    raise OutputError(f"the step wrote no artifact {output.name!r} (to {{{{outputs.{output.name}.path}}}})")
                artifacts[output.name] = str(path)
            elif path.is_file():
                values[output.name] = path.read_text(errors="replace")
        return {**check_values(component, values), **artifacts}


def default_parallelism() -> int:
    """Steps are often waiting on I/O, so allow more processes than cores, but not a fork bomb."""
    return max(4, 2 * (os.cpu_count() or 1))


def _host_program(program: str) -> str:
    """``python``/``python3`` in a step means this interpreter: the host may have no ``python``."""
    return sys.executable if program in ("python", "python3") else program


def _signal(popen: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(popen.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
