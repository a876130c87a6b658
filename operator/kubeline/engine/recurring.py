"""What one pass over a RecurringRun does: pure, clock-free (``now`` is an argument), on top of engine.schedule.

The controller lists the Runs a RecurringRun made, calls ``decide`` and carries out the Decision: it creates
the Runs (deterministic names: creating one twice is a 409, "already made"), cancels, deletes, writes the
status once and sleeps until ``wake_at`` (or a Run's event).

Semantics (KFP's recurring runs, Kubernetes' CronJob):
  - the triggers due are the firings in (since, now], ``since`` being the latest of lastScheduleTime, the
    latest scheduled time among the Runs made (a pass that created a Run but died before writing its status
    is not repeated) and, for a new RecurringRun, its creation time;
  - catchUp false keeps only the latest due trigger; at most MAX_PER_PASS are made or wait, the latest, older
    ones dropped (the status message says how many: a count for an interval, "over 100" for a cron);
  - suspend makes no Run and leaves lastScheduleTime where it is: the triggers missed while suspended are
    missed triggers, made on resume when catchUp is true (KFP's backfill; CronJob does the same without a
    startingDeadlineSeconds), only the latest when false;
  - Allow: at most maxConcurrency active Runs; a trigger past it waits (lastScheduleTime stays before it) until
    a Run ends (a pass with no room reads only that trigger, not the whole window); Forbid: a trigger while a
    Run is active is skipped (and counted as acted on), and of several due at once (after an outage) only the
    latest runs; Replace: only the latest too, the new Run is created and the active Runs are cancelled
    (spec.cancel) in the same pass;
  - an invalid schedule makes nothing: condition Ready=False, reason InvalidSchedule, with the problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubeline.api.models import Condition, RecurringRunSpec, RecurringRunStatus
from kubeline.api.names import scheduled_run_name
from kubeline.engine.schedule import Trigger, read_schedule, schedule_problems

#: The most Runs one pass makes: a long outage of a second-level schedule must not make thousands at once.
MAX_PER_PASS = 100
DEFAULT_MAX_CONCURRENCY = 10
FINISHED = {"Succeeded", "Failed", "Cancelled"}


@dataclass(frozen=True)
class MadeRun:
    """A Run the RecurringRun made, as listed: ``phase`` None until the Run's reconciler wrote one."""

    name: str
    phase: str | None
    scheduled: datetime | None
    finished: datetime | None = None
    cancelling: bool = False

    @property
    def active(self) -> bool:
        return self.phase not in FINISHED


@dataclass(frozen=True)
class NewRun:
    name: str
    scheduled: datetime


@dataclass
class Decision:
    create: list[NewRun] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    status: RecurringRunStatus = field(default_factory=RecurringRunStatus)
    #: When the next pass is due (the next trigger), None when only an edit can bring one.
    wake_at: datetime | None = None


def rfc3339(moment: datetime) -> str:
    """A time as Kubernetes writes it (UTC, Z; fractions only when there are some)."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time read back (None for none or for text that is not one: a hand-edited annotation)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def decide(
    name: str,
    spec: RecurringRunSpec,
    status: RecurringRunStatus | None,
    created: datetime,
    now: datetime,
    runs: Sequence[MadeRun],
) -> Decision:
    """One pass: the Runs to create, cancel and delete, the new status and when to look again."""
    before = status or RecurringRunStatus()
    decision = Decision(delete=_over_history(spec, runs))
    problems = schedule_problems(spec.schedule)
    if problems:
        decision.status = _status(before, now, ready=("False", "InvalidSchedule", "; ".join(problems)), runs=runs)
        decision.status.next_schedule_time = None
        return decision
    trigger = read_schedule(spec.schedule, created)
    known = [*_times(before.last_schedule_time), *(run.scheduled for run in runs if run.scheduled)]
    since = max([created, *known])
    notes: list[str] = []
    active = [run.name for run in sorted(runs, key=_order) if run.active]
    cancelling = {run.name for run in runs if run.active and run.cancelling}
    waiting = False
    limit = spec.max_concurrency or DEFAULT_MAX_CONCURRENCY
    left_out: int | None = 0  # due triggers older than the latest MAX_PER_PASS, said once (None: not counted)
    if spec.concurrency_policy == "Allow" and len(active) >= limit and not spec.suspend:
        # no room for a Run: only the trigger that waits is read, not the whole window (a per-second schedule
        # waiting long would otherwise walk back MAX_PER_PASS firings every second)
        fire = trigger.next_after(since) if spec.catch_up else trigger.latest_at_or_before(now)
        due = [fire] if fire is not None and since < fire <= now else []
    else:
        due, left_out = _due(trigger, since, now)
    last = [max(known)] if known else []
    last_run = before.last_run
    if spec.suspend:
        missed = f"; {_triggers(len(due), left_out)} missed so far" if due else ""
        notes.append(f"suspended: no Runs are made{missed}")
        due = []
    elif len(due) > 1 and (not spec.catch_up or spec.concurrency_policy == "Replace"):
        why = "replaced by it (concurrencyPolicy: Replace)" if spec.catch_up else "not made (catchUp: false)"
        notes.append(f"{_triggers(len(due) - 1, left_out)} before the latest {why}")
        due, left_out = due[-1:], 0
    elif left_out != 0 and spec.concurrency_policy == "Allow":
        notes.append(_dropped(left_out))
    if spec.concurrency_policy == "Forbid" and due:
        # one Run at a time: of the due triggers only the latest runs, and only when no Run is active
        skipped = len(due) if active else len(due) - 1
        if skipped or left_out != 0:
            why = f"{active[-1]} is still active" if active else "only the latest of them runs"
            notes.append(f"{_triggers(skipped, left_out)} skipped: {why} (concurrencyPolicy: Forbid)")
        last = due[-1:] if active else last
        due = [] if active else due[-1:]
    for fire in due:
        if spec.concurrency_policy == "Allow" and len(active) >= limit:
            notes.append(
                f"trigger {rfc3339(fire)} waits: {len(active)} Runs active (maxConcurrency {limit}); it starts "
                f"when one ends (at most {MAX_PER_PASS} triggers wait: the latest)"
            )
            waiting = True
            break
        if spec.concurrency_policy == "Replace":
            decision.cancel = [run for run in active if run not in cancelling]
        new = NewRun(scheduled_run_name(name, fire), fire)
        decision.create.append(new)
        active.append(new.name)
        last, last_run = [fire], new.name
    next_fire = trigger.next_after(max(now, since))
    ended = next_fire is None and not waiting
    if ended:
        notes.append("the schedule has ended (schedule.endTime passed): no more Runs")
    decision.status = _status(
        before,
        now,
        ready=("True", "Suspended" if spec.suspend else "Ended" if ended else "Scheduling", "; ".join(notes)),
        runs=runs,
    )
    decision.status.last_schedule_time = rfc3339(last[0]) if last else None
    decision.status.next_schedule_time = rfc3339(next_fire) if next_fire else None
    decision.status.last_run = last_run
    decision.status.active = active or None
    decision.status.message = "; ".join(notes) or None
    decision.wake_at = None if spec.suspend else next_fire
    return decision


def _due(trigger: Trigger, since: datetime, now: datetime) -> tuple[list[datetime], int | None]:
    """The latest MAX_PER_PASS triggers due, oldest first, and how many older ones are left out: a count when it
    is arithmetic (an interval), None when only "some" is known (a cron, whose firings would have to be walked)."""
    due = trigger.firings(since, now, MAX_PER_PASS + 1)
    if len(due) <= MAX_PER_PASS:
        return due, 0
    total = trigger.count(since, now)
    return due[1:], None if total is None else total - MAX_PER_PASS


def _triggers(count: int, older: int | None = 0) -> str:
    """``count`` triggers and ``older`` ones before them, in words ("over N" when the older were not counted)."""
    if older is None:
        return f"over {count} triggers"
    total = count + older
    return f"{total} trigger{'' if total == 1 else 's'}"


def _dropped(left_out: int | None) -> str:
    kept = f"at most {MAX_PER_PASS} due triggers are made or wait: the latest"
    if left_out is None:
        return f"over {MAX_PER_PASS} triggers were due: the older ones dropped ({kept})"
    return f"{_triggers(left_out)} dropped ({kept})"


def _times(text: str | None) -> list[datetime]:
    moment = parse_time(text)
    return [moment] if moment else []


def _order(run: MadeRun) -> tuple[datetime, str]:
    return (run.scheduled or datetime.min.replace(tzinfo=UTC), run.name)


def _over_history(spec: RecurringRunSpec, runs: Sequence[MadeRun]) -> list[str]:
    """The finished Runs past the history limits, oldest first: succeeded ones, and failed or cancelled ones,
    each kind against its own limit."""
    doomed: list[str] = []
    for limit, phases in (
        (spec.successful_runs_history_limit, {"Succeeded"}),
        (spec.failed_runs_history_limit, {"Failed", "Cancelled"}),
    ):
        if limit is None:
            continue
        kind = sorted((run for run in runs if run.phase in phases), key=lambda run: run.finished or _order(run)[0])
        doomed += [run.name for run in kind[: max(0, len(kind) - limit)]]
    return doomed


def _status(
    before: RecurringRunStatus, now: datetime, ready: tuple[str, str, str], runs: Sequence[MadeRun]
) -> RecurringRunStatus:
    """The status carried over from ``before``, with the Ready condition set (its transition time kept while its
    status stays)."""
    value, reason, message = ready
    previous = next((c for c in before.conditions or [] if c.type == "Ready"), None)
    since = (
        previous.last_transition_time
        if previous is not None and previous.status == value and previous.last_transition_time
        else rfc3339(now)
    )
    condition = Condition(
        type="Ready",
        status="True" if value == "True" else "False",
        reason=reason,
        message=message or _ready_message(reason),
        last_transition_time=since,
    )
    return RecurringRunStatus(
        last_schedule_time=before.last_schedule_time,
        next_schedule_time=before.next_schedule_time,
        last_run=before.last_run,
        active=[run.name for run in sorted(runs, key=_order) if run.active] or None,
        message=message or None,
        conditions=[condition],
    )


def _ready_message(reason: str) -> str:
    return {
        "Scheduling": "Runs are made on schedule",
        "Suspended": "suspended: no Runs are made",
        "Ended": "the schedule has ended",
    }.get(reason, reason)
