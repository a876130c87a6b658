"""A large Run's steps, split between its status and its RunRecords: the names of the records and the merge
every reader does (``kubeline get``, the UI, the SDK, a retry, a restarted operator).

A Run of thousands of steps cannot list them all in its status (etcd keeps at most 1.5 MiB an object), so the
operator moves finished steps into RunRecords, written once, oldest first, and lists them in
``status.records``. An entry in the status is newer than any record; a later record is newer than an earlier one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from kubeline.api.names import MAX_SUBDOMAIN, suffixed

Task = TypeVar("Task")


def record_name(run: str, index: int) -> str:
    """``RUN-steps-N``: the same record of a run always has the same name, so writing it again after a failed
    pass replaces it instead of adding one. A name too long is cut and a hash of the run's name added."""
    return suffixed(run, f"-steps-{index}", MAX_SUBDOMAIN)


def merged_tasks(listed: Mapping[str, Task] | None, records: Iterable[Mapping[str, Task]]) -> dict[str, Task]:
    """Every step of a run: the records' in order, then the status's own list over them (newest wins)."""
    tasks: dict[str, Task] = {}
    for record in records:
        tasks.update(record)
    tasks.update(listed or {})
    return tasks


def with_records(run: Mapping[str, Any], read: Callable[[str], Mapping[str, Any] | None]) -> dict[str, Any]:
    """The Run document with every step in ``status.tasks``: the RunRecords its status names, fetched by ``read``
    (a record's name -> the RunRecord, None when it is gone), merged under its own list."""
    status = run.get("status") or {}
    names = status.get("records") or []
    if not names:
        return dict(run)
    found = [((read(name) or {}).get("spec") or {}).get("tasks") or {} for name in names]
    return {**run, "status": {**status, "tasks": merged_tasks(status.get("tasks"), found)}}
