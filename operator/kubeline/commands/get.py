"""`kubeline get`: the Runs on the cluster, or one Run's steps, phases and outputs."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kubeline.commands.common import add_command, add_namespace_argument, cluster_client


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "get",
        get_command,
        help="show runs on the cluster, or one run's steps",
        description="List Runs, or show one Run's steps, phases and outputs.",
    )
    parser.add_argument("run", nargs="?", help="a Run's name (default: list runs)")
    add_namespace_argument(parser)
    parser.add_argument("--experiment", help="only runs of this experiment")
    parser.add_argument("--json", action="store_true", help="print JSON")


def get_command(args: argparse.Namespace) -> int:
    from kubeline.commands.display import plain_console

    client = cluster_client(args)
    console = plain_console()
    if args.run is None:
        _list_runs(client, console, args)
    else:
        _show_run(client.get_run(args.run), console, args)
    return 0


def _list_runs(client: Any, console: Any, args: argparse.Namespace) -> None:
    from rich.table import Table

    runs = client.list_runs(args.experiment)
    if args.json:
        print(json.dumps([{"name": r.name, "phase": r.phase, "progress": r.progress} for r in runs], indent=2))
        return
    table = Table("run", "phase", "progress", "duration", "experiment")
    for run in runs:
        table.add_row(
            run.name, run.phase or "", run.progress or "", run.status.get("duration", ""), run.experiment or ""
        )
    console.print(table)


def _show_run(run: Any, console: Any, args: argparse.Namespace) -> None:
    from rich.table import Table

    from kubeline.commands.display import print_metrics

    if args.json:
        print(json.dumps({k: v for k, v in run.status.items() if k != "pipelineSpec"}, indent=2))
        return
    table = Table(title=f"run {run.name}: {run.phase} {run.progress or ''}", title_justify="left")
    for column in ("step", "phase", "attempts", "node", "outputs", "message"):
        table.add_column(column, overflow="fold")
    for step, task in (run.status.get("tasks") or {}).items():
        outputs = ", ".join(f"{k}={v}" for k, v in (task.get("outputs") or {}).items())
        phase = task.get("phase", "") + (" (cached)" if task.get("cached") else "")
        table.add_row(
            step, phase, str(task.get("attempts", "")), task.get("node", ""), outputs, task.get("message", "")
        )
    console.print(table)
    if run.outputs:
        console.print("outputs: " + ", ".join(f"{k}={v}" for k, v in run.outputs.items()))
    print_metrics(console, run.status.get("metrics") or {})
