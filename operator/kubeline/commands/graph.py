"""`kubeline graph`: draw a pipeline or a run's DAG as the web UI draws it (SVG, PNG or DOT), with Graphviz."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal, cast

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import (
    add_command,
    add_namespace_argument,
    cluster_client,
    load_pipeline_file,
    local_run_dir,
)

FORMATS = ("svg", "png", "dot")


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "graph",
        graph_command,
        help="draw a pipeline's or a run's DAG (SVG, PNG or DOT)",
        description=(
            "Draw the DAG of a pipeline file (YAML or Python), of a Run YAML document (coloured by its steps' "
            "phases), of a local run made by `kubeline run` or of a Run or Pipeline on the cluster (by name; -n "
            "for the cluster's when both exist), as the web UI draws it. SVG and PNG need "
            "Graphviz's dot program."
        ),
    )
    parser.add_argument("source", metavar="FILE_OR_RUN", help="a Pipeline or Run file, or a Run or Pipeline's name")
    parser.add_argument(
        "-o", "--output", required=True, help="the drawing's file (dag.svg, dag.png, dag.dot); - for standard output"
    )
    parser.add_argument("--format", choices=FORMATS, help="the drawing's format (default: the output's suffix)")
    parser.add_argument("--function", help="the @dsl.pipeline function, when a Python file has several")
    add_namespace_argument(parser)


def graph_command(args: argparse.Namespace) -> int:
    from kubeline.ui.graph import pipeline_graph
    from kubeline.ui.layout import LayoutError, render, to_dot

    fmt = _format(args)
    spec, tasks = _source(args)
    dot_text = to_dot(pipeline_graph(spec, tasks))
    try:
        data = render(dot_text, fmt) if fmt != "dot" else dot_text.encode()
    except LayoutError as error:
        raise PipelineInvalid([Issue("-o", str(error))]) from None
    _write(data, args.output)
    return 0


def _format(args: argparse.Namespace) -> Literal["svg", "png", "dot"]:
    """From --format, else the output's suffix; standard output gets DOT text unless --format says otherwise."""
    chosen: str = args.format or ("dot" if args.output == "-" else Path(args.output).suffix.lstrip(".").lower())
    if chosen in FORMATS:
        return cast(Literal["svg", "png", "dot"], chosen)
    raise PipelineInvalid(
        [Issue(f"-o {args.output}", "name the drawing's format: end the file in .svg, .png or .dot, or give --format")]
    )


def _source(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The pipeline spec to draw and, for a run, its steps' statuses."""
    path = Path(args.source)
    if path.is_file():
        return _from_file(path, args.function)
    if path.suffix in (".yaml", ".yml", ".json", ".py") or "/" in args.source:
        raise PipelineInvalid(
            [Issue(args.source, "no such file: give a pipeline file, or a Run's name on the cluster")]
        )
    from kubeline.ui.local import RUN_DOCUMENT

    local = local_run_dir(args.source, args.namespace)
    if local is not None and (local / RUN_DOCUMENT).is_file():
        return _from_file(local / RUN_DOCUMENT, None)
    return _from_cluster(args)


def _from_file(path: Path, function: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A Run document with a status (as `kubectl get run -o yaml` writes it) is drawn with its steps; any
    other file is read as `kubeline run` reads it."""
    if path.suffix != ".py":
        from kubeline.api.yamlio import read_documents

        documents = read_documents(path)
        first = documents[0] if documents else None
        if isinstance(first, dict) and first.get("kind") == "Run" and isinstance(first.get("status"), dict):
            return _from_run(first, str(path))
    loaded = load_pipeline_file(path, function)
    return loaded.spec.to_dict(), None


def _from_run(run: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    status = run["status"]
    spec = status.get("pipelineSpec") or (run.get("spec") or {}).get("pipelineSpec")
    if not isinstance(spec, dict):
        raise PipelineInvalid(
            [Issue(f"{where}: status.pipelineSpec", "this Run records no pipeline yet: draw its Pipeline's file")]
        )
    tasks = status.get("tasks")
    return spec, tasks if isinstance(tasks, dict) else {}


def _from_cluster(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A Run of that name on the cluster, else a Pipeline of that name."""
    import json

    client = cluster_client(args)
    try:
        detail = client.get_run(args.source)
    except ValueError:
        try:
            pipeline = client.get_pipeline_document(args.source)
        except ValueError:
            raise PipelineInvalid(
                [
                    Issue(
                        args.source,
                        f"no Run or Pipeline of that name in namespace {client.namespace!r} (and no such file): "
                        "`kubeline get` lists the runs; give -n for another namespace",
                    )
                ]
            ) from None
        return pipeline.get("spec") or {}, None
    return _from_run(json.loads(detail.pipeline_runtime.workflow_manifest), args.source)


def _write(data: bytes, output: str) -> None:
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as error:
        raise PipelineInvalid(
            [Issue(f"-o {output}", f"cannot write there ({error.strerror or error}): choose a file you can write")]
        ) from None
