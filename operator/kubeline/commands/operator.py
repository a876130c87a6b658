"""`kubeline operator`: kopf reconciling Runs into pods, in a cluster or from your machine."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.commands.common import add_command


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "operator",
        operator_command,
        help="run the operator: reconcile Runs into pods (in a cluster, or from your machine)",
        description="Run the kubeline operator with kopf, against the current kube context or in-cluster config.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    parser.add_argument(
        "--config", type=Path, help="operator settings YAML (scheduling defaults, allowed service accounts…)"
    )
    parser.add_argument("--liveness", metavar="URL", help="serve a health endpoint, e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("-v", "--verbose", action="store_true", help="log kopf's own work too")


def operator_command(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os

    import kopf

    if args.config:
        os.environ["KUBELINE_CONFIG"] = str(args.config)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)
    import kubeline.controller.handlers  # noqa: F401 - registers the handlers

    asyncio.run(
        kopf.operator(
            standalone=True,
            namespaces=args.namespace,
            clusterwide=not args.namespace,
            liveness_endpoint=args.liveness,
        )
    )
    return 0
