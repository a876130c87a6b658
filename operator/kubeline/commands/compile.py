"""`kubeline compile`: the @dsl.pipeline function of a Python file as Pipeline YAML, like KFP's dsl-compile.

Both forms work: `kubeline compile FILE [-o OUT] [--function NAME]`, and dsl-compile's own flags
`--py FILE --output OUT [--function NAME] [--disable-type-check]`, so scripts calling dsl-compile only change
the command's name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import add_command, write_output


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "compile",
        compile_command,
        help="compile a Python pipeline (kubeline.dsl) into Pipeline YAML",
        description="Compile the @dsl.pipeline function of a Python file into a Pipeline resource, like KFP's "
        "dsl-compile (whose flags --py, --output, --function and --disable-type-check it takes too).",
    )
    parser.add_argument("file", type=Path, nargs="?", help="Python file defining one or more @dsl.pipeline functions")
    parser.add_argument("--py", type=Path, metavar="FILE", help="the Python file, as dsl-compile takes it")
    parser.add_argument("--function", help="the pipeline function to compile (required when the file has several)")
    parser.add_argument("-o", "--output", type=Path, help="output YAML file (default: standard output)")
    parser.add_argument(
        "--disable-type-check",
        action="store_true",
        help="accepted for dsl-compile's sake; kubeline checks argument types anyway (so does the cluster)",
    )


def compile_command(args: argparse.Namespace) -> int:
    from kubeline.sdk.loader import pipeline_document_from_python

    if (args.file is None) == (args.py is None):
        raise PipelineInvalid(
            [Issue("FILE", "give the Python file once: `kubeline compile FILE` or `kubeline compile --py FILE`")]
        )
    if args.disable_type_check:
        print(
            "kubeline: --disable-type-check has no effect: arguments are always checked against their inputs' "
            "types (the cluster checks every Pipeline the same way)",
            file=sys.stderr,
        )
    write_output(pipeline_document_from_python(args.file or args.py, args.function), args.output)
    return 0
