"""`kubeline compile`: the @dsl.pipeline function of a Python file as Pipeline YAML, like KFP's dsl-compile."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.commands.common import write_output


def add_to(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compile",
        help="compile a Python pipeline (kubeline.dsl) into Pipeline YAML",
        description="Compile the @dsl.pipeline function of a Python file into a Pipeline resource, like KFP's dsl-compile.",
    )
    parser.add_argument("file", type=Path, help="Python file defining one or more @dsl.pipeline functions")
    parser.add_argument("--function", help="the pipeline function to compile (required when the file has several)")
    parser.add_argument("-o", "--output", type=Path, help="output YAML file (default: standard output)")
    parser.set_defaults(handler=compile_command)


def compile_command(args: argparse.Namespace) -> int:
    from kubeline.sdk.loader import pipeline_document_from_python

    write_output(pipeline_document_from_python(args.file, args.function), args.output)
    return 0
