"""RecurringRuns as kubeline.Client, `kubeline schedule` and `kubeline validate` write and check them: one
document builder, one checker, one reading as KFP's ApiJob. Nothing here talks to the cluster.

The checker names each problem after what the caller wrote: KFP's argument (cron_expression), the command's
flag (--cron) or the document's field (spec.schedule.cron), so a bad schedule is refused before any
RecurringRun exists, with the fix, instead of an operator that never fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from kubeline.api import models
from kubeline.api.constants import (
    API_VERSION,
    DESCRIPTION_ANNOTATION,
    DISPLAY_NAME_ANNOTATION,
    EXPERIMENT_LABEL,
    PIPELINE_LABEL,
)
from kubeline.api.durations import parse_duration
from kubeline.api.names import name_problem
from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.engine.errors import pydantic_issues
from kubeline.engine.plan import build
from kubeline.engine.run import bind_arguments
from kubeline.engine.schedule import ScheduleInvalid, Trigger, read_schedule
from kubeline.sdk.results import display_name, parse_time

#: The document's fields by the name kubeline.Client.create_recurring_run gives them (KFP's arguments).
KFP_ARGUMENTS = {
    "metadata.name": "job_name",
    "spec.schedule.cron": "cron_expression",
    "spec.schedule.interval": "interval_second",
    "spec.schedule.startTime": "start_time",
    "spec.schedule.endTime": "end_time",
    "spec.schedule": "cron_expression or interval_second",
    "spec.maxConcurrency": "max_concurrency",
    "spec.experiment": "experiment_id",
    "spec.template.spec.arguments": "params",
}


@dataclass(frozen=True)
class CronSchedule:
    """KFP's ApiCronSchedule."""

    cron: str
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True)
class PeriodicSchedule:
    """KFP's ApiPeriodicSchedule."""

    interval_second: int
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True)
class JobTrigger:
    """KFP's ApiTrigger: one of the two schedules is set."""

    cron_schedule: CronSchedule | None = None
    periodic_schedule: PeriodicSchedule | None = None


@dataclass
class RecurringRunInfo:
    """A RecurringRun as KFP's ApiJob shows it (id, name, description, enabled, max_concurrency, no_catchup,
    trigger, created_at), with kubeline's own fields beside (time zone, policy, status)."""

    id: str
    name: str
    resource_name: str
    namespace: str
    description: str | None
    created_at: datetime | None
    enabled: bool
    max_concurrency: int | None
    no_catchup: bool
    trigger: JobTrigger
    time_zone: str | None
    concurrency_policy: str
    pipeline: str | None
    experiment: str | None
    next_schedule_time: datetime | None
    last_schedule_time: datetime | None
    active: list[str] = field(default_factory=list)
    message: str | None = None

    @property
    def mode(self) -> str:
        """KFP's ApiJob.mode."""
        return "ENABLED" if self.enabled else "DISABLED"

    @property
    def schedule(self) -> str:
        """The trigger in a word: the cron expression, or 'every 30s'."""
        if self.trigger.cron_schedule is not None:
            return self.trigger.cron_schedule.cron
        assert self.trigger.periodic_schedule is not None
        return f"every {self.trigger.periodic_schedule.interval_second}s"


def recurring_run_info(resource: dict[str, Any]) -> RecurringRunInfo:
    metadata, spec, status = resource["metadata"], resource.get("spec") or {}, resource.get("status") or {}
    schedule = spec.get("schedule") or {}
    start, end = parse_time(schedule.get("startTime")), parse_time(schedule.get("endTime"))
    if schedule.get("cron") is not None:
        trigger = JobTrigger(cron_schedule=CronSchedule(schedule["cron"], start, end))
    else:
        seconds = int(parse_duration(schedule.get("interval") or "0s"))
        trigger = JobTrigger(periodic_schedule=PeriodicSchedule(seconds, start, end))
    template = (spec.get("template") or {}).get("spec") or {}
    return RecurringRunInfo(
        id=str(metadata.get("uid") or ""),
        name=display_name(resource),
        resource_name=metadata["name"],
        namespace=metadata.get("namespace", ""),
        description=(metadata.get("annotations") or {}).get(DESCRIPTION_ANNOTATION),
        created_at=parse_time(metadata.get("creationTimestamp")),
        enabled=not spec.get("suspend", False),
        max_concurrency=spec.get("maxConcurrency"),
        no_catchup=not spec.get("catchUp", True),
        trigger=trigger,
        time_zone=schedule.get("timeZone"),
        concurrency_policy=spec.get("concurrencyPolicy", "Allow"),
        pipeline=(template.get("pipelineRef") or {}).get("name") or (metadata.get("labels") or {}).get(PIPELINE_LABEL),
        experiment=spec.get("experiment"),
        next_schedule_time=parse_time(status.get("nextScheduleTime")),
        last_schedule_time=parse_time(status.get("lastScheduleTime")),
        active=list(status.get("active") or []),
        message=status.get("message"),
    )


def recurring_run_document(
    name: str,
    pipeline: dict[str, Any],
    *,
    defaults: dict[str, Any] | None = None,
    inline: bool = False,
    cron: str | None = None,
    time_zone: str | None = None,
    interval: str | None = None,
    start_time: str | datetime | None = None,
    end_time: str | datetime | None = None,
    arguments: dict[str, Any] | None = None,
    experiment: str | None = None,
    max_concurrency: int | None = None,
    concurrency_policy: str | None = None,
    catch_up: bool = True,
    suspend: bool = False,
    keep_succeeded: int | None = None,
    keep_failed: int | None = None,
    display: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A RecurringRun of ``pipeline`` (a Pipeline document): by reference, or with its own copy of the spec when
    ``inline`` (a package, kept as it was when scheduled, as KFP's job keeps its workflow) or when ``defaults``
    change it (KFP's enable_caching, service_account). Its pipeline label names the pipeline a version belongs
    to. ``experiment`` is the experiment's label value; ``display`` the name as written, kept as an annotation
    when it differs from ``name``."""
    schedule = {
        "cron": cron,
        "timeZone": time_zone,
        "interval": interval,
        "startTime": start_time.isoformat() if isinstance(start_time, datetime) else start_time,
        "endTime": end_time.isoformat() if isinstance(end_time, datetime) else end_time,
    }
    template_spec = {**run_source(pipeline, defaults, inline=inline), "arguments": dict(arguments or {})}
    spec = {
        "schedule": _set(schedule),
        "template": {"spec": template_spec},
        "experiment": experiment,
        "maxConcurrency": max_concurrency,
        "concurrencyPolicy": concurrency_policy,
        "catchUp": catch_up,
        "suspend": suspend,
        "successfulRunsHistoryLimit": keep_succeeded,
        "failedRunsHistoryLimit": keep_failed,
    }
    labels = {PIPELINE_LABEL: pipeline_of(pipeline), EXPERIMENT_LABEL: experiment}
    annotations = {DISPLAY_NAME_ANNOTATION: display if display != name else None, DESCRIPTION_ANNOTATION: description}
    metadata: dict[str, Any] = {"name": name, "labels": _set(labels)}
    if _set(annotations):
        metadata["annotations"] = _set(annotations)
    return {"apiVersion": API_VERSION, "kind": "RecurringRun", "metadata": metadata, "spec": _set(spec)}


def run_source(pipeline: dict[str, Any], defaults: dict[str, Any] | None, *, inline: bool = False) -> dict[str, Any]:
    """What a Run (or a RecurringRun's template) runs: the Pipeline by name, or its own copy of the spec when
    asked (``inline``) or when the run changes the pipeline's defaults, so the Pipeline itself stays as it is."""
    if not defaults and not inline:
        return {"pipelineRef": {"name": pipeline["metadata"]["name"]}}
    own = dict(pipeline["spec"])
    if defaults:
        own["defaults"] = {**(own.get("defaults") or {}), **defaults}
    return {"pipelineSpec": own}


def pipeline_of(resource: dict[str, Any]) -> str:
    """The pipeline a Pipeline resource is: a version's (its label), else its own name."""
    name: str = resource["metadata"]["name"]
    return str((resource["metadata"].get("labels") or {}).get(PIPELINE_LABEL, name))


def is_version(resource: dict[str, Any]) -> bool:
    """A version Pipeline resource (upload_pipeline_version's PIPELINE-VERSION), never rewritten once made."""
    return pipeline_of(resource) != str(resource["metadata"]["name"])


def check_recurring_run(
    document: Any, names: Mapping[str, str] | None = None, pipeline: models.PipelineSpec | None = None
) -> models.RecurringRun:
    """The RecurringRun, valid: its schema, its schedule (it can fire), its inline pipeline and its arguments
    (against ``pipeline`` when it refers to one). Else PipelineInvalid with every problem, each named after
    ``names`` (document field -> the caller's word for it) or the field itself."""
    if not isinstance(document, dict):
        raise PipelineInvalid(
            [Issue("", "expected a RecurringRun: a mapping with apiVersion, kind, metadata and spec")]
        )
    recurring, issues = None, []
    try:
        recurring = models.RecurringRun.model_validate(document)
    except ValidationError as error:
        issues += pydantic_issues(error, document)
    issues += name_issues(document)
    spec = document.get("spec")
    schedule = spec.get("schedule") if isinstance(spec, dict) else None
    if isinstance(schedule, dict) and not any(issue.path.startswith("spec.schedule") for issue in issues):
        issues += _schedule_issues(schedule)[1]
    if recurring is not None:
        issues += _template_issues(recurring.spec.template.spec, pipeline)
    if issues:
        raise PipelineInvalid([_renamed(issue, names or {}) for issue in issues])
    assert recurring is not None
    return recurring


def name_issues(document: dict[str, Any]) -> list[Issue]:
    """The resource's name, if the API server would refuse it (Runs name their RecurringRun or Queue by it)."""
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    problem = name_problem(name) if name is not None else None
    return [Issue("metadata.name", problem)] if problem else []


def _template_issues(template: models.RunTemplateSpec, pipeline: models.PipelineSpec | None) -> list[Issue]:
    """Problems of the inline pipeline, and of the arguments against the pipeline (inline, or the one given)."""
    source = template.pipeline_spec or pipeline
    if source is None:
        return []
    try:
        plan = build(source)
    except PipelineInvalid as invalid:
        inline = "spec.template.spec.pipelineSpec" if template.pipeline_spec is not None else "spec"
        return [Issue(inline + issue.path.removeprefix("spec"), issue.message) for issue in invalid.issues]
    try:
        bind_arguments(plan, template.arguments)
    except ValueError as error:
        return [Issue("spec.template.spec.arguments", line) for line in str(error).splitlines()]
    return []


def check_schedule(schedule: dict[str, Any], names: Mapping[str, str] | None = None) -> Trigger:
    """A schedule alone (`kubeline schedule next`), read; PipelineInvalid naming its fields after ``names``."""
    trigger, issues = _schedule_issues(schedule)
    if trigger is None:
        raise PipelineInvalid([_renamed(issue, names or {}) for issue in issues])
    return trigger


def _schedule_issues(schedule: dict[str, Any]) -> tuple[Trigger | None, list[Issue]]:
    """The schedule read, or what is wrong with it: its schema, then whether it can fire."""
    try:
        return read_schedule(models.Schedule.model_validate(schedule)), []
    except ValidationError as error:
        return None, pydantic_issues(error, schedule, "spec.schedule")
    except ScheduleInvalid as invalid:
        return None, [_issue(f"spec.{invalid}")]


def _issue(problem: str) -> Issue:
    """A schedule problem ('spec.schedule.cron: ...', 'spec.schedule.endTime (...) is not after ...') as an Issue
    of the field it starts with."""
    head, _, rest = problem.partition(" ")
    return Issue(head.removesuffix(":"), rest) if head.startswith("spec.") else Issue("", problem)


def _renamed(issue: Issue, names: Mapping[str, str]) -> Issue:
    """The issue with the document's fields named as the caller knows them, in its path and its message."""
    path, message = names.get(issue.path, issue.path), issue.message
    for field_path in sorted(names, key=len, reverse=True):
        short = field_path.removeprefix("spec.")
        message = message.replace(field_path, names[field_path])
        if "." in short:  # schedule problems say schedule.startTime; a bare word is left as it is
            message = message.replace(short, names[field_path])
    return Issue(path, message)


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """The entries given (None left out), so defaults stay the API's."""
    return {key: value for key, value in values.items() if value is not None}
