"""`kubeline import WORKFLOW.yaml -o PIPELINE.yaml`: a KFP v1 compiled workflow as a Pipeline file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import add_command, add_file_arguments, write_output


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "import",
        import_command,
        help="convert a workflow compiled by the KFP v1 SDK into a kubeline Pipeline",
        description="Convert an Argo Workflow compiled by the KFP v1 SDK (kfp.compiler / dsl-compile) into a Pipeline.",
    )
    add_file_arguments(parser, "Argo Workflow YAML compiled by the KFP v1 SDK", output=True)
    parser.add_argument("--name", help="name of the Pipeline (default: from the workflow)")
    parser.add_argument(
        "--strict", action="store_true", help="fail when the workflow uses anything kubeline cannot carry over"
    )


def import_command(args: argparse.Namespace) -> int:
    from kubeline.api.yamlio import read_documents
    from kubeline.importers.kfp_v1 import import_workflow

    documents = read_documents(args.file)
    workflows = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Workflow"]
    if not workflows:
        raise PipelineInvalid(
            [Issue(str(args.file), "holds no Argo Workflow (compile the pipeline with the KFP v1 SDK first)")]
        )
    result = import_workflow(workflows[0], name=args.name, strict=args.strict)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    write_output(
        result.pipeline, args.output, f"{len(result.warnings)} warning{'s' if len(result.warnings) != 1 else ''}"
    )
    return 0
