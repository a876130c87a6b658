"""The step guard: runs one step's command and makes sure no process the step started outlives it.

The local runner starts every step as ``python -I -S stepguard.py PARENT STATUS_FD COMMAND...``, in a
session of its own. Why a guard process per step rather than process groups alone:

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
- The guard asks for SIGUSR1 when kubeline dies (PR_SET_PDEATHSIG), so a crashed or SIGKILLed kubeline
  still takes its steps with it.

Protocol with the runner: SIGTERM (sent to the whole group) is the polite stop, left to the command;
SIGUSR1 means "kill the step's whole process tree now". When the command ends, the guard kills what it
left behind and exits with the command's status (re-raising the signal that killed it, if any). When
the command cannot be started, the reason goes to STATUS_FD and the guard exits 127.

Only the standard library is used: ``-I -S`` keeps the step's PYTHONPATH and site packages out of it.
The guard's start-up is on every step's path, so it imports as little as it can (measured: Python
itself 9 ms, ctypes 4 ms; ``subprocess`` and ``signal`` are avoided, which saved 19 ms a step).
"""

from __future__ import annotations

import _signal as signal  # the C module under `signal`, without its enums: a step starts 5 ms sooner
import ctypes
import os
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_NOW = signal.SIGUSR1
_killing = False


class _KillNow(Exception):
    pass


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


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
        for pid in _descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
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


def main(argv: list[str]) -> None:
    parent, status_fd, command = int(argv[0]), int(argv[1]), argv[2:]
    signal.signal(KILL_NOW, _on_kill_now)
    signal.signal(signal.SIGTERM, lambda *_: None)  # the polite stop is for the command (same group)
    status = None
    try:
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        _prctl(PR_SET_PDEATHSIG, KILL_NOW)
        if os.getppid() != parent:  # kubeline died before the line above
            raise _KillNow
        try:  # posix_spawnp, not subprocess: importing subprocess alone costs a step 14 ms
            child = os.posix_spawnp(command[0], command, os.environ)
        except (OSError, ValueError, IndexError) as error:
            os.write(status_fd, f"cannot start {command[0]}: {error}"[:2000].encode(errors="replace"))
            os._exit(127)
        os.close(status_fd)
        while status is None:
            pid, wait_status = os.waitpid(-1, 0)  # reaps orphans re-parented here, too
            if pid == child:
                status = wait_status
    except _KillNow:
        pass
    kill_descendants()
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
