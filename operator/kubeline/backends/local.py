"""The local runner: every step is a process on this machine, independent steps run side by side.

The container image is not used: the component's command runs on the host, with ``python``/``python3``
meaning the interpreter running kubeline (so the steps see the same installed packages). Outputs are
files under the run's directory; artifacts pass between steps as paths; results are cached on disk
under the same keys and staleness rules as the cluster's CacheEntry resources.

A run's folder is ``$KUBELINE_HOME/runs/NAME``, NAME a valid name (api/names.py), created new for each
run and checked to lie inside ``runs``: the runner writes only under it and the cache, and deletes only
what it created there. On Linux every step runs under a guard process (see ``stepguard``), so no process
a step starts outlives the step, a cancelled run, or kubeline itself.

Whatever a step leaves behind is read defensively: only regular files, never more than a cap (the
values' limit, the tail of a log), never blocking on a FIFO; artifacts are copied by streaming.
"""

from __future__ import annotations

import errno
import json
import math
import os
import queue
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeline.api.names import MAX_LABEL, name_problem
from kubeline.engine import caching
from kubeline.engine.container import render_container
from kubeline.engine.outputs import VALUE_FILE_LIMIT, OutputError, check_values, too_large, value_outputs
from kubeline.engine.plan import Plan
from kubeline.engine.run import decide
from kubeline.engine.state import Decision, RunState, StartStep, StepState
from kubeline.engine.stepid import folder_name

_KILL_GRACE = 5.0
#: Seconds a guard has to end its step's tree after being told to, before it is killed itself.
_GUARD_ANSWER = 2.0
#: Bytes of artifacts one cache entry keeps at most: a step may write a huge (or sparse) file, which
#: passes to the next step by its path at no cost, but copying it into the cache would fill the disk.
MAX_CACHED_ARTIFACT_BYTES = 1 << 30
#: Bytes of a step's log read for the tail shown when it fails: a 20 MB line costs no more than a short one.
LOG_TAIL_BYTES = 8192
#: Bytes of a cache entry.json read at most (a real one holds a few KiB of values).
_ENTRY_LIMIT = 1 << 20
_GUARD = Path(__file__).with_name("stepguard.py")
#: The guard needs Linux (prctl, /proc); elsewhere a step is one process group, killed as a group.
_GUARDED = sys.platform.startswith("linux")
_KILL_NOW = signal.SIGUSR1  # the guard's "kill the step's whole tree now"


def kubeline_home() -> Path:
    """Absolute, because steps run in their own folders and receive paths under it."""
    return Path(os.environ.get("KUBELINE_HOME") or Path.home() / ".kubeline").absolute()


# -- run folders -----------------------------------------------------------------------------------------


def runs_root() -> Path:
    """``$KUBELINE_HOME/runs``, created; OSError when KUBELINE_HOME is a file or cannot be written."""
    root = kubeline_home() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_run_name(pipeline: str) -> str:
    """PIPELINE-TIMESTAMP-RANDOM, the pipeline part shortened so that the whole stays a valid name."""
    suffix = f"-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    return pipeline[: MAX_LABEL - len(suffix)].rstrip("-") + suffix


def create_run_dir(run_name: str, root: Path | None = None) -> Path:
    """A new, empty folder for the run. A folder of that name is never reused (FileExistsError), so
    nothing of an earlier run is overwritten or deleted; ValueError for a name that is not a valid name."""
    problem = name_problem(run_name)
    if problem:
        raise ValueError(f"run name {problem}")
    run_dir = _inside(root or runs_root(), run_name)
    run_dir.mkdir()
    return run_dir


def _inside(root: Path, relative: str) -> Path:
    """``root / relative``, verified (links and '..' resolved) to lie inside ``root``."""
    path = root / relative
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{path} would lie outside {root}")
    return path


# -- reading what steps leave behind ---------------------------------------------------------------------


def _read_capped(path: Path, limit: int, *, tail: bool = False) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of a regular file (its last ones with ``tail``), and the file's size.

    Opened without blocking and checked to be a regular file, so a FIFO, a device or a huge file left by
    a step can neither hang kubeline nor fill its memory. Without ``tail``, one byte more is read, so a
    caller can tell a file of exactly ``limit`` bytes from a larger one."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"it is {_kind(info.st_mode)}, not a regular file")
        offset = max(0, info.st_size - limit) if tail else 0
        data = os.pread(fd, limit if tail else limit + 1, offset)
        return data, max(info.st_size, offset + len(data))
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def _artifact_problem(path: Path) -> str | None:
    """Why an artifact cannot be passed on or cached: it must be a file, or a folder holding files,
    folders and symbolic links (copied as links, never followed, so a link loop costs nothing)."""
    target = os.path.realpath(path)
    if any(target == system or target.startswith(system + "/") for system in _SYSTEM_FOLDERS):
        return f"links into {target}; an artifact must be a file or folder with the step's data, not the system's"
    try:
        mode = path.stat().st_mode  # a link at the top is followed: a step may link to its data
        if stat.S_ISREG(mode):
            return None
        if not stat.S_ISDIR(mode):
            return f"is {_kind(mode)}; an artifact must be a file or a folder"
        for folder, _, files in os.walk(path):
            for name in files:
                mode = os.lstat(os.path.join(folder, name)).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                    inner = os.path.relpath(os.path.join(folder, name), path)
                    return f"holds {_kind(mode)} ({inner}); an artifact folder may hold only files, folders and symbolic links"
    except OSError as error:  # e.g. a file that vanished while it was looked at
        return f"cannot be read ({error.strerror or error})"
    return None


def _disk_size(path: Path) -> int:
    """Bytes of disk a (hole-preserving) copy of the artifact takes; links inside a folder count as links."""
    if not path.is_dir():
        return path.stat().st_blocks * 512
    return sum(
        os.lstat(os.path.join(folder, name)).st_blocks * 512 for folder, _, files in os.walk(path) for name in files
    )


_SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


def _copy_artifact(source: Path, destination: Path) -> None:
    """Streamed, links copied as links, holes kept as holes."""
    if source.is_dir():
        shutil.copytree(source, destination, symlinks=True, copy_function=_copy_file)
    else:
        _copy_file(source, destination)


def _copy_file(source: Any, destination: Any) -> None:
    """Only the file's data segments are copied (SEEK_DATA/SEEK_HOLE): a sparse file written by a step
    (``truncate -s 50G``) takes no more disk in the cache than it did in the step's folder."""
    with open(source, "rb") as reader, open(destination, "wb") as writer:
        size = os.fstat(reader.fileno()).st_size
        position = 0
        while position < size:
            try:
                start = os.lseek(reader.fileno(), position, os.SEEK_DATA)
                end = os.lseek(reader.fileno(), start, os.SEEK_HOLE)
            except OSError as error:  # ENXIO: no data after position; otherwise holes are not reported here
                start, end = (size, size) if error.errno == errno.ENXIO else (position, size)
            if start >= size:
                break
            reader.seek(start)
            writer.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = reader.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                writer.write(chunk)
                remaining -= len(chunk)
            position = end
        writer.truncate(size)
    shutil.copystat(source, destination)


def _warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# -- the cache -------------------------------------------------------------------------------------------


class LocalCache:
    """Step results on disk, one directory per cache key: ``entry.json`` and copies of artifacts.

    An entry is written in a hidden staging folder and renamed into place, so no reader sees half of
    one, and the staging folder is removed on every path. A cache problem never fails a run: an
    unreadable or malformed entry is a miss (with a warning; the step runs again and its result replaces
    the entry), and a result that cannot be stored is only not cached (with a warning)."""

    def __init__(self, root: Path, warn: Callable[[str], None] = _warn_on_stderr):
        self.root = root
        self.warn = warn
        self._warned: set[Path] = set()

    def lookup(self, start: StartStep, now: float) -> dict[str, str] | None:
        if not caching.consulted(start):
            return None
        folder = self.root / start.cache_key
        try:
            data, size = _read_capped(folder / "entry.json", _ENTRY_LIMIT)
            if size > _ENTRY_LIMIT:
                raise ValueError(f"it is larger than {_ENTRY_LIMIT} bytes")
            entry = json.loads(data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as error:
            problem: str | None = f"entry.json cannot be read ({error})"
        else:
            problem = _entry_problem(entry, start, folder)
        if problem:
            self._ignore(start, folder, problem)
            return None
        if not caching.fresh(start, entry["createdAt"], now):
            return None
        outputs = {output.name: entry["outputs"][output.name] for output in value_outputs(start.component)}
        for name in _artifact_names(start):
            outputs[name] = str(folder / "artifacts" / name)
        return outputs

    def _ignore(self, start: StartStep, folder: Path, problem: str) -> None:
        if folder not in self._warned:  # a waiting step is looked up again and again
            self._warned.add(folder)
            self.warn(f"ignoring the cached result of step {start.id} in {folder}: {problem}; the step runs again")

    def store(self, start: StartStep, outputs: dict[str, str], now: float) -> None:
        if not start.caching_enabled:
            return
        tag = f"{start.cache_key}.{os.getpid()}.{threading.get_ident()}"
        staging, old = self.root / f".staging.{tag}", self.root / f".old.{tag}"
        try:
            self._write(staging, start, outputs, now)
            self._replace(staging, self.root / start.cache_key, old)
        except (OSError, shutil.Error) as error:
            self.warn(f"the result of step {start.id} was not cached: {_first_problem(error)}")
        finally:
            _remove(staging)
            _remove(old)

    def _write(self, staging: Path, start: StartStep, outputs: dict[str, str], now: float) -> None:
        artifacts = _artifact_names(start)
        size = sum(_disk_size(Path(outputs[name])) for name in artifacts)
        if size > MAX_CACHED_ARTIFACT_BYTES:
            raise OSError(
                f"its artifacts take {size:,} bytes of disk, more than the {MAX_CACHED_ARTIFACT_BYTES:,} "
                "the local cache keeps for one step"
            )
        _remove(staging)  # left by a kubeline that was killed while storing, with this process id
        (staging / "artifacts").mkdir(parents=True)
        for name in artifacts:
            _copy_artifact(Path(outputs[name]), staging / "artifacts" / name)
        entry = {
            "key": start.cache_key,
            "component": start.component.name,
            "createdAt": now,
            "outputs": {k: v for k, v in outputs.items() if k not in artifacts},
            "artifacts": artifacts,
        }
        (staging / "entry.json").write_text(json.dumps(entry, indent=1, ensure_ascii=False), encoding="utf-8")

    @staticmethod
    def _replace(staging: Path, target: Path, old: Path) -> None:
        if os.path.lexists(target):
            target.rename(old)
        staging.rename(target)


def _first_problem(error: BaseException) -> str:
    """One line for a warning: a folder's copy can fail for thousands of files at once."""
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list) and error.args[0]:
        failures = error.args[0]
        first = failures[0][-1] if isinstance(failures[0], tuple) else failures[0]
        more = f" (and {len(failures) - 1} more files)" if len(failures) > 1 else ""
        return f"copying the artifacts failed: {str(first)[:300]}{more}"
    return str(error)[:500]


def _artifact_names(start: StartStep) -> list[str]:
    return [o.name for o in start.component.outputs or [] if o.type == "artifact"]


def _entry_problem(entry: Any, start: StartStep, folder: Path) -> str | None:
    """What makes a cache entry unusable, or None; the outputs it must hold are the component's."""
    if not isinstance(entry, dict):
        return "entry.json does not hold a JSON object"
    created = entry.get("createdAt")
    if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
        return "entry.json has no valid createdAt time"
    values = entry.get("outputs")
    if not isinstance(values, dict):
        return "entry.json has no outputs"
    for output in value_outputs(start.component):
        if not isinstance(values.get(output.name), str):
            return f"entry.json has no value for output {output.name!r}"
    for name in _artifact_names(start):
        if not os.path.lexists(folder / "artifacts" / name):
            return f"the copy of artifact {name!r} is missing"
    return None


def _remove(path: Path) -> None:
    """Remove a path kubeline made (a link itself, never what it points to)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


# -- steps as processes ----------------------------------------------------------------------------------


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


class _Launcher:
    """The run's launcher process (see ``stepguard``), which forks a guard for every step it is asked to start."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_GUARD), str(os.getpid())],
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


@dataclass
class _Process:
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


def _launch_problem(argv: list[str], env: dict[str, str]) -> str | None:
    """What no process can be started with: checked here so the step fails with a reason."""
    if not argv:
        return "cannot start an empty command: the component's container has no command"
    for index, part in enumerate(argv):
        if "\0" in part:
            which = "the program name" if index == 0 else f"argument {index} of the command"
            return (
                f"{which} holds a NUL byte, which no process argument can carry; pass such data in a file (an artifact)"
            )
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            return (
                f"environment variable name {name!r} is not valid: a name must not be empty nor hold '=' or a NUL byte"
            )
        if "\0" in value:
            return f"environment variable {name} holds a NUL byte, which no environment value can carry"
    return None


@dataclass
class RunResult:
    name: str
    directory: Path
    decision: Decision
    state: RunState
    logs: dict[str, Path] = field(default_factory=dict)  # step id -> log of its latest attempt

    def log_tail(self, step_id: str, lines: int = 20) -> str:
        """The last ``lines`` lines of the step's log, from at most its last LOG_TAIL_BYTES bytes."""
        try:
            data, size = _read_capped(self.logs[step_id], LOG_TAIL_BYTES, tail=True)
        except (KeyError, OSError):
            return ""
        kept = data.decode(errors="replace").rstrip("\n").splitlines()[-lines:]
        if kept and size > len(data) and len(kept) == data.count(b"\n") + 1:
            kept[0] = "…" + kept[0]  # the first line began before the bytes read
        return "\n".join(kept)


class LocalRunner:
    """Runs a plan's steps as local processes until the run ends.

    ``run`` must be called from a thread that lives until it returns (the parent-death signal that ties
    the run's launcher, and so every step's guard, to kubeline follows the thread that started it). Whatever ends ``run`` (the run's
    end, an exception, a signal handler raising), every step's process tree is killed before it returns."""

    def __init__(
        self,
        plan: Plan,
        params: dict[str, Any],
        run_name: str,
        *,
        run_dir: Path | None = None,
        cache: LocalCache | None = None,
        on_change: Callable[[Decision, RunState], None] | None = None,
        max_parallel: int | None = None,
    ):
        if max_parallel is not None and max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, not {max_parallel}")
        self.plan, self.params, self.run_name = plan, params, run_name
        #: Processes at once on this machine; steps beyond it wait (the engine proposes them again).
        self.max_parallel = max_parallel or default_parallelism()
        self.run_dir = run_dir or create_run_dir(run_name)
        self.cache = cache
        self.on_change = on_change
        self.state = RunState(identity={"name": run_name, "namespace": "local", "uid": run_name})
        self.processes: dict[str, _Process] = {}
        self.logs: dict[str, Path] = {}
        self.finished: queue.Queue[str] = queue.Queue()
        self.launcher: _Launcher | None = None

    def cancel(self) -> None:
        self.state.cancelled = True

    def run(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.state.started_at = time.time()
        try:
            return self._loop()
        finally:
            self._kill_all()
            if self.launcher is not None:
                self.launcher.close(_KILL_GRACE)

    def _loop(self) -> RunResult:
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

    def _kill_all(self) -> None:
        """Kill every running step's whole tree and wait (boundedly) for the guards to report it done."""
        for process in self.processes.values():
            process.kill_now()
        deadline = time.time() + _KILL_GRACE
        for process in self.processes.values():
            try:
                process.handle.wait(timeout=max(0.0, deadline - time.time()))
            except subprocess.TimeoutExpired:  # a guard that does not answer
                try:
                    os.killpg(process.handle.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # -- acting on decisions --------------------------------------------------------------------------

    def _act(self, decision: Decision, now: float) -> bool:
        changed = False
        for stop in decision.stop:
            process = self.processes.get(stop.id)
            if process is not None and process.stop_reason is None:
                process.stop_reason = stop.reason
                process.kill_at = now + _KILL_GRACE
                process.stop_politely()
        for start in decision.start:
            if start.id in self.processes:
                continue
            cached = self.cache.lookup(start, now) if self.cache else None
            if cached is None and len(self.processes) >= self.max_parallel:
                continue
            if cached is not None:
                self.state.steps[start.id] = caching.hit(start, cached, now)
                changed = True
                continue
            self._spawn(start, now)
        return changed

    def _attempt_dir(self, start: StartStep) -> Path:
        """A new folder for this attempt: an existing one is never deleted nor reused."""
        attempt_dir = _inside(self.run_dir, f"steps/{folder_name(start.id)}/attempt-{start.attempt}")
        attempt_dir.parent.mkdir(parents=True, exist_ok=True)
        attempt_dir.mkdir()
        (attempt_dir / "outputs").mkdir()
        return attempt_dir

    def _spawn(self, start: StartStep, now: float) -> None:
        try:
            attempt_dir = self._attempt_dir(start)
        except (OSError, ValueError) as error:
            return self._fail_to_start(start, now, f"cannot make the step's folder: {error}")

        def input_path(name: str) -> str:
            if name in start.artifacts:
                return start.artifacts[name]
            path = attempt_dir / "inputs" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(start.inputs.get(name, ""), encoding="utf-8")
            return str(path)

        def output_path(name: str) -> str:
            return str(attempt_dir / "outputs" / name)

        log_path = attempt_dir / "log"
        self.logs[start.id] = log_path
        try:
            rendered = render_container(start, input_path, output_path)
        except (OSError, ValueError) as error:
            return self._fail_to_start(start, now, f"cannot write the step's inputs: {error}", log_path)
        argv = [_host_program(part) if i == 0 else part for i, part in enumerate(rendered.command + rendered.args)]
        problem = _launch_problem(argv, rendered.env)
        if problem:
            return self._fail_to_start(start, now, problem, log_path)
        env = {**os.environ, **rendered.env, "KUBELINE_STEP": start.id, "PYTHONUNBUFFERED": "1"}
        try:
            handle = self._launch(start.id, argv, env, attempt_dir, log_path)
        except (OSError, ValueError) as error:
            return self._fail_to_start(start, now, f"cannot start {argv[0]}: {error}", log_path)
        self.processes[start.id] = _Process(start, handle, attempt_dir, log_path)
        self.state.steps[start.id] = StepState(
            "Running", attempt=start.attempt, started_at=now, cache_key=start.cache_key
        )

    def _launch(self, step_id: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> Any:
        """Start the step under a guard from the run's launcher; where there is none, as a process group."""
        open(log_path, "xb").close()
        if _GUARDED:
            if self.launcher is None or self.launcher.process.poll() is not None:
                self.launcher = _Launcher()
            return self.launcher.start(argv, env, cwd, log_path, lambda: self.finished.put(step_id))
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
            self.finished.put(step_id)

        threading.Thread(target=report_when_done, daemon=True).start()
        return popen

    def _fail_to_start(self, start: StartStep, now: float, message: str, log_path: Path | None = None) -> None:
        if log_path is not None:
            try:
                with open(log_path, "ab") as log:
                    log.write(message.encode(errors="replace"))
            except OSError:
                pass  # the message still reaches the step's state
        self.state.steps[start.id] = StepState(
            "Failed",
            attempt=start.attempt,
            started_at=now,
            finished_at=now,
            message=message,
            cache_key=start.cache_key,
            retryable=False,
        )

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
        """Past the grace period a step is killed; a guard that still has not ended (a step stopped it with
        SIGSTOP, say) is SIGKILLed with its group, and the launcher kills whatever that orphans."""
        now = time.time()
        for process in self.processes.values():
            if process.kill_at is None or now < process.kill_at:
                continue
            if process.killed_at is None:
                process.kill_now()
                process.killed_at, process.kill_at = now, now + _GUARD_ANSWER
            else:
                process.kill_hard()
                process.kill_at = None  # nothing more to send: its end is awaited like any other

    def _collect(self, step_id: str) -> None:
        process = self.processes.pop(step_id)
        now = time.time()
        step = self.state.steps[step_id]
        step.finished_at = now
        step.exit_code = process.handle.returncode
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
                if not os.path.lexists(path):
                    raise OutputError(
                        f"the step wrote no artifact {output.name!r} (to {{{{outputs.{output.name}.path}}}})"
                    )
                problem = _artifact_problem(path)
                if problem:
                    raise OutputError(f"artifact {output.name!r} {problem}")
                artifacts[output.name] = str(path)
                continue
            try:
                data, size = _read_capped(path, VALUE_FILE_LIMIT)
            except FileNotFoundError:
                continue  # check_values names the missing output
            except OSError as error:
                raise OutputError(f"output {output.name!r} cannot be read: {error}") from None
            if size > VALUE_FILE_LIMIT:
                raise too_large(output.name, size)
            try:
                values[output.name] = data.decode()
            except UnicodeDecodeError:
                raise OutputError(
                    f"output {output.name!r} is not UTF-8 text; write bytes of any kind as an artifact (type: artifact)"
                ) from None
        return {**check_values(component, values), **artifacts}


def default_parallelism() -> int:
    """Steps are often waiting on I/O, so allow more processes than cores, but not a fork bomb."""
    return max(4, 2 * (os.cpu_count() or 1))


def _host_program(program: str) -> str:
    """``python``/``python3`` in a step means this interpreter: the host may have no ``python``."""
    return sys.executable if program in ("python", "python3") else program
