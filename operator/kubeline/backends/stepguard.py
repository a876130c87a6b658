"""Step guards: each step's command runs under a guard that makes sure no process the step started outlives it.

Why a guard process per step rather than process groups alone:

- Process groups miss processes that leave them (``setsid sleep 300 &``, double forks, daemons), and a
  parent-death signal (PR_SET_PDEATHSIG) reaches only the direct child, not its children. So the guard
  makes itself a *child subreaper* (PR_SET_CHILD_SUBREAPER): every process of the step that is orphaned,
  however it escaped its group or session, is re-parented to the guard instead of to init. The guard's
  descendants are therefore exactly the step's processes, and "kill every descendant until I have no
  children" leaves nothing behind.
- Making kubeline itself the subreaper would lose that attribution (with steps side by side, an orphan
  re-parented to kubeline could belong to any of them), and would make kubeline adopt and kill
  processes of whatever program embeds the runner. A cgroup would be exact too, but needs a delegated
  cgroup v2 subtree, which ordinary users and containers often lack.

Why guards are forked by a *launcher*: starting a Python process per step costs about 15 ms (the
interpreter and ctypes), on every hand-off of a chain. So the runner starts one launcher per run
(``python -I -S stepguard.py PARENT``, single-threaded, so forking it is safe) and the launcher forks a
guard per step in about a millisecond. Death travels down the chain: the launcher asks for SIGKILL when
kubeline dies, and each guard asks for KILL_NOW when the launcher dies (PR_SET_PDEATHSIG), so a crashed
or SIGKILLed kubeline still takes every step's processes with it.

The launcher is a child subreaper too: should a step kill its own guard, the step's processes come to
the launcher, which kills every child of its that is not a guard.

Protocol, one JSON object per line. The runner writes requests to the launcher's standard input:
``{"id": N, "argv": [...], "env": {...}, "cwd": DIR, "log": FILE}``; the launcher writes reports to its
standard output: ``{"id": N, "pid": GUARD}`` once the guard exists, ``{"id": N, "error": TEXT}`` when
the command cannot be started, ``{"id": N, "status": WAITSTATUS}`` when the guard has ended (with the
command's exit code, or killed by the same signal). The guard leads a session of its own, so SIGTERM to
its process group is the polite stop, left to the command; KILL_NOW to the guard means "kill the step's
whole tree now". When the runner closes the launcher's input, the launcher kills what is left, waits until it is gone, and exits.

Only the standard library is used: ``-I -S`` keeps the step's PYTHONPATH and site packages out of it.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time

TYPE_CHECKING = False  # typing takes ~20 ms to import: too long for the launcher, fine for type checkers
if TYPE_CHECKING:
    from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_NOW = signal.SIGUSR1
_MESSAGE_LIMIT = 2000  # a report stays under PIPE_BUF, so lines from the launcher and its guards never interleave
_killing = False


class _KillNow(Exception):
    pass


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _report(fd: int, **fields: object) -> None:
    os.write(fd, (json.dumps(fields) + "\n").encode())


# -- the guard: one step ----------------------------------------------------------------------------------


def _on_kill_now(*_: object) -> None:
    if not _killing:
        raise _KillNow


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _descendants(root: int) -> list[int]:
    children, found, todo = _children_map(), [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants() -> None:
    """SIGKILL every descendant until the guard has no child left: as a subreaper, it then has none at all."""
    global _killing
    _killing = True
    while True:
        try:  # no child left means no descendant either (orphans come here): the usual case needs no /proc scan
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        for pid in _descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _exit_like(status: int | None) -> None:
    """Leave as the command left: its exit code, or death by the same signal."""
    if status is None:
        os._exit(128 + signal.SIGKILL)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        import resource  # only on this rare path

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))


def guard(request: dict[str, Any], launcher: int, reports: int) -> None:
    """In a child forked by the launcher: run the step's command, then kill whatever it left; never returns."""
    signal.signal(KILL_NOW, _on_kill_now)
    signal.signal(signal.SIGTERM, lambda *_: None)  # the polite stop is for the command (same group)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    status = None
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, KILL_NOW)
        if os.getppid() != launcher:  # the launcher died before the line above
            raise _KillNow
        os.setsid()
        try:
            log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            os.chdir(request["cwd"])
            # posix_spawnp, not subprocess: the command inherits fds 0-2 only (the others are close-on-exec)
            child = os.posix_spawnp(request["argv"][0], request["argv"], request["env"])
        except (OSError, ValueError, IndexError, KeyError, TypeError) as error:
            program = (
                request.get("argv", ["the command"])[0] if isinstance(request.get("argv"), list) else "the command"
            )
            _report(reports, id=request.get("id"), error=f"cannot start {program}: {error}"[:_MESSAGE_LIMIT])
            os._exit(127)
        while status is None:
            pid, wait_status = os.waitpid(-1, 0)  # reaps orphans re-parented here, too
            if pid == child:
                status = wait_status
    except _KillNow:
        pass
    kill_descendants()
    _exit_like(status)


# -- the launcher: one per run ----------------------------------------------------------------------------


def serve(parent: int) -> None:
    """Fork a guard per request; report each guard's pid and, once it has ended, its wait status."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # kubeline died before the line above
        os._exit(1)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # the backstop: what a killed guard leaves comes here, and is killed
    reports = os.dup(1)  # close-on-exec: guards report on it, their commands never see it
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # its wake-up byte ends the select below
    guards: dict[int, object] = {}  # guard pid -> request id
    pending = b""
    open_input = True
    while open_input or guards:
        if open_input:
            ready = select.select([requests.fileno(), wake_read], [], [])[0]
        else:
            ready = select.select([wake_read], [], [], 0.1)[0]
        if wake_read in ready:
            os.read(wake_read, 4096)
        _reap(guards, reports)
        if open_input and requests.fileno() in ready:
            chunk = requests.read(1 << 16)
            if not chunk:  # the runner is done (or gone): nothing may outlive it
                open_input = False
                for pid in guards:
                    _kill(pid, KILL_NOW)
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _start(json.loads(line), guards, reports)
    kill_descendants()  # what killed guards left and is still dying: the launcher ends only after it has gone
    os._exit(0)


def _start(request: dict[str, Any], guards: dict[int, object], reports: int) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            guard(request, os.getppid(), reports)
        finally:
            os._exit(127)
    guards[pid] = request.get("id")
    _report(reports, id=request.get("id"), pid=pid)


def _reap(guards: dict[int, object], reports: int) -> None:
    """Report every guard that ended; when one was killed (a step may kill its own guard), its step's
    processes were orphaned to the launcher: kill every child that is not a guard, with its tree."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in guards:
            request = guards.pop(pid)
            if os.WIFSIGNALED(status):  # before the report: the runner hears of the end once the orphans are killed
                _kill_adopted(guards)
            _report(reports, id=request, status=status)


def _kill_adopted(guards: dict[int, object]) -> None:
    children = _children_map().get(os.getpid(), [])
    for orphan in children:
        if orphan not in guards:
            for pid in [orphan, *_descendants(orphan)]:
                _kill(pid, signal.SIGKILL)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    serve(int(sys.argv[1]))
