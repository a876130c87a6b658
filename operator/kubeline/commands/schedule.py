"""`kubeline schedule`: RecurringRuns (a pipeline run on a cron schedule or an interval) on the cluster, and
`schedule next` to see when an expression fires, without a cluster.

`create` takes what `kubeline submit` takes (a Pipeline YAML or a Python file, its spec kept inside the
RecurringRun, as KFP's jobs keep theirs: a later edit of the file changes no schedule) or the name of a
Pipeline already on the cluster (referred to by name: a GitOps user updates that Pipeline and the schedule
follows); everything is checked before anything is created, and a problem names the flag (exit status 2)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.commands.common import (
    add_command,
    add_namespace_argument,
    add_param_argument,
    cluster_client,
    load_pipeline_file,
    parse_params,
)

#: The RecurringRun's fields by the flag that sets them, for problems that name the flag.
FLAGS = {
    "metadata.name": "--name",
    "spec.schedule.cron": "--cron",
    "spec.schedule.timeZone": "--timezone",
    "spec.schedule.interval": "--every",
    "spec.schedule.startTime": "--start",
    "spec.schedule.endTime": "--end",
    "spec.schedule": "--cron or --every",
    "spec.maxConcurrency": "--max-concurrency",
    "spec.concurrencyPolicy": "--policy",
    "spec.experiment": "--experiment",
    "spec.successfulRunsHistoryLimit": "--keep-succeeded",
    "spec.failedRunsHistoryLimit": "--keep-failed",
    "spec.template.spec.arguments": "-p",
}
_PIPELINE_FILES = (".py", ".yaml", ".yml")
#: Most firings `schedule next` prints: enough to check a year of a daily expression, and it returns at once.
MAX_COUNT = 1000


def add_to(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="run a pipeline on a schedule (RecurringRuns), or see when a cron expression fires",
        description="Create, list, suspend, resume and delete RecurringRuns; `schedule next` shows firing times.",
    )
    commands = parser.add_subparsers(dest="schedule_command", metavar="SUBCOMMAND", required=True)
    _add_create(commands)
    listing = add_command(
        commands, "list", list_command, help="list RecurringRuns", description="List the RecurringRuns."
    )
    add_namespace_argument(listing)
    listing.add_argument("-A", "--all-namespaces", action="store_true", help="of every namespace")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for name, action in _ACTIONS.items():
        one = add_command(
            commands, name, action_command, help=action.help, description=action.help[0].upper() + action.help[1:] + "."
        )
        one.add_argument("name", help="the RecurringRun's name")
        add_namespace_argument(one)
        if name == "delete":
            one.add_argument(
                "--with-runs", action="store_true", help="delete the Runs it made too (by default they stay, as in KFP)"
            )
    upcoming = add_command(
        commands,
        "next",
        next_command,
        help="print the next times a cron expression fires (no cluster needed)",
        description="Check a cron expression: 5 fields, or 6 with seconds first (KFP's), or @daily and the like.",
    )
    upcoming.add_argument("expression", metavar="EXPR", help="a cron expression, e.g. '0 2 * * 1-5'")
    upcoming.add_argument("--timezone", help="IANA time zone the expression is read in (default UTC)")
    upcoming.add_argument(
        "--count", type=int, default=5, help=f"how many times to print (default 5, at most {MAX_COUNT})"
    )
    upcoming.add_argument("--after", help="start from this RFC 3339 time (default: now)")


def _add_create(commands: Any) -> None:
    parser = add_command(
        commands,
        "create",
        create_command,
        help="create a RecurringRun of a pipeline file or of a Pipeline on the cluster",
        description="Run a pipeline on a cron schedule (--cron) or every DURATION (--every). A pipeline file's "
        "spec is kept inside the RecurringRun (no Pipeline is made); a bare name refers to a Pipeline on the "
        "cluster, whose updates its Runs follow.",
    )
    parser.add_argument("pipeline", metavar="FILE_OR_PIPELINE", help="Pipeline YAML, Python file, or Pipeline name")
    parser.add_argument("--function", help="with a Python file: the @dsl.pipeline function")
    trigger = parser.add_mutually_exclusive_group(required=True)
    trigger.add_argument("--cron", help="cron expression: 5 fields, or 6 with seconds first, e.g. '0 2 * * *'")
    trigger.add_argument("--every", metavar="DURATION", help="a fixed interval, e.g. 30s, 15m, 1h")
    parser.add_argument("--timezone", help="with --cron: the IANA time zone it is read in (default UTC)")
    add_param_argument(parser, "argument of every Run (repeatable)")
    parser.add_argument("--name", help="the RecurringRun's name (default: the pipeline's)")
    parser.add_argument("--experiment", help="experiment of the Runs (label kubeline.dev/experiment)")
    parser.add_argument("--max-concurrency", type=int, help="most Runs active at once (default 10)")
    parser.add_argument(
        "--policy",
        choices=("allow", "forbid", "replace"),
        default="allow",
        help="a trigger while Runs are active: allow (up to --max-concurrency), forbid (skip it), replace (cancel them)",
    )
    parser.add_argument(
        "--no-catchup", action="store_true", help="after an outage or suspension, make only the latest missed Run"
    )
    parser.add_argument("--start", help="no Run before this RFC 3339 time")
    parser.add_argument("--end", help="no Run after this RFC 3339 time")
    parser.add_argument("--suspended", action="store_true", help="create it suspended (resume it later)")
    parser.add_argument("--keep-succeeded", type=int, metavar="N", help="keep the N latest succeeded Runs")
    parser.add_argument("--keep-failed", type=int, metavar="N", help="keep the N latest failed Runs")
    add_namespace_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="create nothing: print what would be created")
    parser.add_argument("-o", "--output", choices=("yaml",), help="print the RecurringRun as YAML (--dry-run does)")


def create_command(args: argparse.Namespace) -> int:
    from kubeline.api import yamlio
    from kubeline.api.names import experiment_key
    from kubeline.engine.plan import load_spec
    from kubeline.sdk.recurring import check_recurring_run, recurring_run_document

    if args.timezone and not args.cron:
        raise PipelineInvalid([Issue("--timezone", "applies to --cron only: an --every interval needs no time zone")])
    arguments = parse_params(args.param)
    client = None
    inline = _is_file(args.pipeline)
    if inline:
        from kubeline.commands.submit import pipeline_document

        loaded = load_pipeline_file(Path(args.pipeline), function=args.function)
        arguments = {**loaded.run_arguments, **arguments}
        pipeline = pipeline_document(loaded)
        spec = loaded.spec
    else:
        _check_pipeline_name(args.pipeline)
        pipeline, spec = {"metadata": {"name": args.pipeline}}, None
        if not args.dry_run:
            client = cluster_client(args)
            pipeline = _found(lambda: client.get_pipeline_document(args.pipeline), "FILE_OR_PIPELINE")
            spec = load_spec(pipeline["spec"])
    document = recurring_run_document(
        args.name or pipeline["metadata"]["name"],
        pipeline,
        inline=inline,
        cron=args.cron,
        time_zone=args.timezone,
        interval=args.every,
        start_time=args.start,
        end_time=args.end,
        arguments=arguments,
        experiment=experiment_key(args.experiment) if args.experiment else None,
        max_concurrency=args.max_concurrency,
        concurrency_policy=args.policy.capitalize(),
        catch_up=not args.no_catchup,
        suspend=args.suspended,
        keep_succeeded=args.keep_succeeded,
        keep_failed=args.keep_failed,
    )
    check_recurring_run(document, FLAGS, spec)
    if args.dry_run:
        print(yamlio.dump(document), end="")
        return 0
    client = client or cluster_client(args)
    if args.experiment:
        client.create_experiment(args.experiment)
    created = client.create_recurring_run_document(document)
    if args.output == "yaml":
        print(yamlio.dump(document), end="")
        return 0
    print(f"recurring run {created.resource_name} ({created.schedule}) created in namespace {created.namespace}")
    print(f"  its Runs: kubectl get runs -n {created.namespace} -l kubeline.dev/recurring-run={created.resource_name}")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    from kubeline.commands.display import plain_console, visible

    jobs = cluster_client(args).recurring_runs(all_namespaces=args.all_namespaces)
    if args.json:
        print(json.dumps([_job_json(job) for job in jobs], indent=2))
        return 0
    columns = ["name", "schedule", "time zone", "next", "last", "active", "suspended", "message"]
    table = Table(*(["namespace"] if args.all_namespaces else []), *columns)
    for job in jobs:
        row = [
            job.resource_name,
            job.schedule,
            job.time_zone or ("UTC" if job.trigger.cron_schedule else ""),
            _time(job.next_schedule_time),
            _time(job.last_schedule_time),
            str(len(job.active)),
            "yes" if not job.enabled else "no",
            job.message or "",
        ]
        table.add_row(*(visible(cell) for cell in ([job.namespace] if args.all_namespaces else []) + row))
    plain_console().print(table)
    return 0


@dataclass(frozen=True)
class _Action:
    """A subcommand that does one thing to one RecurringRun: the Client's call, and what to say once done."""

    help: str
    call: str
    done: str


_ACTIONS = {
    "suspend": _Action(
        "make no Runs until resumed (Runs made go on)",
        "disable_job",
        "recurring run {name} suspended: no Runs are made until `kubeline schedule resume {name}`",
    ),
    "resume": _Action(
        "make Runs again; missed triggers are caught up unless --no-catchup was given",
        "enable_job",
        "recurring run {name} resumed",
    ),
    "delete": _Action(
        "delete the RecurringRun: no more Runs are made; the Runs it made stay unless --with-runs",
        "delete_job",
        "recurring run {name} deleted",
    ),
}


def action_command(args: argparse.Namespace) -> int:
    """suspend, resume or delete NAME; a name the cluster does not know is a problem with NAME."""
    action = _ACTIONS[args.schedule_command]
    client = cluster_client(args)
    options = {"delete_runs": True} if getattr(args, "with_runs", False) else {}
    _found(lambda: getattr(client, action.call)(args.name, **options), "NAME")
    print(action.done.format(name=args.name))
    return 0


def next_command(args: argparse.Namespace) -> int:
    from kubeline.sdk.recurring import check_schedule

    if not 1 <= args.count <= MAX_COUNT:
        raise PipelineInvalid([Issue("--count", f"must be from 1 to {MAX_COUNT}, not {args.count}")])
    names = {"spec.schedule.cron": "EXPR", "spec.schedule.timeZone": "--timezone"}
    trigger = check_schedule({"cron": args.expression, "timeZone": args.timezone}, names)
    moment = _after(args.after)
    for _ in range(args.count):
        fire = trigger.next_after(moment)
        if fire is None:
            break
        print(fire.astimezone(trigger.zone).isoformat())
        moment = fire
    return 0


def _after(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise PipelineInvalid([Issue("--after", f"{text!r} is not an RFC 3339 time: write e.g. 2026-12-01T02:00:00Z")])
    return moment


def _is_file(argument: str) -> bool:
    return Path(argument).suffix in _PIPELINE_FILES or Path(argument).exists()


def _check_pipeline_name(name: str) -> None:
    from kubeline.api.names import name_problem

    if name_problem(name):
        raise PipelineInvalid(
            [
                Issue(
                    "FILE_OR_PIPELINE",
                    f"{name!r} is no pipeline file (.py, .yaml) here nor a Pipeline's name: give a file, or the name "
                    "of a Pipeline on the cluster (`kubeline get --pipelines` lists them)",
                )
            ]
        )


def _found(call: Any, argument: str) -> Any:
    """The client's answer; a name it does not know (its ValueError) is a problem with ``argument``."""
    try:
        return call()
    except PipelineInvalid:
        raise
    except ValueError as error:
        raise PipelineInvalid([Issue(argument, str(error))]) from None


def _time(moment: datetime | None) -> str:
    return moment.isoformat() if moment else ""


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "name": job.resource_name,
        "namespace": job.namespace,
        "schedule": job.schedule,
        "timeZone": job.time_zone,
        "next": _time(job.next_schedule_time),
        "last": _time(job.last_schedule_time),
        "active": job.active,
        "suspended": not job.enabled,
        "message": job.message,
    }
