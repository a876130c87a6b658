"""The drawing: DOT text escaped and stable, real Graphviz output with the ids and classes the page relies on."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from kubeline.ui.graph import Edge, Graph, Group, Node, pipeline_graph
from kubeline.ui.layout import LayoutError, LayoutUnavailable, node_label, quote, render, svg_for_page, to_dot
from tests.unit.test_ui_graph import HOSTILE, OUT, op, spec

needs_dot = pytest.mark.usefixtures("dot")  # skipped, saying how to install it, where Graphviz is missing
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("text", "dot"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash \\N", '"back\\\\slash \\\\N"'),
        ("two\nlines", '"two\\nlines"'),
        ("crlf\r\nend", '"crlf\\nend"'),
        ("tab\there\x00", '"tab here "'),
        ("a & <b>", '"a &amp; <b>"'),
    ],
)
def test_quote_escapes_for_dot(text: str, dot: str) -> None:
    assert quote(text) == dot


def node(**fields: object) -> Node:
    base: dict[str, object] = {
        "id": "n0",
        "task": "t",
        "label": "t",
        "kind": "step",
        "group": None,
        "phase": "",
        "cached": False,
        "counts": {},
        "steps": (),
    }
    return Node(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({}, "t"),
        ({"cached": True}, "t\n(cached)"),
        ({"looped": True, "instances": 10}, "t\n×10"),
        ({"looped": True}, "t\n× each item"),
        ({"looped": True, "counts": {"Succeeded": 7, "Running": 3}}, "t\n7/10 ✓  3 ▶"),
        ({"looped": True, "counts": {"Succeeded": 1, "Failed": 2, "Skipped": 1}}, "t\n1/4 ✓  2 ✗  1 –"),
    ],
)
def test_node_label_counts_a_loops_steps(fields: dict[str, object], label: str) -> None:
    assert node_label(node(**fields)) == label


def test_dot_has_ids_classes_clusters_and_colours() -> None:
    graph = Graph(
        nodes=(node(id="n0", phase="Running", cached=True), node(id="n1", group="g0", phase="Failed")),
        groups=(Group("g0", "cond", "condition", None, "when x"),),
        edges=(Edge("n0", "g0", "data"), Edge("g0", "n0", "after")),
    )
    dot = to_dot(graph)
    assert 'n0 [id="n0" class="phase-running cached"' in dot
    assert 'fillcolor="#bbdefb"' in dot and 'fillcolor="#ffcdd2"' in dot
    assert "subgraph cluster_g0 {" in dot and 'label="if cond\\nwhen x"' in dot
    assert 'n0 -> n1 [class="dep-data" lhead=cluster_g0]' in dot
    assert 'n1 -> n0 [class="dep-after" style=dashed ltail=cluster_g0]' in dot
    assert to_dot(graph) == dot


def hostile_graph() -> Graph:
    return pipeline_graph(
        spec(
            op("a", displayName=HOSTILE),
            {"name": "g", "displayName": HOSTILE, "when": f"{OUT % 'a'} == '<script>'", "dag": {"tasks": [op("b")]}},
        ),
        {"a": {"phase": "Succeeded"}},
    )


def test_hostile_text_stays_inside_quoted_strings() -> None:
    dot = to_dot(hostile_graph())
    assert dot.count("\n") == len(dot.splitlines())  # no raw newline from the names
    assert "\\\"quoted\\\" <script>alert('x')</script>\\nsecond line \\\\N &amp; co" in dot


@needs_dot
def test_svg_shows_hostile_text_as_text_with_the_pages_ids_and_classes() -> None:
    graph = hostile_graph()
    svg = render(to_dot(graph), "svg").decode()
    root = ElementTree.fromstring(svg)  # well-formed XML
    assert not [e for e in root.iter() if e.tag in (f"{SVG}script", "script")]
    texts = " ".join(e.text or "" for e in root.iter(f"{SVG}text"))
    assert "\"quoted\" <script>alert('x')</script>" in texts and "second line \\N & co" in texts
    groups = {e.get("id"): e.get("class") for e in root.iter(f"{SVG}g")}
    assert groups["n0"] == "node phase-succeeded"
    assert groups["n1"] == "node phase-pending"
    assert groups["g0"] == "cluster group group-condition"


@needs_dot
def test_png_is_a_png() -> None:
    assert render(to_dot(hostile_graph()), "png").startswith(b"\x89PNG\r\n\x1a\n")


@needs_dot
def test_svg_for_page_is_embeddable_and_scalable() -> None:
    svg = svg_for_page(pipeline_graph(spec(op("a"), op("b", after=["a"]))))
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg and "<!--" not in svg
    root_tag = svg[: svg.index(">")]
    assert "viewBox=" in root_tag and "width=" not in root_tag and "height=" not in root_tag
    assert 'id="n0"' in svg and 'id="n1"' in svg


def test_missing_dot_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LayoutUnavailable, match="apt-get install graphviz / brew install graphviz"):
        render("digraph never_drawn_before_missing_dot { a }", "svg")


@needs_dot
def test_dot_failure_is_a_clear_error() -> None:
    with pytest.raises(LayoutError, match="Graphviz's dot failed: .*syntax error"):
        render("digraph { this is not dot", "svg")


@needs_dot
def test_a_thousand_task_pipeline_lays_out_in_time() -> None:
    import time

    tasks = [op("t0")]
    for i in range(1, 1000):
        tasks.append(op(f"t{i}", arguments={"a": OUT % f"t{(i - 1) // 2}"}))  # a binary tree: wide and deep
    graph = pipeline_graph(spec(*tasks))
    started = time.perf_counter()
    svg = render(to_dot(graph), "svg")
    elapsed = time.perf_counter() - started
    assert svg.count(b'class="node ') == 1000
    assert elapsed < 20, f"{elapsed:.1f}s"


def test_the_exit_handler_is_drawn_below_the_dags_last_tasks() -> None:
    graph = pipeline_graph(spec(op("a"), op("b", after=["a"]), op("c"), onExit={"component": "op"}))
    dot = to_dot(graph)
    exit_id = next(n.id for n in graph.nodes if n.kind == "exit")
    assert f"n1 -> {exit_id} [style=invis]" in dot and f"n2 -> {exit_id} [style=invis]" in dot
    assert f"n0 -> {exit_id}" not in dot  # a has a successor below it already
    assert 'label="exit handler\\nruns after all others, whatever the outcome"' in dot
