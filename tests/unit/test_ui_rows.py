"""The runs list's rows: odd Run documents never break the list; filters, sorting and paging as a user sees them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubeline.ui.rows import Query, RunRow, parse_query, run_row, select

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def run(name: str, namespace: str = "ml", **status: Any) -> dict[str, Any]:
    labels = status.pop("labels", {})
    created = status.pop("created", "2024-05-01T10:00:00Z")
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": created},
        "spec": {"pipelineRef": {"name": status.pop("pipeline", "train")}},
        "status": status,
    }


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"metadata": None, "spec": None, "status": None},
        {"metadata": {"name": 5, "labels": ["x"]}, "status": "Running"},
        {"metadata": {"name": "a"}, "status": {"phase": "Exploded", "progress": {"total": "many", "failed": -3}}},
        {"metadata": {"name": "a"}, "status": {"startedAt": "yesterday", "finishedAt": 7, "metrics": {"s": "x"}}},
        {"metadata": {"name": "a"}, "status": {"metrics": {"s": {"acc": "high", "loss": True}}, "message": ["m"]}},
    ],
)
def test_odd_documents_give_a_row_with_empty_cells(document: dict[str, Any]) -> None:
    row = run_row(document, now=NOW)
    assert row.phase == "Pending"
    assert row.progress.total >= 0 and row.progress.failed >= 0
    assert row.metrics == {}
    assert isinstance(row.message, str)


def test_a_running_run_shows_its_counts_duration_so_far_and_first_metrics() -> None:
    document = run(
        "r1",
        phase="Running",
        startedAt="2024-05-01T11:59:00Z",
        progress={"total": 10, "succeeded": 4, "running": 2, "cached": 1},
        metrics={"train": {"accuracy": 0.9, "loss": 0.1}, "eval": {"auc": 0.8, "f1": 0.7, "extra": 1.0}},
        labels={"kubeline.dev/experiment": "exp-1", "team": "a"},
    )
    row = run_row(document, now=NOW)
    assert (row.namespace, row.name, row.pipeline, row.experiment, row.phase) == (
        "ml",
        "r1",
        "train",
        "exp-1",
        "Running",
    )
    assert row.duration_seconds == 60.0
    assert (row.progress.done, row.progress.total) == (4, 10)
    assert list(row.metrics) == ["train.accuracy", "train.loss", "eval.auc", "eval.f1"]
    assert row.as_json()["progressText"] == "4/10"


def rows() -> list[RunRow]:
    documents = [
        run("a", phase="Succeeded", created="2024-05-01T10:00:00Z", labels={"team": "x"}, pipeline="p1"),
        run("b", phase="Failed", created="2024-05-01T11:00:00Z", labels={"team": "y"}, pipeline="p2"),
        run("c", namespace="other", phase="Running", created="2024-05-01T09:00:00Z", pipeline="p1"),
        run("d", phase="Succeeded", created="2024-05-01T08:00:00Z", labels={"team": "x", "gpu": "1"}, pipeline="p2"),
    ]
    return [run_row(d, now=NOW) for d in documents]


@pytest.mark.parametrize(
    ("params", "names", "total"),
    [
        ({}, ["b", "a", "c", "d"], 4),  # newest first
        ({"order": "asc"}, ["d", "c", "a", "b"], 4),
        ({"sort": "name"}, ["a", "b", "c", "d"], 4),
        ({"sort": "name", "order": "desc"}, ["d", "c", "b", "a"], 4),
        ({"namespace": "other"}, ["c"], 1),
        ({"phase": "Succeeded"}, ["a", "d"], 2),
        ({"pipeline": "p2"}, ["b", "d"], 2),
        ({"label": "team=x"}, ["a", "d"], 2),
        ({"label": "team=x,gpu"}, ["d"], 1),
        ({"label": "team!=x"}, ["b", "c"], 2),
        ({"label": "!gpu,team"}, ["b", "a"], 2),
        ({"per_page": "2"}, ["b", "a"], 4),
        ({"per_page": "2", "page": "2"}, ["c", "d"], 4),
        ({"per_page": "2", "page": "9"}, [], 4),
    ],
)
def test_filters_sorting_and_paging(params: dict[str, str], names: list[str], total: int) -> None:
    page, matching = select(rows(), parse_query(params))
    assert [row.name for row in page] == names
    assert matching == total


@pytest.mark.parametrize(
    "params",
    [
        {"page": "-4", "per_page": "zero", "sort": "'; drop", "phase": "<b>", "order": "sideways"},
        {"page": "99999999999999999999", "per_page": "100000"},
    ],
)
def test_bad_query_values_fall_back_to_defaults(params: dict[str, str]) -> None:
    query = parse_query(params)
    assert query.sort == "created" and query.phase == ""
    assert 1 <= query.page <= 1_000_000 and 1 <= query.per_page <= 500


def test_query_params_round_trip() -> None:
    query = Query(namespace="ml", phase="Failed", label_selector="a=b", sort="name", descending=False, page=3)
    assert parse_query(query.params()) == query


def test_ten_thousand_rows_filter_and_sort_quickly() -> None:
    import time

    many = [
        run_row(run(f"r{i:05d}", phase=("Running", "Succeeded")[i % 2], created=f"2024-05-01T{i % 24:02d}:00:00Z"))
        for i in range(10_000)
    ]
    started = time.perf_counter()
    page, total = select(many, parse_query({"phase": "Succeeded", "sort": "created"}))
    assert total == 5000 and len(page) == 50
    assert time.perf_counter() - started < 0.5
