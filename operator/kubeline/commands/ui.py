"""`kubeline ui`: the web UI on this machine, with your own kube context and permissions (or local runs)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kubeline.commands.common import add_command


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "ui",
        ui_command,
        help="serve the web UI: runs, their graphs, logs and metrics (a cluster's, or local runs with --local)",
        description=(
            "Serve the web UI on this machine and print its URL. It acts with your kube context's identity and "
            "permissions (what `kubectl` may do, the UI may do); --local shows the runs `kubeline run` made under "
            "$KUBELINE_HOME instead. Stop it with Ctrl-C."
        ),
    )
    parser.add_argument("--local", action="store_true", help="show local runs ($KUBELINE_HOME/runs), not a cluster's")
    parser.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; another address needs --allow-remote)",
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765; 0: any free port)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace of the runs (default: the kube context's)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="runs of every namespace you may list")
    parser.add_argument(
        "--in-cluster", action="store_true", help="use the pod's service account (the Helm chart's deployment)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow an --address other machines can reach: anyone who reaches it acts with YOUR identity (kube "
        "context or local files), with no login; prefer `kubectl port-forward` or the Helm chart's deployment",
    )
    parser.add_argument("--read-only", action="store_true", help="no actions: no cancel, retry, clone, delete or start")
    parser.add_argument("--base-path", default="", help="URL prefix, e.g. /kubeline behind an Ingress that keeps it")
    parser.add_argument("--open", action="store_true", help="open the UI in a web browser")


def remote_refusal(address: str, *, in_cluster: bool, allow_remote: bool) -> str | None:
    """Why not to listen on ``address``: the UI has no login and acts as the user who started it, so only the
    loopback interface is safe, unless it runs with its own service account (--in-cluster) or the user insists."""
    from kubeline.ui.server import is_loopback

    if in_cluster or allow_remote or is_loopback(address):
        return None
    return (
        f"refusing to listen on {address}: the UI has no login, and anyone reaching it would act with your "
        "identity; use 127.0.0.1 (and `kubectl port-forward` or an SSH tunnel), or pass --allow-remote"
    )


def ui_command(args: argparse.Namespace) -> int:
    import asyncio

    from kubeline.ui.server import serve
    from kubeline.ui.sources import Source

    refusal = remote_refusal(args.address, in_cluster=args.in_cluster, allow_remote=args.allow_remote)
    if refusal:
        print(f"kubeline: {refusal}", file=sys.stderr)
        return 2
    source: Source
    if args.local:
        from kubeline.ui.local import LocalSource

        source = LocalSource(read_only=args.read_only)
    else:
        from kubeline.ui.cluster import ClusterSource

        source = ClusterSource(
            namespace=args.namespace,
            all_namespaces=args.all_namespaces,
            in_cluster=args.in_cluster,
            read_only=args.read_only,
        )

    def ready(url: str) -> None:
        print(f"kubeline UI: {url}", flush=True)
        print(f"showing {source.label}; Ctrl-C stops it", file=sys.stderr, flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    try:
        asyncio.run(serve(source, args.address, args.port, ready, args.base_path))
    except OSError as error:
        print(f"kubeline: cannot listen on {args.address}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 2
    return 0
