"""`kubeline validate`: every problem of each pipeline file, naming the field, without running anything."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.api.problems import PipelineInvalid
from kubeline.commands.common import EXIT_INVALID, add_command, load_pipeline_file, print_problems


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "validate",
        validate_command,
        help="check pipeline files and report every problem, naming the field",
        description="Check Pipeline files without running them. Exit status 2 when any has a problem.",
    )
    parser.add_argument("files", type=Path, nargs="+", help="Pipeline YAML files")


def validate_command(args: argparse.Namespace) -> int:
    from kubeline.engine.documents import run_argument_problems

    status = 0
    for path in args.files:
        try:
            loaded = load_pipeline_file(path)
            problems = run_argument_problems(loaded)
            if problems:
                raise PipelineInvalid(problems)
        except PipelineInvalid as invalid:
            print_problems(invalid, str(path))
            status = EXIT_INVALID
            continue
        steps = loaded.plan.steps()
        print(f"{path}: pipeline {loaded.name!r} is valid ({steps} step{'s' if steps != 1 else ''})")
    return status
