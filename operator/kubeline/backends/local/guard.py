"""Talking to the run's launcher (``backends/stepguard.py``, run as a script), which forks a guard for every step.

Linux only (prctl, /proc): elsewhere ``processes`` starts a step as a process group of its own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

#: A script, not imported: the launcher runs as ``python -I -S stepguard.py`` (isolated, no site packages).
_STEPGUARD = Path(__file__).parents[1] / "stepguard.py"


class GuardedStep:
    """A step's guard, forked by the run's launcher: what the runner needs of a ``Popen``, and why it could not start."""

    def __init__(self, on_exit: Callable[[], None]):
        self.pid = 0
        self.returncode: int | None = None
        self.start_error = ""
        self.on_exit = on_exit
        self.started, self.done = threading.Event(), threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self.done.wait(timeout):
            raise subprocess.TimeoutExpired("step guard", timeout or 0)
        assert self.returncode is not None  # set before `done`
        return self.returncode

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def finish(self, returncode: int, error: str = "") -> None:
        self.returncode, self.start_error = returncode, self.start_error or error
        self.started.set()
        self.done.set()
        self.on_exit()


class Launcher:
    """The run's launcher process (see ``stepguard``), which forks a guard for every step it is asked to start."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_STEPGUARD), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # Ctrl-C is kubeline's to handle
        self.steps: dict[int, GuardedStep] = {}
        self.next_id = 0
        threading.Thread(target=self._read_reports, daemon=True).start()

    def start(
        self, argv: list[str], env: dict[str, str], cwd: Path, log: Path, on_exit: Callable[[], None]
    ) -> GuardedStep:
        self.next_id += 1
        step = self.steps[self.next_id] = GuardedStep(on_exit)
        request = {"id": self.next_id, "argv": argv, "env": env, "cwd": str(cwd), "log": str(log)}
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
        except OSError as error:
            del self.steps[self.next_id]
            raise OSError(f"the step launcher is gone ({error})") from None
        if not step.started.wait(30):
            raise OSError("the step launcher did not answer within 30 s")
        return step

    def _read_reports(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            report = json.loads(line)
            step = self.steps.get(report["id"])
            if step is None:
                continue
            if "pid" in report:
                step.pid = report["pid"]
                step.started.set()
            elif "error" in report:
                step.start_error = report["error"]
            elif "status" in report:
                del self.steps[report["id"]]
                step.finish(os.waitstatus_to_exitcode(report["status"]))
        for step in list(self.steps.values()):  # the launcher died: its guards took their steps along
            step.finish(-signal.SIGKILL, "the step launcher stopped, and the step's processes with it")
        self.steps.clear()

    def close(self, timeout: float) -> None:
        """No more steps: the launcher kills what is left, then exits."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
