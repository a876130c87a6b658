"""Finding and compiling the @dsl.pipeline functions of a Python file, like KFP's dsl-compile."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path
from typing import Any, Callable

from kubeline.engine.errors import Issue, PipelineInvalid


def pipeline_functions(path: Path) -> dict[str, Callable[..., Any]]:
    """The file's pipeline functions by name (the file is imported, as dsl-compile does)."""
    module_name = f"kubeline_user_pipeline_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PipelineInvalid([Issue(str(path), "cannot load this file as Python")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the user's code: report, do not crash
        raise PipelineInvalid([Issue(str(path), f"importing it failed: {type(error).__name__}: {error}")]) from None
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
    from kubeline.sdk.dsl import CompileError

    try:
        return compile_pipeline(choose(path, function))
    except CompileError as error:
        raise PipelineInvalid([Issue(str(path), str(error))]) from None
