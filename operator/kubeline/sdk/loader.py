"""Finding and compiling the @dsl.pipeline functions of a Python file, like KFP's dsl-compile.

The file is the user's code: whatever it does while imported or while its pipeline function runs
(raise, recurse forever, call sys.exit) is reported as a problem in that file, at the line of the
user's code where it happened, never as a traceback of kubeline's.

It runs in a process of its own (``pipeline_document_from_python``), since what it does beyond
raising cannot be undone in kubeline's: threads that keep the interpreter from exiting, forked or
spawned processes, prints that would mix with the YAML ``kubeline compile`` writes on standard
output, a read of standard input that waits for a terminal. That process has no input, prints to
standard error, is stopped after COMPILE_SECONDS, and every process it started dies with it.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.sdk.components import CompileError

#: Longest exception text quoted in a problem: a message is there to be read, not to carry data.
_MAX_MESSAGE = 500

#: Longest a pipeline file may take to import and compile. KFP programs take well under a second, but a
#: module-level import of tensorflow or torch takes seconds, more on a loaded laptop: the bound is there
#: for a file waiting for something that never comes, not to judge a slow import.
COMPILE_SECONDS = 120

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def pipeline_functions(path: Path) -> dict[str, Callable[..., Any]]:
    """The file's pipeline functions by name (the file is imported, as dsl-compile does)."""
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise PipelineInvalid(
            [Issue(str(path), f"{problem}: give the path of a Python file defining a @dsl.pipeline function")]
        )
    module_name = f"kubeline_user_pipeline_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PipelineInvalid([Issue(str(path), "cannot load this file as Python")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _users_code(path, "importing it"):
            spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    return {name: value for name, value in vars(module).items() if getattr(value, "_is_pipeline", False)}


def choose(path: Path, function: str | None) -> Callable[..., Any]:
    functions = pipeline_functions(path)
    if function is not None:
        if function not in functions:
            raise PipelineInvalid(
                [Issue(str(path), f"no @dsl.pipeline function {function!r} (found: {', '.join(functions) or 'none'})")]
            )
        return functions[function]
    if not functions:
        raise PipelineInvalid([Issue(str(path), "no @dsl.pipeline function found")])
    if len(functions) > 1:
        raise PipelineInvalid(
            [Issue(str(path), f"several pipelines: {', '.join(sorted(functions))}; choose one with --function NAME")]
        )
    return next(iter(functions.values()))


def pipeline_document_from_python(path: Path, function: str | None = None) -> dict[str, Any]:
    """The Pipeline document of a Python file, compiled in a process of its own (see the module's docstring)."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", "from kubeline.sdk.loader import _child; _child()", str(path), function or ""]
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, start_new_session=True)
    try:
        output, _ = child.communicate(timeout=COMPILE_SECONDS)
    except subprocess.TimeoutExpired:
        raise PipelineInvalid(
            [
                Issue(
                    str(path),
                    (
                        f"importing and compiling it took longer than {COMPILE_SECONDS} s, so it was stopped: does the file wait "
                        "for input, a network or a lock at import? keep such work inside the components"
                    ),
                )
            ]
        ) from None
    finally:
        _kill_group(child)
    return _child_result(output, path, child.returncode)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """Whatever the child left in its process group (it ran the user's code) is killed."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        pass  # the group is gone already
    child.wait()


def _child_result(output: bytes, path: Path, returncode: int) -> dict[str, Any]:
    try:
        result = json.loads(output)
    except ValueError:
        result = {}
    if "document" in result:
        return dict(result["document"])
    if "issues" in result:
        raise PipelineInvalid([Issue(issue_path, message) for issue_path, message in result["issues"]])
    if "bug" in result:
        raise RuntimeError(result["bug"])
    # the user's code ended the process itself (os._exit, a signal, a crash in a C extension)
    how = f"killed by signal {_signal_name(-returncode)}" if returncode < 0 else f"exit status {returncode}"
    raise PipelineInvalid(
        [
            Issue(
                str(path),
                (
                    f"importing and compiling it ended the process ({how}) before any result: does the file call os._exit, "
                    "kill itself, or crash in a native module at import?"
                ),
            )
        ]
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name
        return str(number)


def _child() -> None:
    """The child's side: compile, write the result as JSON on the original standard output, kill every
    process the user's code started (they became this process's children: it is a subreaper), exit."""
    result_fd = os.dup(1)
    os.dup2(2, 1)  # the user's prints go to standard error; standard output carries only the result
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # kubeline gone: this process goes too
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    path, function = Path(sys.argv[1]), sys.argv[2] or None
    try:
        result: dict[str, Any] = {"document": compile_file(path, function)}
    except PipelineInvalid as invalid:
        result = {"issues": [[issue.path, issue.message] for issue in invalid.issues]}
    except BaseException as error:  # noqa: BLE001 - reported by the parent as a bug of kubeline's
        result = {"bug": f"{type(error).__name__}: {error}"}
    _kill_descendants()
    data = json.dumps(result).encode()
    while data:
        data = data[os.write(result_fd, data) :]
    os._exit(0)  # threads the user's code started are not waited for


def _prctl(option: int, value: int) -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _kill_descendants() -> None:
    """Kill this process's children until none is left; orphaned grandchildren are re-parented here."""
    for _ in range(1000):
        children = _children()
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _children() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.append(int(entry))
    return found


def compile_file(path: Path, function: str | None = None) -> dict[str, Any]:
    """The Pipeline document of a Python file, compiled in this process."""
    from kubeline.sdk.compiler import compile_pipeline

    chosen = choose(path, function)
    with _users_code(
        path, f"compiling the pipeline {getattr(chosen, '__name__', 'function')}", _definition_line(chosen)
    ):
        return compile_pipeline(chosen)


def _definition_line(function: Callable[..., Any]) -> int | None:
    """Where the pipeline function starts: the place to look when the compiler, not a line of the user's
    code, finds the problem (a wrong default, an argument of a type a pipeline cannot pass)."""
    code = getattr(inspect.unwrap(function), "__code__", None)
    return code.co_firstlineno if code is not None else None


@contextmanager
def _users_code(path: Path, doing: str, fallback_line: int | None = None) -> Iterator[None]:
    """Turns anything the user's code raises (SystemExit included) into PipelineInvalid at file:line."""
    try:
        yield
    except PipelineInvalid:
        raise  # the engine's problems already name their fields
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's code: report, do not crash
        raise PipelineInvalid([Issue(_where(error, path, fallback_line), _explain(error, doing))]) from None


def _where(error: BaseException, path: Path, fallback_line: int | None) -> str:
    """file:line of the problem: a syntax error's own place, else the innermost frame in the user's file."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}" if error.lineno else error.filename
    target = _resolved(path)
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _resolved(Path(f.filename)) == target]
    line = frames[-1].lineno if frames else fallback_line
    return f"{path}:{line}" if line else str(path)


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return None


def _explain(error: BaseException, doing: str) -> str:
    """What went wrong, in words, and what to do about it."""
    if isinstance(error, SyntaxError):
        return f"not valid Python: {error.msg}"
    if isinstance(error, CompileError):
        return _short(str(error))
    if isinstance(error, SystemExit):
        return (
            f"{doing} failed: the file called sys.exit({_short(repr(error.code))}); a pipeline file must not exit: "
            "remove the call, or guard it with `if __name__ == '__main__':`"
        )
    if isinstance(error, RecursionError):
        return f"{doing} failed: endless recursion (a function calls itself without end); fix the recursion"
    text = _short(str(error))
    described = f"{doing} failed: {type(error).__name__}{': ' + text if text else ''}"
    if isinstance(error, ImportError):
        return f"{described}; install the module in the Python environment running kubeline, or fix the import"
    return f"{described}; fix the code at this line"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"
