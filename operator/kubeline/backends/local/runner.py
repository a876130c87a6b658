"""The runner's loop: ask the engine what to do, do it, wait for a step to end or the next wake-up, repeat."""

from __future__ import annotations

import os
import stat
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeline.backends.local.attempts import StartProblem, make_attempt_dir, put_objects, step_command, step_outputs
from kubeline.backends.local.cache import StoreCache, warn_on_stderr
from kubeline.backends.local.files import create_run_dir, kubeline_home, read_capped
from kubeline.backends.local.pod import LOCAL_NAMESPACE, ClaimFolders
from kubeline.backends.local.processes import StepProcesses
from kubeline.engine import caching, metrics, retry
from kubeline.engine.metrics import RunMetrics
from kubeline.engine.outputs import OutputError
from kubeline.engine.plan import Plan
from kubeline.engine.run import decide
from kubeline.engine.state import Decision, RunState, StartStep, StepState
from kubeline.engine.volumes import claim_name
from kubeline.store import ObjectStore, StoreError, log_key
from kubeline.store.layout import LOCAL_LOG_NAMESPACE
from kubeline.store.local import LocalStore
from kubeline.store.objects import ArtifactError

#: Bytes of a step's log read for the tail shown when it fails: a 20 MB line costs no more than a short one.
LOG_TAIL_BYTES = 8192
#: Steps a decision proposes beyond the free process slots: they start as slots free up, with no new decision
#: in between (a decision walks the whole run: one per finished step made a 10,000-step fan-out quadratic).
START_AHEAD = 256
#: Seconds after which the runner decides again while steps keep ending, so the run's document and progress
#: (made from the last decision) are never much older than this; but at least DECISION_COST_SHARE times what
#: the last decision took, so deciding (0.2 s or more for 10,000 steps) never takes most of the time.
DECISION_FRESH_FOR = 1.0
DECISION_COST_SHARE = 10


@dataclass
class RunResult:
    name: str
    directory: Path
    decision: Decision
    state: RunState
    logs: dict[str, Path] = field(default_factory=dict)  # step id -> log of its latest attempt
    metrics: RunMetrics = field(default_factory=RunMetrics)  # what the steps reported (KFP's mlpipeline-metrics)

    def log_tail(self, step_id: str, lines: int = 20) -> str:
        """The last ``lines`` lines of the step's log, from at most its last LOG_TAIL_BYTES bytes."""
        try:
            data, size = read_capped(self.logs[step_id], LOG_TAIL_BYTES, tail=True)
        except (KeyError, OSError):
            return ""
        kept = data.decode(errors="replace").rstrip("\n").splitlines()[-lines:]
        if kept and size > len(data) and len(kept) == data.count(b"\n") + 1:
            kept[0] = "…" + kept[0]  # the first line began before the bytes read
        return "\n".join(kept)


def local_identity(run_name: str) -> dict[str, str]:
    """What {{run.name}}, {{run.namespace}} and {{run.uid}} stand for in a local run (its name is its uid)."""
    return {"name": run_name, "namespace": LOCAL_NAMESPACE, "uid": run_name}


class LocalRunner:
    """Runs a plan's steps as local processes until the run ends.

    ``run`` must be called from a thread that lives until it returns (the parent-death signal that ties
    the run's launcher, and so every step's guard, to kubeline follows the thread that started it). Whatever ends ``run`` (the run's
    end, an exception, a signal handler raising), every step's process tree is killed before it returns.

    Artifacts and step logs go to ``store``: by default the cache's store, or, with no cache, a local
    store in the run's own folder. Claims other than the run's own volumes are folders in ``shared_volumes``
    ($KUBELINE_HOME/volumes by default), shared by the runs that name them."""

    def __init__(
        self,
        plan: Plan,
        params: dict[str, Any],
        run_name: str,
        *,
        run_dir: Path | None = None,
        store: ObjectStore | None = None,
        cache: StoreCache | None = None,
        on_change: Callable[[Decision, RunState], None] | None = None,
        max_parallel: int | None = None,
        warn: Callable[[str], None] = warn_on_stderr,
        shared_volumes: Path | None = None,
        reused: dict[str, StepState] | None = None,
        run_again: Sequence[str] = (),
    ):
        if max_parallel is not None and max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, not {max_parallel}")
        self.plan, self.params, self.run_name = plan, params, run_name
        #: Processes at once on this machine; steps beyond it wait (the engine proposes them again).
        self.max_parallel = max_parallel or default_parallelism()
        self.run_dir = run_dir or create_run_dir(run_name)
        self.store = store or (cache.store if cache else LocalStore(self.run_dir / "store"))
        self.cache = cache
        self.warn = warn
        self.on_change = on_change
        #: A retry's steps taken from the run it retries, as they ended there; what it was asked to run again.
        self.state = RunState(identity=local_identity(run_name), steps=dict(reused or {}))
        self.runs_again = retry.Downstream(plan, run_again)
        self.processes = StepProcesses()
        self.waiting: deque[StartStep] = deque()  # what the last decision proposed and is not started yet
        self.logs: dict[str, Path] = {}
        run_claims = {claim_name(run_name, v) for v in plan.spec.volumes or [] if v.claim_name is None}
        self.claims = ClaimFolders(self.run_dir, shared_volumes or kubeline_home() / "volumes", run_claims)
        self._warned: set[tuple[str, str]] = set()  # (task, warning): a loop's steps warn once

    def cancel(self) -> None:
        self.state.cancelled = True

    def run(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state.started_at = time.time()
        try:
            return self._loop()
        finally:
            self.processes.close()

    def _loop(self) -> RunResult:
        while True:
            now = time.time()
            room = self.max_parallel - len(self.processes.running)
            decision = decide(self.plan, self.params, self.state, now, max_start=max(0, room) + START_AHEAD)
            deciding_took = time.time() - now
            for stop in decision.stop:
                self.processes.stop(stop.id, stop.reason, now)
            self.waiting = deque(decision.start)
            acted = self._start_waiting(now)
            if self.on_change:
                self.on_change(decision, self.state)
            if decision.finished and not self.processes.running:
                found = metrics.of_run(self.plan, decision, self.state)
                return RunResult(self.run_name, self.run_dir, decision, self.state, self.logs, found)
            if acted:
                continue  # steps ended at once (cache hits, steps that could not start): decide again now
            self._await(decision, now + max(DECISION_FRESH_FOR, DECISION_COST_SHARE * deciding_took))

    def _await(self, decision: Decision, stale_at: float) -> None:
        """Collects steps as they end and starts the decision's waiting steps in their place, until a new
        decision is needed: a step did not succeed (or ended at once), the run was cancelled, the wake-up
        time came, the decision is stale (at ``stale_at``), or no process runs or waits."""
        wake_at = min(decision.wake_at or float("inf"), stale_at)
        while True:
            ended = list(self.processes.finished_steps(wake_at))
            for step_id in ended:
                self._collect(step_id)
            all_succeeded = all(self.state.steps[step_id].phase == "Succeeded" for step_id in ended)
            now = time.time()
            if not ended or not all_succeeded or now >= wake_at or self.state.cancelled or not self.waiting:
                return
            if self._start_waiting(now) or not self.processes.running:
                return

    # -- acting on decisions --------------------------------------------------------------------------

    def _start_waiting(self, now: float) -> bool:
        """Starts waiting steps while there are free process slots; True when one ended at once."""
        changed = False
        while self.waiting and len(self.processes.running) < self.max_parallel:
            changed = self._start(self.waiting.popleft(), now) or changed
        return changed

    def _start(self, start: StartStep, now: float) -> bool:
        """Serves the step from the cache or starts its process; True when it ended at once (a cache hit, or
        a step that could not start)."""
        if start.id in self.processes.running:
            return False
        asked = self.runs_again(start.id)  # a retry runs these and what follows them, whatever the cache holds
        cached = self.cache.lookup(start, now) if self.cache is not None and not asked else None
        if cached is not None:
            outputs, large_values = cached
            self.state.steps[start.id] = caching.hit(start, outputs, now, stored_values=large_values)
            return True
        self._spawn(start, now)
        return start.id not in self.processes.running

    def _spawn(self, start: StartStep, now: float) -> None:
        try:
            attempt_dir = make_attempt_dir(self.run_dir, start)
        except (OSError, ValueError) as error:
            return self._fail_to_start(start, now, f"cannot make the step's folder: {error}")
        log_path = attempt_dir / "log"
        self.logs[start.id] = log_path
        try:
            argv, env, pod = step_command(start, attempt_dir, self.store, self.run_name, self.claims)
        except StartProblem as problem:
            return self._fail_to_start(start, now, str(problem), log_path, problem.retryable)
        for warning in pod.warnings:
            if (start.task, warning) not in self._warned:
                self._warned.add((start.task, warning))
                self.warn(f"step {start.id}: {warning}")
        preface = "".join(f"kubeline (local): {line}\n" for line in pod.notes + pod.warnings)
        try:
            self.processes.launch(start, argv, env, attempt_dir, log_path, preface)
        except (OSError, ValueError) as error:
            return self._fail_to_start(start, now, f"cannot start {argv[0]}: {error}", log_path)
        self.state.steps[start.id] = StepState(
            "Running", attempt=start.attempt, started_at=now, cache_key=start.cache_key
        )

    def _fail_to_start(
        self, start: StartStep, now: float, message: str, log_path: Path | None = None, retryable: bool = False
    ) -> None:
        if log_path is not None:
            try:
                with open(log_path, "ab") as log:
                    log.write(message.encode(errors="replace"))
            except OSError:
                pass  # the message still reaches the step's state
            self._store_log(start, log_path)
        self.state.steps[start.id] = StepState(
            "Failed",
            attempt=start.attempt,
            started_at=now,
            finished_at=now,
            message=message,
            cache_key=start.cache_key,
            retryable=retryable,
        )

    # -- a step that ended ----------------------------------------------------------------------------

    def _collect(self, step_id: str) -> None:
        process = self.processes.running.pop(step_id)
        now = time.time()
        step = self.state.steps[step_id]
        step.finished_at = now
        step.exit_code = process.handle.returncode
        self._store_log(process.start, process.log_path)
        if process.start_error:
            step.phase, step.message, step.retryable = "Failed", process.start_error, False
            return
        if process.stop_reason is not None:
            step.phase, step.message = "Failed", process.stop_reason
            return
        if process.handle.returncode != 0:
            step.phase, step.message = "Failed", f"exit code {process.handle.returncode}"
            return
        try:
            outputs, large_values = step_outputs(process.start, process.attempt_dir)
            outputs = put_objects(process.start, outputs, large_values, self.store)
        except (OutputError, ArtifactError) as error:
            step.phase, step.message, step.retryable = "Failed", str(error), False
            return
        except StoreError as error:  # the store failed: another attempt may succeed
            step.phase, step.message = "Failed", str(error)
            return
        step.phase, step.outputs, step.stored_values = "Succeeded", outputs, large_values
        if self.cache:
            self.cache.store_result(process.start, outputs, large_values, now)

    def _store_log(self, start: StartStep, log_path: Path) -> None:
        """The step's log into the store, where `kubeline logs` reads it; a failure is only a warning."""
        key = log_key(LOCAL_LOG_NAMESPACE, self.run_name, start.id, start.attempt)
        try:
            mode = os.lstat(log_path).st_mode
            if not stat.S_ISREG(mode):  # a step may replace its log with a FIFO or a link: never read through
                raise StoreError(f"the step replaced its log {log_path} with something that is not a file")
            self.store.put_file(key, log_path)
        except (OSError, StoreError) as error:
            self.warn(f"the log of step {start.id} was not stored: {error}")


def default_parallelism() -> int:
    """Steps are often waiting on I/O, so allow more processes than cores, but not a fork bomb."""
    return max(4, 2 * (os.cpu_count() or 1))
