"""The run's Gantt: rows in start order, bars to scale, running steps reaching now, caps that say so."""

from __future__ import annotations

import pytest

from kubeline.ui import timeline as gantt
from kubeline.ui.timeline import LABEL_WIDTH, seconds, timeline
from tests.unit.ui_html import HOSTILE, assert_inert, render

T0 = seconds("2026-01-01T00:00:00Z")
assert T0 is not None


def at(offset: int) -> str:
    return f"2026-01-01T00:{offset // 60:02d}:{offset % 60:02d}Z"


def status(tasks: dict, started: int | None = 0, finished: int | None = None) -> dict:
    return {
        "startedAt": at(started) if started is not None else None,
        "finishedAt": at(finished) if finished is not None else None,
        "tasks": tasks,
    }


def task(phase: str, start: int | None, end: int | None, **more: object) -> dict:
    return {
        "phase": phase,
        "startedAt": at(start) if start is not None else None,
        "finishedAt": at(end) if end is not None else None,
        **more,
    }


@pytest.mark.parametrize(
    "text, value",
    [
        ("2026-01-01T00:00:00Z", T0),
        ("2026-01-01T00:00:01.5Z", T0 + 1.5),
        ("2026-01-01T01:00:00+01:00", T0),
        ("2026-01-01T00:00:00", None),  # no zone: not a moment
        ("yesterday", None),
        (None, None),
        (7, None),
    ],
)
def test_status_timestamps_are_read_as_moments(text: object, value: float | None) -> None:
    assert seconds(text) == value


def test_rows_are_in_start_order_and_bars_scale_to_the_run_span() -> None:
    drawn = timeline(
        status(
            {
                "late": task("Succeeded", 60, 90),
                "early": task("Succeeded", 0, 30),
                "skipped": task("Skipped", None, None),
                "cache": task("Succeeded", 30, 30, cached=True),
            },
            finished=120,
        ),
        now=T0 + 1000,
    )
    assert [(row.step, row.shape) for row in drawn.rows] == [
        ("early", "bar"),
        ("cache", "marker"),
        ("late", "bar"),
        ("skipped", "none"),
    ]
    scale = gantt.CHART_WIDTH / 120
    early, cache, late, _ = drawn.rows
    assert (early.x, early.width) == (LABEL_WIDTH, 30 * scale)
    assert (late.x, late.width) == (LABEL_WIDTH + 60 * scale, 30 * scale)
    assert cache.x == LABEL_WIDTH + 30 * scale and cache.tooltip == "cache, cached"
    assert [tick.label for tick in drawn.ticks] == ["+0ms", "+30.0s", "+1m00s", "+1m30s", "+2m00s"]
    assert drawn.hidden == 0 and drawn.height == gantt.AXIS_HEIGHT + 4 * gantt.ROW_HEIGHT


def test_a_running_step_extends_to_now() -> None:
    drawn = timeline(status({"train": task("Running", 10, None), "prep": task("Succeeded", 0, 10)}), now=T0 + 40)
    prep, train = drawn.rows
    assert train.running and train.x + train.width == LABEL_WIDTH + gantt.CHART_WIDTH
    assert train.tooltip == "train, Running, running for 30.0s"
    assert prep.tooltip == "prep, Succeeded, took 10.0s"


def test_an_unfinished_step_of_a_finished_run_ends_with_the_run() -> None:
    drawn = timeline(status({"a": task("Failed", 0, None)}, finished=50), now=T0 + 500)
    (row,) = drawn.rows
    assert not row.running and row.width == gantt.CHART_WIDTH


def test_rows_over_the_cap_are_counted_not_drawn() -> None:
    tasks = {f"loop[{i}].train": task("Succeeded", i % 60, i % 60 + 1) for i in range(gantt.MAX_TIMELINE_ROWS + 25)}
    drawn = timeline(status(tasks), now=T0 + 100)
    assert len(drawn.rows) == gantt.MAX_TIMELINE_ROWS and drawn.hidden == 25
    assert "and 25 more steps not drawn" in render("timeline.html", timeline=drawn)


@pytest.mark.parametrize("broken", [None, {}, {"tasks": None}, {"tasks": {"a": None}}, {"tasks": {"a": {"phase": 3}}}])
def test_an_empty_or_odd_status_draws_without_failing(broken: dict | None) -> None:
    drawn = timeline(broken, now=T0)
    assert all(row.shape == "none" and row.phase == "Pending" for row in drawn.rows)
    render("timeline.html", timeline=drawn)


def test_long_step_ids_are_shortened_in_the_label_but_whole_in_the_tooltip() -> None:
    step = "outer[12]." + "x" * 80
    (row,) = timeline(status({step: task("Succeeded", 0, 5)}), now=T0).rows
    assert len(row.label) == gantt.MAX_LABEL and row.label.endswith("\u2026") and row.tooltip.startswith(step)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_step_ids_and_phases_stay_text(hostile: str) -> None:
    drawn = timeline(status({hostile: task(hostile, 0, 5), "b": task("Running", 1, None)}), now=T0 + 9)
    html = render("timeline.html", timeline=drawn)
    assert_inert(html)
    assert "<script" not in html and "<img" not in html and "phase-pending" in html
