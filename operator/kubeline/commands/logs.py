"""`kubeline logs`: the logs of a Run's steps, from their pods, or from the artifact store once the pods are gone."""

from __future__ import annotations

import argparse
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import add_command, add_namespace_argument, cluster_client
from kubeline.engine import stepid


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "logs",
        logs_command,
        help="print the logs of a run's steps",
        description="Print the logs of a Run's steps: from the pod while it is there, then from the artifact store "
        "(credentials: the usual AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile or cloud identity).",
    )
    parser.add_argument("run", help="the Run's name")
    parser.add_argument("task", nargs="?", help="a step id (default: every step)")
    add_namespace_argument(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing until the step ends")
    parser.add_argument(
        "--artifact-store",
        metavar="URL",
        help="read finished steps' logs from this store URL instead of the one the Run recorded "
        "(e.g. s3://bucket/prefix?endpoint=http://localhost:9000 through a port-forward)",
    )


def logs_command(args: argparse.Namespace) -> int:
    if args.task:
        try:
            stepid.parse(args.task)
        except ValueError as error:
            raise PipelineInvalid([Issue("STEP", str(error))]) from None
    for step, text in (
        cluster_client(args).logs(args.run, args.task, follow=args.follow, artifact_store=args.artifact_store).items()
    ):
        print(f"==> {step} <==")
        print(text.rstrip("\n"))
    return 0
