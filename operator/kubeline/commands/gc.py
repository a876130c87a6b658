"""`kubeline gc`: delete from an artifact store the objects no cache record (nor live run) uses any more."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import EXIT_FAILED, add_command, cluster_client


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "gc",
        gc_command,
        help="delete unreferenced objects, old cache records and old local logs from an artifact store",
        description=(
            "Delete from an artifact store the cache records older than --keep, then every object that no "
            "remaining record uses, except objects younger than --grace (uploads not yet recorded), and the "
            "logs of local runs older than --keep. With -n (or -A), also keep every object the namespace's (or "
            "every namespace's) Runs and CacheEntries refer to, and delete the logs of their Runs that no longer "
            "exist. Objects are shared by content: when namespaces share the store, use -A."
        ),
    )
    parser.add_argument(
        "-n",
        "--namespace",
        help="a cluster namespace whose Runs and CacheEntries use this store (read with the kube context)",
    )
    parser.add_argument(
        "-A", "--all-namespaces", action="store_true", help="every namespace's Runs and CacheEntries use this store"
    )
    parser.add_argument(
        "--artifact-store", metavar="URL", help="the store (as for `kubeline run`; default: $KUBELINE_HOME/store)"
    )
    parser.add_argument(
        "--keep", default="30d", help="cache records and local logs younger than this stay (default 30d)"
    )
    parser.add_argument("--grace", default="1h", help="objects younger than this stay, used or not (default 1h)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be deleted, delete nothing")


def gc_command(args: argparse.Namespace) -> int:
    from kubeline.api.durations import parse_duration
    from kubeline.backends.local import kubeline_home
    from kubeline.store import StoreError, open_store
    from kubeline.store.gc import collect
    from kubeline.store.layout import ObjectRef

    durations = {}
    for option in ("keep", "grace"):
        try:
            durations[option] = parse_duration(getattr(args, option))
        except ValueError as error:
            raise PipelineInvalid([Issue(f"--{option}", str(error))]) from None
    try:
        store = open_store(args.artifact_store or str(kubeline_home() / "store"))
    except ValueError as error:
        raise PipelineInvalid([Issue("--artifact-store", str(error))]) from None
    roots, cluster_runs = set(), None
    if args.namespace or args.all_namespaces:
        texts, cluster_runs = cluster_client(args).recorded_outputs(all_namespaces=args.all_namespaces)
        roots = {ref for text in texts if (ref := ObjectRef.parse(text)) is not None}
    try:
        report = collect(
            store,
            roots,
            durations["keep"],
            durations["grace"],
            time.time(),
            dry_run=args.dry_run,
            cluster_runs=cluster_runs,
        )
    except StoreError as error:
        print(f"kubeline gc: {error}", file=sys.stderr)
        return EXIT_FAILED
    for key in report.records + report.objects + report.logs:
        print(f"{'would delete' if args.dry_run else 'deleted'} {store.where(key)}")
    print(report.summary())
    return 0
