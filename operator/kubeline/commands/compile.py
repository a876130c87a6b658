"""`kubeline compile`: the @dsl.pipeline function of a Python file as Pipeline YAML, like KFP's dsl-compile."""

from __future__ import annotations

import argparse
from typing import Any

from kubeline.commands.common import add_command, add_file_arguments, write_output


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "compile",
        compile_command,
        help="compile a Python pipeline (kubeline.dsl) into Pipeline YAML",
        description="Compile the @dsl.pipeline function of a Python file into a Pipeline resource, like KFP's dsl-compile.",
    )
    add_file_arguments(
        parser,
        "Python file defining one or more @dsl.pipeline functions",
        function_help="the pipeline function to compile (required when the file has several)",
        output=True,
    )


def compile_command(args: argparse.Namespace) -> int:
    from kubeline.sdk.loader import pipeline_document_from_python

    write_output(pipeline_document_from_python(args.file, args.function), args.output)
    return 0
