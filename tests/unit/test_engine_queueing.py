"""Admission of a namespace's waiting Runs: queues, namespace limits, order, aging, places in line."""

from __future__ import annotations

import pytest

from kubeline.engine.queueing import (
    AGING_SECONDS,
    PLACES_SHOWN,
    Limits,
    RunRecord,
    admit,
    in_line,
    ordinal,
    pod_turns,
    step_pod_room,
)

NOW = 10_000.0


def waiting(name: str, created: float = 0.0, queue: str | None = None, priority: int = 0) -> RunRecord:
    return RunRecord(name, NOW - 100 + created, "waiting", queue, priority)


def running(name: str, queue: str | None = None) -> RunRecord:
    return RunRecord(name, 0.0, "running", queue)


@pytest.mark.parametrize(
    "records, queues, limits, admitted",
    [
        pytest.param([waiting("a"), waiting("b")], {}, Limits(), ["a", "b"], id="no queue, no limit: all start"),
        pytest.param(
            [running("r1", "q"), waiting("a", 1, "q"), waiting("b", 2, "q")],
            {"q": 2},
            Limits(),
            ["a"],
            id="a queue of 2 with one running takes one more",
        ),
        pytest.param(
            [running("r1", "q"), running("r2", "q"), waiting("a", 1, "q")],
            {"q": 2},
            Limits(),
            [],
            id="a full queue starts none",
        ),
        pytest.param(
            [waiting(f"w{i}", i, "q") for i in range(10)],
            {"q": 2},
            Limits(),
            ["w0", "w1"],
            id="ten waiting in a queue of 2: the two oldest",
        ),
        pytest.param(
            [waiting("low", 1, "q", 0), waiting("high", 5, "q", 10)],
            {"q": 1},
            Limits(),
            ["high"],
            id="a later higher priority goes first",
        ),
        pytest.param(
            [waiting("b", 1), waiting("a", 1)], {}, Limits(runs=1), ["a"], id="same priority and age: by name"
        ),
        pytest.param(
            [waiting("a", 1, "missing"), waiting("b", 2)],
            {},
            Limits(),
            ["b"],
            id="a missing Queue starts nothing of its own, and blocks nobody",
        ),
        pytest.param(
            [running("r1", "gpu"), waiting("g", 1, "gpu", 50), waiting("c", 2, "cpu")],
            {"gpu": 1, "cpu": 1},
            Limits(runs=2),
            ["c"],
            id="no head-of-line blocking: a full queue's Run takes no namespace room",
        ),
        pytest.param(
            [running("r1"), running("r2"), waiting("a", 1)], {}, Limits(runs=2), [], id="namespace limit reached"
        ),
        pytest.param(
            [running("r1", "q"), waiting("a", 1), waiting("b", 2, "q")],
            {"q": 5},
            Limits(runs=2),
            ["a"],
            id="a Run with no queue counts against the namespace limit only",
        ),
    ],
)
def test_who_starts(records, queues, limits, admitted) -> None:
    assert admit(records, queues, limits, NOW).admitted == admitted


def test_waiting_runs_are_told_their_place_in_their_queue() -> None:
    records = [running("r1", "gpu-training"), *(waiting(f"w{i}", i, "gpu-training") for i in range(4))]
    answer = admit(records, {"gpu-training": 2}, Limits(), NOW)
    assert answer.admitted == ["w0"]
    assert answer.reasons == {
        "w1": "queued: 1st in gpu-training (it runs 2 at most, 2 running)",
        "w2": "queued: 2nd in gpu-training (it runs 2 at most, 2 running)",
        "w3": "queued: 3rd in gpu-training (it runs 2 at most, 2 running)",
    }
    view = answer.queues["gpu-training"]
    assert view.running == ["r1"] and view.waiting == ["w0", "w1", "w2", "w3"]


def test_places_past_the_ones_shown_are_told_so_and_the_queue_view_names_that_many() -> None:
    """With thousands waiting, the front Run leaving changes the messages of the first PLACES_SHOWN only, and the
    Queue's status stays small (etcd stores 1.5 MiB an object)."""
    records = [RunRecord("busy", 0.0, "running", "q")]
    records += [RunRecord(f"w{i:04d}", 1.0 + i, queue="q") for i in range(PLACES_SHOWN + 5)]
    answer = admit(records, {"q": 1}, Limits(), now=10.0)
    assert answer.reasons[f"w{PLACES_SHOWN - 1:04d}"] == f"queued: {PLACES_SHOWN}th in q (it runs 1 at most, 1 running)"
    assert (
        answer.reasons[f"w{PLACES_SHOWN:04d}"]
        == f"queued: behind {PLACES_SHOWN} others in q (it runs 1 at most, 1 running)"
    )
    view = answer.queues["q"]
    assert view.waiting == [f"w{i:04d}" for i in range(PLACES_SHOWN)] and view.waiting_count == PLACES_SHOWN + 5
    after = admit([r for r in records if r.name != "busy"], {"q": 1}, Limits(), now=10.0)
    changed = [name for name, reason in after.reasons.items() if answer.reasons.get(name) != reason]
    assert len(changed) == PLACES_SHOWN  # the places 2..101 moved up; those behind read the same


def test_the_namespace_limit_and_a_missing_queue_say_so() -> None:
    records = [running("r1"), running("r2"), waiting("a", 1), waiting("b", 2), waiting("m", 3, "gpu")]
    answer = admit(records, {}, Limits(runs=2), NOW)
    assert answer.admitted == []
    assert answer.reasons == {
        "a": "waiting: 1st in line, the namespace runs 2 Runs at most (2 running)",
        "b": "waiting: 2nd in line, the namespace runs 2 Runs at most (2 running)",
        "m": "waiting for Queue gpu, which does not exist: create it or remove spec.queue",
    }
    assert answer.queues == {}


def test_admission_fills_exactly_the_room_left() -> None:
    """Queue and namespace room are both counted as Runs are admitted in one answer: never one too many."""
    records = [waiting(f"q{i}", i, "q") for i in range(5)] + [waiting(f"n{i}", 10 + i) for i in range(5)]
    answer = admit(records, {"q": 2}, Limits(runs=3), NOW)
    assert answer.admitted == ["q0", "q1", "n0"]
    assert answer.reasons["n1"].startswith("waiting: 1st in line")


def test_aging_lets_a_low_priority_run_overtake_a_stream_of_high_ones() -> None:
    """A Run of priority 0 that has waited 10 aging periods goes before a fresh Run of priority 9, not of 11."""
    old = RunRecord("old", NOW - 10 * AGING_SECONDS, "waiting", "q", 0)
    assert [r.name for r in in_line([old, RunRecord("p9", NOW, "waiting", "q", 9)], NOW)] == ["old", "p9"]
    assert [r.name for r in in_line([old, RunRecord("p11", NOW, "waiting", "q", 11)], NOW)] == ["p11", "old"]


def test_no_starvation_under_a_steady_stream_of_higher_priority_runs() -> None:
    """One slot; every aging period a new priority-5 Run arrives and the running one ends: the priority-0 Run
    still starts, after about five periods."""
    low = RunRecord("low", 0.0, "waiting", "q", 0)
    records = [low]
    for period in range(1, 20):
        now = period * AGING_SECONDS
        records = [r for r in records if r.state == "waiting"]
        records.append(RunRecord(f"high{period}", now, "waiting", "q", 5))
        started = admit(records, {"q": 1}, Limits(), now).admitted
        assert len(started) == 1
        if started == ["low"]:
            assert period <= 6
            return
        records = [
            RunRecord(r.name, r.created, "running", r.queue, r.priority) if r.name in started else r for r in records
        ]
    pytest.fail("the low-priority Run never started")


@pytest.mark.parametrize(
    "limit, running_pods, wanted, room", [(None, 100, 7, 7), (5, 2, 7, 3), (5, 5, 2, 0), (5, 9, 1, 0), (5, 0, 2, 2)]
)
def test_step_pod_room(limit, running_pods, wanted, room) -> None:
    assert step_pod_room(Limits(step_pods=limit), running_pods, wanted) == room


@pytest.mark.parametrize(
    "waiting_since, room, turns",
    [
        ({}, 3, []),
        ({"big": 5.0, "small": 1.0}, 1, ["small"]),  # the one waiting longest, whoever asks first
        ({"big": 5.0, "small": 1.0, "mid": 3.0}, 2, ["small", "mid"]),
        ({"b": 1.0, "a": 1.0}, 1, ["a"]),  # the same moment: by name
        ({"a": 1.0}, 0, []),
        ({"a": 1.0}, -2, []),
    ],
)
def test_pod_turns(waiting_since, room, turns) -> None:
    assert pod_turns(waiting_since, room) == turns


@pytest.mark.parametrize(
    "number, text",
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (102, "102nd"),
    ],
)
def test_ordinal(number, text) -> None:
    assert ordinal(number) == text
