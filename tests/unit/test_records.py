"""Which steps a Run's status lists and which move to RunRecords: tables over literal entries."""

from __future__ import annotations

import json

import pytest

from kubeline.api.models import TaskStatus
from kubeline.api.records import merged_tasks, record_name
from kubeline.controller.records import entry_bytes, listing

DONE = TaskStatus(phase="Succeeded", attempts=1, pod="p", outputs={"out": "x" * 40})
FAILED = TaskStatus(phase="Failed", attempts=2, message="exit code 1")
RUNNING = TaskStatus(phase="Running", attempts=1, pod="p")
WAITING = TaskStatus(phase="Pending")


def steps(prefix: str, count: int, task: TaskStatus) -> dict[str, TaskStatus]:
    return {f"{prefix}[{index}]": task for index in range(count)}


def weight(tasks: dict[str, TaskStatus]) -> int:
    return sum(entry_bytes(step_id, task) for step_id, task in tasks.items())


def test_a_run_whose_steps_fit_lists_every_one_and_writes_no_record() -> None:
    tasks = {**steps("a", 5, DONE), **steps("b", 3, RUNNING), "c": WAITING}
    result = listing(tasks, {}, listed_bytes=weight(tasks))
    assert result.listed == tasks
    assert (result.new_records, result.unlisted) == ([], 0)


def test_past_the_bound_finished_steps_move_to_records_of_bounded_size_and_the_rest_stays_listed() -> None:
    tasks = {**steps("a", 40, DONE), "f": FAILED, **steps("b", 3, RUNNING), "c": WAITING}
    finished = weight(steps("a", 40, DONE)) + entry_bytes("f", FAILED)
    result = listing(tasks, {}, listed_bytes=finished // 2, record_bytes=finished // 3)
    assert list(result.listed) == list(steps("b", 3, RUNNING))
    assert result.unlisted == 1  # c only waits its turn: progress counts it
    assert len(result.new_records) == 4  # each record at most a third of the finished entries
    assert all(weight(record) <= finished // 3 for record in result.new_records)
    assert merged_tasks({}, result.new_records) == {**steps("a", 40, DONE), "f": FAILED}


def test_steps_already_recorded_are_not_listed_again_and_one_that_changed_is() -> None:
    recorded = {**steps("a", 10, DONE), "f": FAILED}
    retried = TaskStatus(phase="Running", attempts=3, pod="p2")
    tasks = {**recorded, "f": retried, "b": RUNNING}
    result = listing(tasks, recorded, listed_bytes=10_000)
    assert result.listed == {"f": retried, "b": RUNNING}
    assert merged_tasks(result.listed, [recorded])["f"] == retried  # the status's entry wins over a record's


def test_too_few_finished_steps_for_a_record_stay_listed_and_waiting_steps_are_counted() -> None:
    waiting = TaskStatus(phase="Pending", message="waiting for train")
    tasks = {"f": FAILED, **steps("b", 2, RUNNING), **steps("w", 50, waiting)}
    bound = entry_bytes("f", FAILED) * 5  # finished entries under a quarter of the bound
    result = listing(tasks, {}, listed_bytes=bound)
    assert result.new_records == []
    assert list(result.listed)[:3] == ["f", "b[0]", "b[1]"]  # failed and started ones come first
    assert weight(result.listed) <= bound
    assert len(result.listed) + result.unlisted == len(tasks)


def test_ten_thousand_running_steps_list_what_fits_and_count_the_rest() -> None:
    tasks = steps("each", 10_000, RUNNING)
    result = listing(tasks, {}, listed_bytes=256 * 1024)
    assert weight(result.listed) <= 256 * 1024
    assert result.unlisted == 10_000 - len(result.listed) > 0


@pytest.mark.parametrize("run", ["r", "a" * 253, "x." * 120 + "y"])
def test_record_names_are_valid_distinct_and_the_same_each_time(run: str) -> None:
    names = [record_name(run, index) for index in range(3)]
    assert all(len(name) <= 253 and not name.startswith(("-", ".")) for name in names)
    assert len(set(names)) == 3
    assert names == [record_name(run, index) for index in range(3)]


@pytest.mark.parametrize(
    "task", [WAITING, TaskStatus(phase="Skipped", message='condition is false: "a" == b'), DONE, FAILED]
)
def test_an_entrys_weight_is_its_json(task: TaskStatus) -> None:
    assert entry_bytes("each[12]", task) == len("each[12]") + len(json.dumps(task.to_dict(), separators=(",", ":"))) + 6
