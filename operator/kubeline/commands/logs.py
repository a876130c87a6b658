"""`kubeline logs`: a Run's step logs, from their pods or, once the pods are gone, from the artifact store; a local
run's from its store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import add_command, add_namespace_argument, cluster_client, local_run_dir
from kubeline.engine import stepid


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "logs",
        logs_command,
        help="print the logs of a run's steps",
        description=(
            "Print the logs of a Run's steps: from the pod while it is there, then from the artifact store "
            "(credentials: the usual AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile or cloud identity). A run "
            "made on this machine by `kubeline run` (found under $KUBELINE_HOME/runs) is read from its artifact "
            "store; give -n to read a cluster's Run of the same name instead."
        ),
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
    local = local_run_dir(args.run, args.namespace)
    if local is not None:
        logs = _local_logs(args, local)
    else:
        client = cluster_client(args)
        logs = client.logs(args.run, args.task, follow=args.follow, artifact_store=args.artifact_store)
    for step, text in logs.items():
        print(f"==> {step} <==")
        print(text.rstrip("\n"))
    return 0


def _local_logs(args: argparse.Namespace, run_dir: Path) -> dict[str, str]:
    from kubeline.backends.local import reused_steps, stored_logs
    from kubeline.store import StoreError
    from kubeline.ui.local import RUN_DOCUMENT, read_document

    if args.follow:
        raise PipelineInvalid(
            [
                Issue(
                    "--follow",
                    f"{args.run} is a local run: its steps' logs are stored when each step ends, print them without -f",
                )
            ]
        )
    try:
        document = read_document(run_dir / RUN_DOCUMENT) or {}
        return stored_logs(run_dir, args.run, args.task, reused_steps(document.get("status")))
    except (StoreError, ValueError) as error:
        raise PipelineInvalid([Issue(args.run, f"cannot read the local run's logs: {error}")]) from None
