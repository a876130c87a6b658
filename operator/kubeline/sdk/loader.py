"""Finding and compiling the @dsl.pipeline functions of a Python file, like KFP's dsl-compile.

The file is the user's code: whatever it does while imported or while its pipeline function runs
(raise, recurse forever, call sys.exit) is reported as a problem in that file, at the line of the
user's code where it happened, never as a traceback of kubeline's.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
import traceback
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from kubeline.engine.errors import Issue, PipelineInvalid
from kubeline.sdk.components import CompileError

#: Longest exception text quoted in a problem: a message is there to be read, not to carry data.
_MAX_MESSAGE = 500


def pipeline_functions(path: Path) -> dict[str, Callable[..., Any]]:
    """The file's pipeline functions by name (the file is imported, as dsl-compile does)."""
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise PipelineInvalid([Issue(str(path), f"{problem}: give the path of a Python file defining a @dsl.pipeline function")])
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
            raise PipelineInvalid([Issue(str(path), f"no @dsl.pipeline function {function!r} (found: {', '.join(functions) or 'none'})")])
        return functions[function]
    if not functions:
        raise PipelineInvalid([Issue(str(path), "no @dsl.pipeline function found")])
    if len(functions) > 1:
        raise PipelineInvalid([Issue(str(path), f"several pipelines: {', '.join(sorted(functions))}; choose one with --function NAME")])
    return next(iter(functions.values()))


def pipeline_document_from_python(path: Path, function: str | None = None) -> dict[str, Any]:
    from kubeline.sdk.compiler import compile_pipeline

    chosen = choose(path, function)
    with _users_code(path, f"compiling the pipeline {getattr(chosen, '__name__', 'function')}", _definition_line(chosen)):
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
        return (f"{doing} failed: the file called sys.exit({_short(repr(error.code))}); a pipeline file must not exit: "
                "remove the call, or guard it with `if __name__ == '__main__':`")
    if isinstance(error, RecursionError):
        return f"{doing} failed: endless recursion (a function calls itself without end); fix the recursion"
    text = _short(str(error))
    described = f"{doing} failed: {type(error).__name__}{': ' + text if text else ''}"
    if isinstance(error, ImportError):
        return f"{described}; install the module in the Python environment running kubeline, or fix the import"
    return f"{described}; fix the code at this line"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"
