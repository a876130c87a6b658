"""`kubeline compile`, and the cluster commands `submit`, `get` and `logs`."""

from __future__ import annotations

import argparse
import sys

from kubeline.api.yamlio import dump
from kubeline.sdk.loader import pipeline_document_from_python


def compile_command(args: argparse.Namespace) -> int:
    text = dump(pipeline_document_from_python(args.file, args.function))
    if args.output:
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
