"""A run's step processes: started under a guard (or, without one, as a process group), stopped, killed, awaited.

Stopping a step is SIGTERM to its group, then after a grace period its whole tree killed by its guard,
then, should the guard not answer, SIGKILL to the guard's group (the launcher kills what that orphans).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeline.backends.local.guard import GuardedStep, Launcher
from kubeline.engine.state import StartStep

#: Seconds a stopped step has to clean up before its tree is killed, and the guards to report a kill done.
_KILL_GRACE = 5.0
#: Seconds a guard has to end its step's tree after being told to, before it is killed itself.
_GUARD_ANSWER = 2.0
#: The guard needs Linux (prctl, /proc); elsewhere a step is one process group, killed as a group.
_GUARDED = sys.platform.startswith("linux")
_KILL_NOW = signal.SIGUSR1  # the guard's "kill the step's whole tree now"


@dataclass
class StepProcess:
    """A running step: its process (or guard), its folder, and how far stopping it has gone."""

    start: StartStep
    handle: Any  # a GuardedStep, or a Popen where there is no guard
    attempt_dir: Path
    log_path: Path
    stop_reason: str | None = None
    kill_at: float | None = None  # when to send the next, harder signal
    killed_at: float | None = None

    @property
    def start_error(self) -> str:
        return getattr(self.handle, "start_error", "")

    def stop_politely(self) -> None:
        """SIGTERM to the step's process group: the command may clean up until the grace period ends."""
        if self.handle.poll() is None:
            try:
                os.killpg(self.handle.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass

    def kill_now(self) -> None:
        """The guard kills the step's whole process tree; without a guard, the process group dies."""
        if self.handle.poll() is not None:
            return
        try:
            if isinstance(self.handle, GuardedStep):
                self.handle.send_signal(_KILL_NOW)
            else:
                os.killpg(self.handle.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def kill_hard(self) -> None:
        """SIGKILL to the guard's whole group, waking it first should it be stopped."""
        for signum in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(self.handle.pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


class StepProcesses:
    """The run's running steps by id, and the queue on which each reports its end."""

    def __init__(self) -> None:
        self.running: dict[str, StepProcess] = {}
        self.finished: queue.Queue[str] = queue.Queue()
        self.launcher: Launcher | None = None

    def launch(
        self, start: StartStep, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, preface: str = ""
    ) -> None:
        """Start the step under a guard from the run's launcher; where there is none, as a process group.
        ``preface`` opens the step's log (what kubeline says about the step, before the step's own output)."""
        with open(log_path, "xb") as log:
            log.write(preface.encode(errors="replace"))
        if _GUARDED:
            if self.launcher is None or self.launcher.process.poll() is not None:
                self.launcher = Launcher()
            handle: Any = self.launcher.start(argv, env, cwd, log_path, lambda: self.finished.put(start.id))
        else:
            handle = _start_group(argv, env, cwd, log_path, lambda: self.finished.put(start.id))
        self.running[start.id] = StepProcess(start, handle, cwd, log_path)

    def stop(self, step_id: str, reason: str, now: float) -> None:
        """A polite stop now, a kill once the grace period is over; a step already stopping keeps its reason."""
        process = self.running.get(step_id)
        if process is not None and process.stop_reason is None:
            process.stop_reason = reason
            process.kill_at = now + _KILL_GRACE
            process.stop_politely()

    def finished_steps(self, wake_at: float | None) -> Iterator[str]:
        """The first step to end before ``wake_at`` (a second at most, or the next kill), then every step that
        ended meanwhile, so one decision covers them all. When none ends in time, overdue stops escalate."""
        deadline = wake_at if wake_at is not None else time.time() + 3600
        kill_times = [p.kill_at for p in self.running.values() if p.kill_at]
        if kill_times:
            deadline = min(deadline, min(kill_times))
        timeout = max(0.0, min(deadline - time.time(), 1.0))
        try:
            step_id = self.finished.get(timeout=timeout)
        except queue.Empty:
            self._escalate()
            return
        while True:
            yield step_id
            try:
                step_id = self.finished.get_nowait()
            except queue.Empty:
                return

    def _escalate(self) -> None:
        """Past the grace period a step is killed; a guard that still has not ended (a step stopped it with
        SIGSTOP, say) is SIGKILLed with its group, and the launcher kills whatever that orphans."""
        now = time.time()
        for process in self.running.values():
            if process.kill_at is None or now < process.kill_at:
                continue
            if process.killed_at is None:
                process.kill_now()
                process.killed_at, process.kill_at = now, now + _GUARD_ANSWER
            else:
                process.kill_hard()
                process.kill_at = None  # nothing more to send: its end is awaited like any other

    def close(self) -> None:
        """Kill every running step's whole tree, wait (boundedly) for the guards to report it done, end the launcher."""
        for process in self.running.values():
            process.kill_now()
        deadline = time.time() + _KILL_GRACE
        for process in self.running.values():
            try:
                process.handle.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:  # a guard that does not answer
                try:
                    os.killpg(process.handle.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.launcher is not None:
            self.launcher.close(_KILL_GRACE)


def _start_group(
    argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, on_exit: Callable[[], None]
) -> subprocess.Popen[bytes]:
    """Without a guard: the step leads a process group of its own, and a thread reports its end."""
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    def report_when_done() -> None:
        popen.wait()
        on_exit()

    threading.Thread(target=report_when_done, daemon=True).start()
    return popen
