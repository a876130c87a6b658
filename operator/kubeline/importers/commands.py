"""`kubeline import WORKFLOW.yaml -o PIPELINE.yaml`: a KFP v1 compiled workflow as a Pipeline file."""

from __future__ import annotations

import argparse
import sys

from kubeline.engine.errors import Issue, PipelineInvalid
from kubeline.importers.kfp_v1 import import_workflow
from kubeline.loading import read_documents
from kubeline.sdk.commands import write_output


def import_command(args: argparse.Namespace) -> int:
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
