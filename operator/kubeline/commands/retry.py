"""`kubeline retry`: a new Run of a finished Run's pipeline and arguments that reuses the steps that succeeded."""

from __future__ import annotations

import argparse
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import add_command, add_namespace_argument, cluster_client, wait_and_report


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "retry",
        retry_command,
        help="retry a finished run from its failed steps, reusing the steps that succeeded",
        description=(
            "Create a Run that retries RUN (spec.retryOf): the same frozen pipeline and arguments; the steps that "
            "succeeded in RUN are reused (even with caching off), the failed, cancelled and skipped ones run again. "
            "--from STEP runs STEP again with everything downstream of it. RUN itself is left as it was."
        ),
    )
    parser.add_argument("run", help="the finished Run's name (or id)")
    parser.add_argument(
        "--from",
        dest="from_steps",
        action="append",
        default=[],
        metavar="STEP",
        help="run this task again (every loop instance; cond.train inside a group) or step id (loop[2].train), "
        "and everything downstream of it, even where it succeeded (repeatable)",
    )
    parser.add_argument("--name", help="the new Run's name (default: RUN-retry-XXXXX)")
    add_namespace_argument(parser)
    parser.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 0 only when it succeeded")


def retry_command(args: argparse.Namespace) -> int:
    client = cluster_client(args)
    try:
        run = client.retry_run(args.run, args.from_steps, args.name)
    except ValueError as refused:  # not found, not finished, never started, an unknown step
        raise PipelineInvalid([Issue(args.run, str(refused))]) from None
    print(f"run {run.resource_name} retrying {args.run} created in namespace {run.namespace}")
    print(f"  follow it: kubeline get {run.resource_name} -n {run.namespace}")
    return wait_and_report(client, run.resource_name) if args.wait else 0
