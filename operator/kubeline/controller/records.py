"""Which of a Run's steps its status lists, and which move to RunRecords. Pure, table-tested.

A Run's status is one etcd object (at most 1.5 MiB, managedFields and the frozen pipeline included), so a
run of thousands of steps cannot list them all. While the steps not yet recorded fit in LISTED_BYTES the status
lists every one, as small runs always did. Past that, the finished ones (succeeded, skipped, failed for good:
they never change again) move into RunRecords of at most RECORD_BYTES each, written once and named in
``status.records``; what stays listed is what a user watches: running steps, waiting ones, retries. When even those
do not fit (10,000 steps running at once), the started ones are listed first and the rest counted in
``status.unlisted`` (their pods are the record of them), as are, past the bound, steps that only wait their turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from kubeline.api.models import TaskStatus

#: Most bytes of step entries a status lists. The API server adds about as much again in managedFields (the
#: names of every field written), and it decodes, validates and stores the whole status at every write, so the
#: entries stay small beside the 1 MiB kubeline allows a Run (the frozen pipeline, checked against that same
#: 1 MiB when the run starts, its arguments and the rest).
LISTED_BYTES = 128 * 1024
#: Most bytes of step entries in one RunRecord: with managedFields, about half of etcd's 1.5 MiB an object.
RECORD_BYTES = 256 * 1024
#: Phases a step entry never leaves (a failed step awaiting a retry shows as Pending).
FINAL = ("Succeeded", "Skipped", "Failed")


@dataclass
class Listing:
    """What a status write holds: the entries listed, new records to write first (in order), and the count of
    unfinished steps left out."""

    listed: dict[str, TaskStatus] = field(default_factory=dict)
    new_records: list[dict[str, TaskStatus]] = field(default_factory=list)
    unlisted: int = 0


def entry_bytes(step_id: str, task: TaskStatus) -> int:
    """About what an entry weighs in the stored object (its JSON)."""
    if task.attempts is None:  # never started: a phase and maybe a message (thousands a pass in a wide fan-out)
        message = len(json.dumps(task.message)) + len(',"message":') if task.message else 0
        return len(step_id) + len('{"phase":""}') + len(task.phase) + message + 6
    return len(step_id) + len(json.dumps(task.to_dict(), separators=(",", ":"))) + 6


def listing(
    tasks: Mapping[str, TaskStatus],
    recorded: Mapping[str, TaskStatus],
    listed_bytes: int | None = None,
    record_bytes: int | None = None,
) -> Listing:
    """Split ``tasks`` (every step's entry now) given what the run's records already hold (``recorded``);
    the bounds default to LISTED_BYTES and RECORD_BYTES."""
    listed_bytes = LISTED_BYTES if listed_bytes is None else listed_bytes
    record_bytes = RECORD_BYTES if record_bytes is None else record_bytes
    fresh = {
        step_id: task
        for step_id, task in tasks.items()
        if (before := recorded.get(step_id)) is not task and before != task  # the same object: no comparing
    }
    sizes = {step_id: entry_bytes(step_id, task) for step_id, task in fresh.items()}
    if sum(sizes.values()) <= listed_bytes:
        return Listing(listed=fresh)
    final = [step_id for step_id, task in fresh.items() if task.phase in FINAL]
    result = Listing()
    # a record is worth writing for a quarter of the bound at least: below that the finished entries stay listed
    # and waiting ones are counted instead, so a run near the bound does not write a record every few steps
    if sum(sizes[step_id] for step_id in final) >= listed_bytes // 4:
        result.new_records = _records(fresh, final, sizes, record_bytes)
        sealed = set(final)
        remaining = [step_id for step_id in fresh if step_id not in sealed]
    else:
        remaining = list(fresh)
    # what a user watches first: finished (failed) and started steps, then those waiting with a reason; a step
    # that only waits its turn says nothing its count in status.progress does not
    order = sorted(remaining, key=lambda step_id: (fresh[step_id].phase not in FINAL, not fresh[step_id].attempts))
    used = 0
    for step_id in order:
        task = fresh[step_id]
        if task.phase == "Pending" and not task.attempts and not task.message:
            result.unlisted += 1
        elif used + sizes[step_id] <= listed_bytes:
            result.listed[step_id] = fresh[step_id]
            used += sizes[step_id]
        else:
            result.unlisted += 1
    listed_order = {step_id: index for index, step_id in enumerate(fresh)}
    result.listed = dict(sorted(result.listed.items(), key=lambda item: listed_order[item[0]]))
    return result


def _records(
    fresh: Mapping[str, TaskStatus], final: list[str], sizes: Mapping[str, int], record_bytes: int
) -> list[dict[str, TaskStatus]]:
    records: list[dict[str, TaskStatus]] = [{}]
    used = 0
    for step_id in final:
        if records[-1] and used + sizes[step_id] > record_bytes:
            records.append({})
            used = 0
        records[-1][step_id] = fresh[step_id]
        used += sizes[step_id]
    return records
