"""When a RecurringRun fires: its schedule read once (cron via croniter, or an interval), pure and clock-free.

Every function takes the time it reasons about as an argument (aware datetimes), so the controller, the SDK's
checks and the tests agree, and a table of times tests it all. Cron expressions are read with croniter: five
fields, or six with seconds first as KFP (robfig/cron) writes them, and the @daily family; in the schedule's
time zone (IANA, default UTC), so "0 2 * * *" in Europe/Paris stays at 02:00 local across daylight saving, and
fires once on the night clocks go back (a cron naming its hours is a fixed-time job: Vixie cron and robfig/cron
run it once, not again in the repeated hour). An interval counts from startTime, else from the RecurringRun's
creation (KFP's periodic schedules), always the same origin so that the firings, and the Runs' names, are too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from kubeline.api.durations import parse_duration
from kubeline.api.models import Schedule

_CRON_ERRORS = (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError, KeyError)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NICKNAMES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


class ScheduleInvalid(ValueError):
    """A schedule that cannot fire: its message names the field and the fix."""


@dataclass(frozen=True)
class Trigger:
    """A RecurringRun's schedule, read: the times it fires, in order."""

    cron: str | None
    zone: ZoneInfo
    interval: timedelta | None
    start: datetime | None
    end: datetime | None
    #: An interval's first firing (startTime, else the RecurringRun's creation): firings are origin + k * interval.
    origin: datetime = _EPOCH

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after ``moment`` (aware), or None when the schedule has ended."""
        if self.start is not None and moment < self.start:
            # the first firing is at or after start: for an interval, start itself
            moment = self.start - timedelta(microseconds=1)
        if self.interval is not None:
            periods = (moment - self.origin) // self.interval + 1 if moment >= self.origin else 0
            fire = self.origin + periods * self.interval
        else:
            fire = self._cron_next(moment)
            while (repeated := self._repeated_hour(fire)) is not None:
                fire = self._cron_next(repeated[1] - _TICK)
        if self.end is not None and fire > self.end:
            return None
        return fire

    def count(self, after: datetime, until: datetime) -> int | None:
        """How many firings there are in (after, until] when that is arithmetic (an interval); None for a cron,
        whose firings would have to be walked one by one."""
        if self.interval is None:
            return None
        if self.end is not None:
            until = min(until, self.end)
        last = (until - self.origin) // self.interval if until >= self.origin else -1
        before = (after - self.origin) // self.interval if after >= self.origin else -1
        return max(0, last - before)

    def firings(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """Firings in (after, until], the latest ``limit`` of them, oldest first (older ones are dropped: a long
        outage must not make thousands of Runs at once). Walked back from ``until``: a day missed by a schedule
        firing every second costs ``limit`` steps, not 86,400."""
        found: list[datetime] = []
        moment = until
        while len(found) < limit:
            fire = self.latest_at_or_before(moment)
            if fire is None or fire <= after:
                break
            found.append(fire)
            moment = fire - _TICK
        found.reverse()
        return found

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last firing at or before ``moment`` (aware), or None when there was none."""
        if self.end is not None and moment > self.end:
            moment = self.end
        if self.interval is not None:
            if moment < self.origin:
                return None
            fire = self.origin + (moment - self.origin) // self.interval * self.interval
        else:
            # croniter's previous firing is strictly before its base: a base just past moment includes moment
            fire = self._cron_prev(moment + _TICK)
            while (repeated := self._repeated_hour(fire)) is not None:
                fire = self._cron_prev(repeated[0])
        if self.start is not None and fire < self.start:
            return None
        return fire

    def _cron_next(self, moment: datetime) -> datetime:
        assert self.cron is not None
        local = moment.astimezone(self.zone)
        fire: datetime = croniter(self.cron, local, second_at_beginning=_has_seconds(self.cron)).get_next(datetime)
        return fire.astimezone(UTC)

    def _cron_prev(self, moment: datetime) -> datetime:
        """The last firing strictly before ``moment``."""
        assert self.cron is not None
        local = moment.astimezone(self.zone)
        fire: datetime = croniter(self.cron, local, second_at_beginning=_has_seconds(self.cron)).get_prev(datetime)
        return fire.astimezone(UTC)

    def _repeated_hour(self, fire: datetime) -> tuple[datetime, datetime] | None:
        """When ``fire`` falls in the second pass of the local times repeated as clocks go back and the cron
        names its hours (it fired in the first pass), that second pass in UTC: [start, end); else None."""
        local = fire.astimezone(self.zone)
        if not local.fold or self.cron is None or not _fixed_hours(self.cron):
            return None
        first, second = local.replace(fold=0).utcoffset(), local.utcoffset()
        assert first is not None and second is not None
        gap = first - second
        # the clocks went back between low (the same local time, first pass) and fire: find when, to the second
        low, high = fire - gap, fire
        while high - low > timedelta(seconds=1):
            middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
            low, high = (low, middle) if middle.astimezone(self.zone).fold else (middle, high)
        return high, high + gap


#: The smallest step between two moments here: firings are whole seconds, so nothing fires within a tick.
_TICK = timedelta(milliseconds=1)


def read_schedule(schedule: Schedule, created: datetime | None = None) -> Trigger:
    """The schedule as a Trigger; ScheduleInvalid naming the field when it cannot fire. ``created``: when the
    RecurringRun was made, the origin of an interval without a startTime (a schedule read alone counts from the
    Unix epoch)."""
    zone = _zone(schedule.time_zone)
    start = _time(schedule.start_time, "schedule.startTime")
    end = _time(schedule.end_time, "schedule.endTime")
    if start is not None and end is not None and end <= start:
        raise ScheduleInvalid(f"schedule.endTime ({schedule.end_time}) is not after schedule.startTime")
    if (schedule.cron is None) == (schedule.interval is None):
        raise ScheduleInvalid("schedule: set exactly one of cron and interval")
    interval = None
    if schedule.interval is not None:
        try:
            seconds = parse_duration(schedule.interval)
        except ValueError as error:
            raise ScheduleInvalid(f"schedule.interval: {error}") from None
        if seconds < 1:
            raise ScheduleInvalid(f"schedule.interval: {schedule.interval!r} is under a second; use 1s or more")
        interval = timedelta(seconds=seconds)
    cron = schedule.cron.strip() if schedule.cron is not None else None
    if cron is not None:
        _check_cron(cron)
    origin = start or created or _EPOCH
    return Trigger(cron=cron, zone=zone, interval=interval, start=start, end=end, origin=origin)


def schedule_problems(schedule: Schedule) -> list[str]:
    """What is wrong with the schedule, in words naming the field (empty when it can fire)."""
    try:
        read_schedule(schedule)
    except ScheduleInvalid as invalid:
        return [str(invalid)]
    return []


def _has_seconds(cron: str) -> bool:
    return len(cron.split()) == 6


def _fixed_hours(cron: str) -> bool:
    """Whether the cron names the hours it fires in (no * or / in its hour field; @hourly is every hour)."""
    if cron.startswith("@"):
        return cron != "@hourly"
    hours = cron.split()[2 if _has_seconds(cron) else 1]
    return "*" not in hours and "/" not in hours


def _check_cron(cron: str) -> None:
    fields = cron.split()
    if cron.startswith("@"):
        if cron not in _NICKNAMES:
            raise ScheduleInvalid(f"schedule.cron: {cron!r} is unknown; use one of {', '.join(sorted(_NICKNAMES))}")
        return
    if len(fields) not in (5, 6):
        raise ScheduleInvalid(
            f"schedule.cron: {cron!r} has {len(fields)} fields; write 5 (minute hour day-of-month month "
            "day-of-week, e.g. '0 2 * * *') or 6 with seconds first (e.g. '0 0 2 * * *')"
        )
    try:
        valid = croniter.is_valid(cron, second_at_beginning=_has_seconds(cron))
        if valid:
            croniter(cron, datetime(2000, 1, 1, tzinfo=UTC), second_at_beginning=_has_seconds(cron)).get_next(datetime)
    except _CRON_ERRORS:
        valid = False
    if not valid:
        raise ScheduleInvalid(
            f"schedule.cron: {cron!r} is not a cron expression (or never fires); e.g. '*/5 * * * *' is every five "
            "minutes, '0 2 * * 1-5' is 02:00 on weekdays"
        )


def _zone(name: str | None) -> ZoneInfo:
    if name is None:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleInvalid(
            f"schedule.timeZone: {name!r} is not an IANA time zone; write e.g. UTC, Europe/Paris or America/New_York"
        ) from None


def _time(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleInvalid(f"{field}: {text!r} is not an RFC 3339 time (e.g. 2026-12-01T02:00:00Z)") from None
    if moment.tzinfo is None:
        raise ScheduleInvalid(f"{field}: {text!r} has no time zone: end it with Z or an offset such as +01:00")
    return moment.astimezone(UTC)
