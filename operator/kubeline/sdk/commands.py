"""`kubeline compile`, and the cluster commands `submit`, `get` and `logs`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.api.yamlio import write
from kubeline.engine import stepid
from kubeline.engine.errors import Issue, PipelineInvalid
from kubeline.sdk.loader import pipeline_document_from_python


def compile_command(args: argparse.Namespace) -> int:
    write_output(pipeline_document_from_python(args.file, args.function), args.output)
    return 0


def write_output(document: Any, output: Path | None, summary: str = "") -> None:
    """A command's YAML result (``-o FILE``), its missing parent folders created as `mkdir -p` would:
    the user named the place; a write that still fails is a problem with that path, not a crash."""
    try:
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
        write(document, output, summary)
    except OSError as error:
        reason = error.strerror or str(error)
        if isinstance(error, (FileExistsError, NotADirectoryError)):
            reason = "a part of the path is a file, not a folder"
        raise PipelineInvalid(
            [
                Issue(
                    f"-o {output}",
                    f"cannot write the result there ({reason}): choose a file path in a folder you can write to",
                )
            ]
        ) from None


def _client(args: argparse.Namespace):
    from kubeline.sdk.client import Client

    return Client(namespace=args.namespace)


def submit_command(args: argparse.Namespace) -> int:
    from kubeline.api.constants import API_VERSION
    from kubeline.cli import bind_or_explain, parse_params
    from kubeline.loading import load_pipeline_file

    loaded = load_pipeline_file(args.file, function=args.function)
    arguments = {**loaded.run_arguments, **parse_params(args.param)}
    bind_or_explain(loaded.plan, arguments)  # wrong arguments fail here, not on the cluster
    metadata: dict[str, Any] = {"name": loaded.name}
    given = loaded.document.get("metadata")
    annotations = given.get("annotations") if isinstance(given, dict) else None
    if isinstance(annotations, dict) and annotations and all(isinstance(v, str) for v in annotations.values()):
        metadata["annotations"] = annotations  # the display name, kept for `kubectl get` and the UI
    document = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": metadata, "spec": loaded.spec.to_dict()}
    client = _client(args)
    run = client.create_run_from_pipeline_document(document, arguments, args.name, args.experiment)
    print(f"run {run.name} of pipeline {loaded.name} created in namespace {run.namespace}")
    print(
        f"  follow it: kubectl get run {run.name} -n {run.namespace} -w   or   kubeline get {run.name} -n {run.namespace}"
    )
    if not args.wait:
        return 0
    finished = client.wait_for_run_completion(run.name)
    print(f"{finished.phase}: {finished.status.get('message', '')}")
    for name, value in finished.outputs.items():
        print(f"  {name} = {value}")
    return 0 if finished.phase == "Succeeded" else 1


def get_command(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from kubeline.display import plain_console

    client = _client(args)
    console = plain_console()
    if args.run is None:
        runs = client.list_runs(args.experiment)
        if args.json:
            print(json.dumps([{"name": r.name, "phase": r.phase, "progress": r.progress} for r in runs], indent=2))
            return 0
        table = Table("run", "phase", "progress", "duration", "experiment")
        for run in runs:
            table.add_row(
                run.name, run.phase or "", run.progress or "", run.status.get("duration", ""), run.experiment or ""
            )
        console.print(table)
        return 0
    run = client.get_run(args.run)
    if args.json:
        print(json.dumps({k: v for k, v in run.status.items() if k != "pipelineSpec"}, indent=2))
        return 0
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
    return 0


def logs_command(args: argparse.Namespace) -> int:
    if args.task:
        try:
            stepid.parse(args.task)
        except ValueError as error:
            raise PipelineInvalid([Issue("STEP", str(error))]) from None
    for step, text in _client(args).logs(args.run, args.task, follow=args.follow).items():
        print(f"==> {step} <==")
        print(text.rstrip("\n"))
    return 0
