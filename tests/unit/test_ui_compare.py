"""Comparing runs: every parameter, metric and output of any run, one column a run, differences marked."""

from __future__ import annotations

import pytest

from kubeline.ui.compare import MAX_VALUE_CHARS, CompareRow, compare
from tests.unit.ui_html import HOSTILE, assert_inert, render, tags


def run(name: str, status: dict | None = None, spec: dict | None = None, namespace: str = "ml") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"pipelineRef": {"name": "train"}, **(spec or {})},
        "status": status or {},
    }


def test_parameters_are_the_union_and_rows_that_differ_are_marked() -> None:
    comparison = compare(
        [
            run("a", {"arguments": {"lr": 0.1, "epochs": 3, "tags": ["x"]}, "phase": "Succeeded"}),
            run("b", {"arguments": {"lr": 0.2, "epochs": 3, "extra": "yes"}}),
        ]
    )
    assert comparison.parameters == [
        CompareRow("lr", ["0.1", "0.2"], True),
        CompareRow("epochs", ["3", "3"], False),
        CompareRow("tags", ['["x"]', None], True),
        CompareRow("extra", [None, "yes"], True),
    ]
    assert [(c.name, c.pipeline, c.phase, c.href) for c in comparison.runs] == [
        ("a", "train", "Succeeded", "/runs/ml/a"),
        ("b", "train", "Pending", "/runs/ml/b"),
    ]


def test_a_run_not_started_shows_the_arguments_it_asked_for() -> None:
    comparison = compare([run("a", spec={"arguments": {"lr": "0.5"}}), run("b", {"arguments": {"lr": "0.5"}})])
    assert comparison.parameters == [CompareRow("lr", ["0.5", "0.5"], False)]


def test_metrics_are_compared_by_step_and_name() -> None:
    comparison = compare(
        [
            run("a", {"metrics": {"eval": {"accuracy": 0.9, "loss": 0.25}}}),
            run("b", {"metrics": {"eval": {"accuracy": 0.9}, "loop[0].eval": {"accuracy": 0.5}}}),
        ]
    )
    assert [(row.step, row.name, row.values, row.differs) for row in comparison.metrics] == [
        ("eval", "accuracy", ["0.9", "0.9"], False),
        ("eval", "loss", ["0.25", None], True),
        ("loop[0].eval", "accuracy", [None, "0.5"], True),
    ]


def test_outputs_and_long_values() -> None:
    long = "v" * (MAX_VALUE_CHARS + 50)
    comparison = compare([run("a", {"outputs": {"model": long}}), run("b", {"outputs": {"model": "m"}})])
    (row,) = comparison.outputs
    assert row.values[0] is not None and len(row.values[0]) == MAX_VALUE_CHARS and row.values[0].endswith("\u2026")


def test_the_partial_marks_differences_and_absences() -> None:
    html = render(
        "compare.html", comparison=compare([run("a", {"arguments": {"x": 1}}), run("b", {"arguments": {"x": 2}})])
    )
    assert '<tr class="differs"><th scope="row">x</th><td>1</td><td>2</td></tr>' in html
    assert html.count('<p class="empty">None.</p>') == 2  # no metrics, no outputs


@pytest.mark.parametrize("odd", [{}, {"metadata": None, "spec": "x", "status": []}])
def test_odd_documents_compare_without_failing(odd: dict) -> None:
    comparison = compare([odd, run("b")])
    assert comparison.runs[0].href == "/runs/default/"
    render("compare.html", comparison=comparison)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_values_and_metrics_stay_text(hostile: str) -> None:
    runs = [
        run(
            hostile,
            {"arguments": {hostile: hostile}, "outputs": {hostile: hostile}, "metrics": {hostile: {hostile: 1}}},
            namespace=hostile,
        ),
        run("b", {"phase": hostile}),
    ]
    html = render("compare.html", comparison=compare(runs))
    assert_inert(html)
    hrefs = [dict(attrs)["href"] for tag, attrs in tags(html) if tag == "a"]
    assert all(href.startswith("/runs/") and href.count("/") == 3 for href in hrefs), hrefs
