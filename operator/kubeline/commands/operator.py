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
    parser.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        type=_address,
        help="serve Prometheus /metrics and /healthz here from the start, e.g. 0.0.0.0:8080 (default: not served)",
    )
    parser.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="json: one object a line, with run and step"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log kopf's own work too")


def _address(text: str) -> str:
    from kubeline.controller.telemetry import parse_address

    try:
        parse_address(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None
    return text


def operator_command(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import os

    import kopf

    from kubeline.controller import telemetry

    if args.config:
        os.environ["KUBELINE_CONFIG"] = str(args.config)
    # kopf's JSON formatter (python-json-logger) adds a record's extra fields (run, step) and kopf's object refs
    kopf.configure(
        verbose=args.verbose, log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL
    )
    if not args.verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)
    import kubeline.controller.handlers  # noqa: F401 - registers the handlers

    async def operate() -> None:
        async with telemetry.serving(args.metrics_address):
            await kopf.operator(standalone=True, namespaces=args.namespace, clusterwide=not args.namespace)

    asyncio.run(operate())
    return 0
