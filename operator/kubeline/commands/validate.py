"""`kubeline validate`: every problem of each pipeline file, naming the field, without running anything.

A file may hold RecurringRuns and Queues too (beside its pipeline, or alone): their schema, a RecurringRun's
schedule (it must be able to fire) and its arguments, against the file's pipeline when it refers to it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import EXIT_INVALID, add_command, load_pipeline_file, print_problems

#: Kinds checked on their own, beside (or without) a pipeline.
_RESOURCE_KINDS = ("RecurringRun", "Queue")


def add_to(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "validate",
        validate_command,
        help="check pipeline files and report every problem, naming the field",
        description="Check Pipeline files (and RecurringRuns and Queues) without running them. Exit status 2 when "
        "any has a problem.",
    )
    parser.add_argument("files", type=Path, nargs="+", help="Pipeline YAML files (RecurringRuns and Queues too)")


def validate_command(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        try:
            verdicts = _validate(path)
        except PipelineInvalid as invalid:
            print_problems(invalid, str(path))
            status = EXIT_INVALID
            continue
        for verdict in verdicts:
            print(f"{path}: {verdict}")
    return status


def _validate(path: Path) -> list[str]:
    """What the file holds, each said valid; PipelineInvalid with every problem of every document."""
    from kubeline.api.yamlio import read_documents
    from kubeline.engine.documents import LoadedPipeline, pipeline_from_documents, run_argument_problems

    if path.suffix == ".py":
        resources, others = [], None
    else:
        documents = read_documents(path)
        resources = [d for d in documents if isinstance(d, dict) and d.get("kind") in _RESOURCE_KINDS]
        others = [d for d in documents if not (isinstance(d, dict) and d.get("kind") in _RESOURCE_KINDS)]
    loaded: LoadedPipeline | None = None
    issues: list[Issue] = []
    if others or not resources:
        try:
            loaded = (
                load_pipeline_file(path) if others is None else pipeline_from_documents(others, str(path), path.stem)
            )
            issues += run_argument_problems(loaded)
        except PipelineInvalid as invalid:
            issues += invalid.issues
    verdicts = []
    for resource in resources:
        try:
            verdicts.append(_check_resource(resource, loaded))
        except PipelineInvalid as invalid:
            issues += [
                Issue(f"{_label(resource)}.{i.path}" if i.path else _label(resource), i.message) for i in invalid.issues
            ]
    if issues:
        raise PipelineInvalid(issues)
    if loaded is not None:
        steps = loaded.plan.steps()
        verdicts.insert(0, f"pipeline {loaded.name!r} is valid ({steps} step{'s' if steps != 1 else ''})")
    return verdicts


def _check_resource(resource: dict[str, Any], loaded: Any) -> str:
    """A RecurringRun (its arguments checked against the file's pipeline when it refers to it) or a Queue."""
    from pydantic import ValidationError

    from kubeline.api.models import Queue
    from kubeline.engine.errors import pydantic_issues
    from kubeline.sdk.recurring import check_recurring_run, name_issues

    if resource["kind"] == "Queue":
        issues = name_issues(resource)
        try:
            queue = Queue.model_validate(resource)
        except ValidationError as error:
            issues = pydantic_issues(error, resource) + issues
        if issues:
            raise PipelineInvalid(issues)
        return f"Queue {queue.metadata.name!r} is valid (at most {queue.spec.max_running} running)"
    ref = (((resource.get("spec") or {}).get("template") or {}).get("spec") or {}).get("pipelineRef") or {}
    pipeline = loaded.spec if loaded is not None and ref.get("name") == loaded.name else None
    recurring = check_recurring_run(resource, pipeline=pipeline)
    schedule = recurring.spec.schedule
    when = f"cron {schedule.cron!r}" if schedule.cron else f"every {schedule.interval}"
    return f"RecurringRun {recurring.metadata.name!r} is valid ({when})"


def _label(resource: dict[str, Any]) -> str:
    """How problems in a resource beside the pipeline are prefixed: ``RecurringRun[nightly]``."""
    metadata = resource.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{resource['kind']}[{name}]" if isinstance(name, str) and name else str(resource["kind"])
