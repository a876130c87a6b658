"""`kubeline crds`: the CustomResourceDefinitions generated from kubeline's API models."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import add_command


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "crds",
        crds_command,
        help="print the CustomResourceDefinitions (kubectl apply -f -)",
        description="Print the CRDs generated from kubeline's API models.",
    )
    parser.add_argument("--write", type=Path, metavar="DIR", help="write one file per CRD into DIR instead")


def crds_command(args: argparse.Namespace) -> int:
    from kubeline.api.crdgen import crds, render

    documents = crds()
    if not args.write:
        print("\n---\n".join(render(crd) for crd in documents.values()), end="")
        return 0
    if args.write.exists() and not args.write.is_dir():
        raise PipelineInvalid([Issue(f"--write {args.write}", "is a file: give a directory to write the CRDs into")])
    args.write.mkdir(parents=True, exist_ok=True)
    for file_name, crd in documents.items():
        (args.write / file_name).write_text(render(crd))
        print(f"wrote {args.write / file_name}")
    return 0
