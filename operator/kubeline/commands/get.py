"""`kubeline get`: the Runs on the cluster (or the Pipelines), or one Run's steps, phases and outputs.

Pipelines and Runs show the names people gave them (KFP's names, which may hold spaces: the display-name
annotation), beside the resources' own names."""

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
    parser.add_argument("--pipelines", action="store_true", help="list the Pipelines instead of the Runs")
    parser.add_argument("--json", action="store_true", help="print JSON")


def get_command(args: argparse.Namespace) -> int:
    from kubeline.commands.display import plain_console

    client = cluster_client(args)
    console = plain_console()
    if args.pipelines:
        _list_pipelines(client, console, args)
    elif args.run is None:
        _list_runs(client, console, args)
    else:
        _show_run(client.get_run(args.run).run, console, args)
    return 0


def _list_runs(client: Any, console: Any, args: argparse.Namespace) -> None:
    from rich.table import Table

    runs = client.runs(args.experiment)
    if args.json:
        print(
            json.dumps(
                [
                    {"name": r.resource_name, "displayName": r.name, "phase": r.phase, "progress": r.progress}
                    for r in runs
                ],
                indent=2,
            )
        )
        return
    pipelines = {p.resource_name: p.name for p in client.pipelines()}
    table = Table("run", "pipeline", "phase", "progress", "duration", "experiment")
    for run in runs:
        table.add_row(
            _named(run.resource_name, run.name),
            pipelines.get(run.pipeline, run.pipeline or ""),
            run.phase or "",
            run.progress or "",
            run.run_status.get("duration", ""),
            run.experiment or "",
        )
    console.print(table)


def _list_pipelines(client: Any, console: Any, args: argparse.Namespace) -> None:
    from rich.table import Table

    pipelines = client.pipelines()
    if args.json:
        print(
            json.dumps(
                [{"name": p.resource_name, "displayName": p.name, "description": p.description} for p in pipelines],
                indent=2,
            )
        )
        return
    table = Table("pipeline", "name", "description", "created")
    for pipeline in pipelines:
        created = pipeline.created_at.isoformat() if pipeline.created_at else ""
        table.add_row(pipeline.resource_name, pipeline.name, pipeline.description or "", created)
    console.print(table)


def _named(resource_name: str, display_name: str) -> str:
    """A resource's name, with the name people gave it when that differs."""
    return resource_name if display_name == resource_name else f"{resource_name} ({display_name})"


def _show_run(run: Any, console: Any, args: argparse.Namespace) -> None:
    from rich.table import Table

    from kubeline.commands.display import print_metrics

    if args.json:
        print(json.dumps({k: v for k, v in run.run_status.items() if k != "pipelineSpec"}, indent=2))
        return
    title = f"run {_named(run.resource_name, run.name)}: {run.phase} {run.progress or ''}"
    table = Table(title=title, title_justify="left")
    for column in ("step", "phase", "attempts", "node", "outputs", "message"):
        table.add_column(column, overflow="fold")
    for step, task in (run.run_status.get("tasks") or {}).items():
        outputs = ", ".join(f"{k}={v}" for k, v in (task.get("outputs") or {}).items())
        phase = task.get("phase", "") + (" (cached)" if task.get("cached") else "")
        if task.get("reusedFrom"):
            phase += f" (reused from {task['reusedFrom']})"
        table.add_row(
            step, phase, str(task.get("attempts", "")), task.get("node", ""), outputs, task.get("message", "")
        )
    console.print(table)
    if run.outputs:
        console.print("outputs: " + ", ".join(f"{k}={v}" for k, v in run.outputs.items()))
    print_metrics(console, run.run_status.get("metrics") or {})
