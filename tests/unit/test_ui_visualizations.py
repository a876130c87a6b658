"""KFP visualizations and metrics as the UI shows them: what a user reads, and nothing a hostile value can run."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kubeline.ui import visualizations as vis
from kubeline.ui.visualizations import (
    ConfusionMatrixView,
    MarkdownView,
    Notice,
    RocView,
    TableView,
    WebAppView,
    metrics_table,
    visualizations,
)
from tests.unit.ui_html import HOSTILE, assert_inert, render, tags

CM_SCHEMA = [{"name": "target", "type": "CATEGORY"}, {"name": "predicted", "type": "CATEGORY"}, {"name": "count"}]
ROC_SCHEMA = [{"name": "fpr", "type": "NUMBER"}, {"name": "tpr", "type": "NUMBER"}, {"name": "thresholds"}]


def one(output: dict) -> vis.Visualization:
    (view,) = visualizations(json.dumps({"outputs": [output]}))
    return view


def inline(kind: str, source: str, **more: object) -> dict:
    return {"type": kind, "storage": "inline", "source": source, **more}


@pytest.mark.parametrize(
    "metadata, says",
    [
        ("{not json", "not JSON"),
        ("[]", 'no list "outputs"'),
        ('{"outputs": {"type": "table"}}', 'no list "outputs"'),
        ('{"outputs": [7]}', "must be a JSON object"),
        ('{"outputs": [{"type": "pie"}]}', "unknown type 'pie'"),
        ('{"outputs": [{"type": "table", "source": "gs://b/t.csv"}]}', "stored outside the metadata"),
        ('{"outputs": [{"type": "markdown", "storage": "minio", "source": "minio://x"}]}', "storage: inline"),
        ('{"outputs": [{"type": "markdown", "storage": "inline", "source": 3}]}', "must be text"),
        ('{"outputs": [{"type": "tensorboard", "source": "gs://logs"}]}', "does not start TensorBoard"),
        ("[" * 100_000, "nests too deeply"),
    ],
)
def test_what_cannot_be_shown_is_a_notice_saying_why(metadata: str, says: str) -> None:
    views = visualizations(metadata)
    assert len(views) == 1 and isinstance(views[0], Notice)
    assert says in views[0].message


def test_metadata_over_the_cap_is_refused_unread() -> None:
    (view,) = visualizations(b" " * (vis.MAX_METADATA_BYTES + 1))
    assert isinstance(view, Notice) and str(vis.MAX_METADATA_BYTES) in view.message


def test_one_bad_output_leaves_the_others_shown() -> None:
    views = visualizations(json.dumps({"outputs": [{"type": "nope"}, inline("markdown", "*hi*")]}))
    assert [type(view) for view in views] == [Notice, MarkdownView]


@pytest.mark.parametrize(
    "source, present, absent",
    [
        ("# Title\n\n*em*", ["<h1>Title</h1>", "<em>em</em>"], []),
        ("|a|b|\n|-|-|\n|1|2|", ["<th>a</th>", "<td>2</td>"], []),
        ("<script>alert(1)</script>", ["&lt;script&gt;"], ["<script"]),
        ('<img src=x onerror="alert(1)">', ["&lt;img"], ["<img"]),
        ("[x](javascript:alert(1))", ["[x](javascript:alert(1))"], ["href"]),
        ("[x](JaVaScRiPt:alert(1))", [], ["href"]),
        ("[x](data:text/html,<script>)", [], ["href"]),
        ("[ok](https://example.com/a)", ['href="https://example.com/a"', 'rel="noopener noreferrer nofollow"'], []),
        ("![pixel](https://tracker.example/p.png)", [], ["<img"]),
    ],
)
def test_markdown_is_rendered_without_raw_html_or_unsafe_links(
    source: str, present: list[str], absent: list[str]
) -> None:
    view = one(inline("markdown", source))
    assert isinstance(view, MarkdownView)
    html = render("visualization.html", visualizations=[view])
    for text in present:
        assert text in html
    for text in absent:
        assert text not in html.lower()
    assert_inert(html)


def test_a_long_markdown_is_cut_and_says_so() -> None:
    view = one(inline("markdown", "line\n" * (vis.MAX_SOURCE_BYTES // 5 + 10)))
    assert isinstance(view, MarkdownView) and view.truncated
    assert "only its beginning is shown" in render("visualization.html", visualizations=[view])


def test_an_inline_csv_table_keeps_its_header_and_rows() -> None:
    view = one(inline("table", 'a,b\n"x, y",2\n', header=["name", "value"], format="csv"))
    assert view == TableView(["name", "value"], [["a", "b"], ["x, y", "2"]], 2, False)


def test_a_table_over_the_row_cap_shows_the_first_rows_and_the_count() -> None:
    view = one(inline("table", "".join(f"{i}\n" for i in range(vis.MAX_TABLE_ROWS + 7)), header=["i"]))
    assert isinstance(view, TableView) and view.truncated
    assert len(view.rows) == vis.MAX_TABLE_ROWS and view.total_rows == vis.MAX_TABLE_ROWS + 7
    assert f"Showing {vis.MAX_TABLE_ROWS} of {vis.MAX_TABLE_ROWS + 7} rows" in render(
        "visualization.html", visualizations=[view]
    )


def test_a_confusion_matrix_sums_counts_by_true_and_predicted_label() -> None:
    source = "cat,cat,5\ncat,dog,2\ndog,dog,7\ncat,dog,1\nbird,cat,1.5\n"
    view = one(inline("confusion_matrix", source, schema=CM_SCHEMA, labels=["dog", "cat"]))
    assert isinstance(view, ConfusionMatrixView)
    assert view.labels == ["dog", "cat", "bird"]  # given order first, labels only the data name after
    assert view.counts == [["7", "0", "0"], ["3", "5", "0"], ["0", "1.5", "0"]]
    assert view.shades[0][0] == 100 and view.shades[1][1] == round(100 * 5 / 7)


def test_a_confusion_matrix_reads_columns_by_the_schema_order() -> None:
    schema = [CM_SCHEMA[2], CM_SCHEMA[1], CM_SCHEMA[0]]  # count, predicted, target
    view = one(inline("confusion_matrix", "4,b,a\n", schema=schema))
    assert isinstance(view, ConfusionMatrixView)
    assert view.labels == ["a", "b"] and view.counts == [["0", "4"], ["0", "0"]]


@pytest.mark.parametrize(
    "output, says",
    [
        (inline("confusion_matrix", "a,b,many\n", schema=CM_SCHEMA), "row 1: count 'many' is not a number"),
        (inline("confusion_matrix", "a,b\n", schema=CM_SCHEMA), "row 1 has 2 columns"),
        (inline("confusion_matrix", "a,b,1\n", schema=CM_SCHEMA[:2]), "no column count"),
        (inline("roc", "0.1,nan,0\n", schema=ROC_SCHEMA), "not a finite number"),
        (inline("roc", "0.1,1.5,0\n", schema=ROC_SCHEMA), "between 0 and 1"),
        (inline("roc", "", schema=ROC_SCHEMA), "no points"),
        (inline("web-app", "x" * (vis.MAX_SOURCE_BYTES + 1)), "over"),
    ],
)
def test_malformed_data_becomes_a_notice(output: dict, says: str) -> None:
    view = one(output)
    assert isinstance(view, Notice) and says in view.message, view


def test_a_roc_curve_is_a_polyline_in_the_unit_square_with_its_area() -> None:
    view = one(inline("roc", "1,1,0\n0,0,1\n0,1,0.5\n", schema=ROC_SCHEMA))
    assert isinstance(view, RocView)
    assert view.polyline == "0.00,100.00 0.00,0.00 100.00,0.00"  # sorted by fpr; tpr 1 is the top (y 0)
    assert view.auc == pytest.approx(1.0)
    html = render("visualization.html", visualizations=[view])
    assert f'points="{view.polyline}"' in html and "AUC 1.0000" in html


def test_a_long_roc_curve_is_thinned_keeping_its_ends() -> None:
    count = vis.MAX_ROC_POINTS * 3 + 1
    source = "".join(f"{i / (count - 1)},{i / (count - 1)},0\n" for i in range(count))
    view = one(inline("roc", source, schema=ROC_SCHEMA))
    assert isinstance(view, RocView) and view.points == vis.MAX_ROC_POINTS and view.thinned_from == count
    assert view.polyline.startswith("0.00,100.00 ") and view.polyline.endswith(" 100.00,0.00")


def test_a_web_app_is_a_framed_page_of_its_own_in_a_sandbox_without_same_origin() -> None:
    page = '<h1 onclick="steal()">hi</h1><script>parent.document.cookie</script>'
    view = one(inline("web-app", page))
    assert view == WebAppView(page)
    html = render("visualization.html", visualizations=[replace(view, url="/runs/a/b/steps/c/webapp/0")])
    ((tag, attrs),) = [t for t in tags(html) if t[0] == "iframe"]
    attributes = dict(attrs)
    assert attributes["src"] == "/runs/a/b/steps/c/webapp/0"  # the page is served apart, with a sandboxing CSP
    assert attributes["sandbox"] == "allow-scripts" and "srcdoc" not in attributes
    assert "steal" not in html and "<h1" not in html
    assert_inert(html)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_in_every_view_stays_text(hostile: str) -> None:
    csv_cell = '"' + hostile.replace('"', '""') + '"'
    outputs = [
        inline("markdown", f"{hostile} [a]({hostile})"),
        inline("table", f"{csv_cell},1\n", header=[hostile]),
        inline("confusion_matrix", f"{csv_cell},{csv_cell},1\n", schema=CM_SCHEMA, labels=[hostile]),
        inline("web-app", hostile),
        {"type": "table", "source": hostile},
        {"type": hostile},
    ]
    views = visualizations(json.dumps({"outputs": outputs}))
    assert not any(isinstance(view, Notice) for view in views[:4])
    html = render("visualization.html", visualizations=views)
    assert_inert(html)
    assert hostile not in html or hostile == "javascript:alert(1)"


@pytest.mark.parametrize(
    "metrics, rows",
    [
        (None, []),
        ({}, []),
        (
            {"train": {"accuracy": 0.912345678, "loss": 12}, "loop[1].eval": {"auc": 1e-7}},
            [("train", "accuracy", "0.912346"), ("train", "loss", "12"), ("loop[1].eval", "auc", "1e-07")],
        ),
        ({"train": {"flag": True, "text": "x", "ok": 1.5}, "bad": "nope"}, [("train", "ok", "1.5")]),
    ],
)
def test_metrics_table_lists_each_step_metric_as_people_read_it(metrics: dict | None, rows: list) -> None:
    assert [(row.step, row.name, row.text) for row in metrics_table(metrics)] == rows


@pytest.mark.parametrize("hostile", HOSTILE)
def test_metrics_partial_escapes_step_and_metric_names(hostile: str) -> None:
    html = render("metrics.html", metric_rows=metrics_table({hostile: {hostile: 1.0}}))
    assert_inert(html)
    assert "1</td>" in html
    assert render("metrics.html", metric_rows=[]).strip() == '<p class="empty">No metrics.</p>'
