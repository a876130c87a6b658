"""`kubeline submit`: the Pipeline and a Run of it on the cluster of the current kube context."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kubeline.commands.common import (
    add_command,
    add_file_arguments,
    add_namespace_argument,
    add_param_argument,
    bind_or_explain,
    cluster_client,
    load_pipeline_file,
    parse_params,
    wait_and_report,
)

if TYPE_CHECKING:
    from kubeline.engine.documents import LoadedPipeline


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "submit",
        submit_command,
        help="create the Pipeline and a Run on the cluster of the current kube context",
        description="Apply a pipeline (YAML, or Python compiled on the fly) to the cluster and start a Run of it.",
    )
    add_file_arguments(
        parser,
        "Pipeline YAML file or Python pipeline file",
        function_help="with a Python file: the @dsl.pipeline function",
    )
    add_param_argument(parser, "run argument (repeatable)")
    add_namespace_argument(parser)
    parser.add_argument("--experiment", help="experiment name, kept as the label kubeline.dev/experiment")
    parser.add_argument("--name", help="run name (default: generated from the pipeline name)")
    parser.add_argument("--wait", action="store_true", help="wait for the run to finish; exit 0 only when it succeeded")


def pipeline_document(loaded: LoadedPipeline) -> dict[str, Any]:
    """The Pipeline resource of a file as submitted: its name, its display name and description kept."""
    from kubeline.api.constants import API_VERSION

    metadata: dict[str, Any] = {"name": loaded.name}
    given = loaded.document.get("metadata")
    annotations = given.get("annotations") if isinstance(given, dict) else None
    if isinstance(annotations, dict) and annotations and all(isinstance(v, str) for v in annotations.values()):
        metadata["annotations"] = annotations  # the display name, kept for `kubectl get` and the UI
    return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": metadata, "spec": loaded.spec.to_dict()}


def submit_command(args: argparse.Namespace) -> int:
    loaded = load_pipeline_file(args.file, function=args.function)
    arguments = {**loaded.run_arguments, **parse_params(args.param)}
    bind_or_explain(loaded.plan, arguments)  # wrong arguments fail here, not on the cluster
    document = pipeline_document(loaded)
    client = cluster_client(args)
    run = client.create_run_from_pipeline_document(document, arguments, args.name, args.experiment)
    created = run.resource_name
    print(f"run {created} of pipeline {loaded.name} created in namespace {run.namespace}")
    print(
        f"  follow it: kubectl get run {created} -n {run.namespace} -w   or   kubeline get {created} -n {run.namespace}"
    )
    return wait_and_report(client, created) if args.wait else 0
