"""`kubeline operator`: kopf reconciling Runs into pods, in a cluster or from your machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kubeline.commands.common import add_command
from kubeline.controller.leader import Timings


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
    election = parser.add_argument_group(
        "leader election", "replicas share a Lease: the one holding it acts, the others stand by to take over"
    )
    election.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="act only while holding the Lease (default: on); off: act at once, alone",
    )
    election.add_argument("--lease-name", default="kubeline-operator", help="the Lease's name (default: %(default)s)")
    election.add_argument(
        "--lease-namespace",
        help="the Lease's namespace (default: $POD_NAMESPACE, else the first --namespace, else default)",
    )
    defaults = Timings()
    for flag, default, meaning in [
        ("--lease-duration", defaults.lease_duration, "a standby takes a Lease not renewed for this long"),
        ("--renew-deadline", defaults.renew_deadline, "a leader that has not renewed for this long exits"),
        ("--retry-period", defaults.retry_period, "how often each replica tries the Lease"),
    ]:
        election.add_argument(flag, type=int, default=default, metavar="SECONDS", help=f"{meaning} (%(default)s)")


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

    timings = Timings(args.lease_duration, args.renew_deadline, args.retry_period)
    if args.leader_election and timings.problems():
        for problem in timings.problems():
            print(f"kubeline operator: {problem}", file=sys.stderr)
        return 2
    if args.config:
        os.environ["KUBELINE_CONFIG"] = str(args.config)
    # kopf's JSON formatter (python-json-logger) adds a record's extra fields (run, step) and kopf's object refs
    kopf.configure(
        verbose=args.verbose, log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.FULL
    )
    if not args.verbose:
        logging.getLogger("kopf").setLevel(logging.WARNING)
    import kubeline.controller.handlers  # noqa: F401 - registers the handlers

    asyncio.run(_operate(args, timings))
    return 0


async def _operate(args: argparse.Namespace, timings: Timings) -> None:
    """/metrics and /healthz from the start (a standby answers probes too), then kopf once this replica leads
    (at once without leader election); the Lease is released after kopf stops gracefully, so a standby takes
    over at its next try."""
    import os

    import kopf

    from kubeline.controller import telemetry
    from kubeline.controller.kube import LeaseElection
    from kubeline.controller.leader import identity, lease_namespace

    async with telemetry.serving(args.metrics_address):
        election = None
        if args.leader_election:
            namespace = lease_namespace(args.lease_namespace, os.environ, args.namespace)
            election = LeaseElection(namespace, args.lease_name, identity(os.environ), timings, telemetry.set_leader)
            await election.lead()
        else:
            telemetry.set_leader(True)
        try:
            await kopf.operator(standalone=True, namespaces=args.namespace, clusterwide=not args.namespace)
        finally:
            if election and await _requests_finished(timings.lease_duration):
                election.release()


async def _requests_finished(within: float) -> bool:
    """Whether the reconcilers' requests, still running in worker threads after kopf cancelled their tasks,
    ended within ``within`` seconds: a standby must not act while a request of this replica may still land
    (a status written over, a pod created that the new leader deleted). Else the Lease is left to expire."""
    import asyncio

    # not wait_for: cancelling the shutdown joins its thread, which would block the loop until they end anyway
    shutdown = asyncio.create_task(asyncio.get_running_loop().shutdown_default_executor())
    finished, _ = await asyncio.wait({shutdown}, timeout=within)
    return bool(finished)
