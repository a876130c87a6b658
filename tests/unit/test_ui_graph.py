"""The graph model of a pipeline and a run: which boxes, groups and arrows the UI draws, and their phases."""

from __future__ import annotations

from typing import Any

import pytest

from kubeline.api.problems import PipelineInvalid
from kubeline.ui.graph import Graph, aggregate_phase, pipeline_graph
from tests.helpers import COMPONENTS

OUT = "{{tasks.%s.outputs.out}}"


def spec(*tasks: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"components": COMPONENTS, "tasks": list(tasks), **fields}


def op(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "component": "op", **fields}


def edges(graph: Graph) -> set[tuple[str, str, str]]:
    """Edges by task path (or group label) rather than ids, as a reader names them."""
    names = {node.id: node.task for node in graph.nodes} | {g.id: f"group:{g.label}" for g in graph.groups}
    return {(names[e.source], names[e.target], e.kind) for e in graph.edges}


def by_task(graph: Graph) -> dict[str, Any]:
    return {node.task: node for node in graph.nodes}


STRUCTURES = [
    pytest.param(
        spec(op("a"), op("b", arguments={"a": OUT % "a"}), op("c", arguments={"a": OUT % "b"})),
        {("a", "b", "data"), ("b", "c", "data")},
        id="chain",
    ),
    pytest.param(
        spec(op("a"), op("b", arguments={"a": OUT % "a"}), op("c", arguments={"b": OUT % "a"})),
        {("a", "b", "data"), ("a", "c", "data")},
        id="fan-out",
    ),
    pytest.param(
        spec(op("a"), op("b", after=["a"]), op("c", after=["a"], arguments={"a": OUT % "a"})),
        {("a", "b", "after"), ("a", "c", "data")},
        id="after, and data beside after",
    ),
    pytest.param(
        spec(
            op("a"),
            {"name": "cond", "when": f"{OUT % 'a'} == yes", "dag": {"tasks": [op("x", arguments={"a": OUT % "a"})]}},
            op("z", after=["cond"]),
        ),
        {("a", "group:cond", "data"), ("group:cond", "z", "after")},
        id="a group's when and a dependency on a group: one edge to its box (the member's own edge is implied)",
    ),
    pytest.param(
        spec(
            op("a"),
            {"name": "cond", "when": "1 == 1", "dag": {"tasks": [op("x")]}},
            op("z", arguments={"a": OUT % "x"}),
        ),
        {("cond.x", "z", "data")},
        id="a task inside a condition group is referred to by name",
    ),
]


@pytest.mark.parametrize(("pipeline", "expected"), STRUCTURES)
def test_edges_connect_what_the_engine_waits_for(pipeline: dict[str, Any], expected: set[tuple[str, str, str]]) -> None:
    assert edges(pipeline_graph(pipeline)) == expected


def test_nodes_are_numbered_in_the_spec_order_and_have_no_phase_without_a_run() -> None:
    graph = pipeline_graph(spec(op("b", arguments={"a": OUT % "a"}), op("a")))
    assert [(n.id, n.task, n.phase, n.counts, n.steps) for n in graph.nodes] == [
        ("n0", "b", "", {}, ()),
        ("n1", "a", "", {}, ()),
    ]


def test_groups_for_conditions_loops_and_sub_dags_nest() -> None:
    graph = pipeline_graph(
        spec(
            op("gen"),
            {
                "name": "shards",
                "forEach": [1, 2, 3],
                "dag": {
                    "tasks": [
                        {"name": "check", "when": "{{item}} > 1", "dag": {"tasks": [op("train")]}},
                        {"name": "plain", "dag": {"tasks": [op("eval")]}},
                    ]
                },
            },
            op("guarded", when=f"{OUT % 'gen'} == go"),
        )
    )
    groups = {g.id: g for g in graph.groups}
    summary = [(g.label, g.kind, groups[g.parent].label if g.parent else None, g.detail) for g in graph.groups]
    assert summary == [
        ("shards", "loop", None, "for each of 3 items"),
        ("check", "condition", "shards", "when {{item}} > 1"),
        ("plain", "dag", "shards", ""),
        ("", "condition", None, "when {{tasks.gen.outputs.out}} == go"),  # a step's own condition
    ]
    nodes = by_task(graph)
    assert groups[nodes["shards.check.train"].group].label == "check"
    assert nodes["gen"].group is None
    assert groups[nodes["guarded"].group].kind == "condition"


def test_nested_loops_are_one_node_counting_every_instance() -> None:
    pipeline = spec(
        {"name": "outer", "forEach": [1, 2], "dag": {"tasks": [op("train", forEach=["a", "b", "c"])]}},
    )
    statuses = {
        "outer[0].train[0]": {"phase": "Succeeded"},
        "outer[0].train[1]": {"phase": "Succeeded", "cached": True},
        "outer[0].train[2]": {"phase": "Failed"},
        "outer[1].train[0]": {"phase": "Running"},
    }
    graph = pipeline_graph(pipeline, statuses)
    (train,) = graph.nodes
    assert train.task == "outer.train" and train.looped and train.instances == 6
    assert train.counts == {"Failed": 1, "Pending": 2, "Running": 1, "Succeeded": 2}  # 2 not yet recorded
    assert train.phase == "Running"
    assert set(train.steps) == set(statuses)
    assert [g.kind for g in graph.groups] == ["loop", "loop"]  # the group's loop, and the step's own


def test_a_loop_over_a_produced_list_has_no_known_size() -> None:
    graph = pipeline_graph(spec(op("gen"), op("each", forEach="{{tasks.gen.outputs.out}}")))
    each = by_task(graph)["each"]
    assert each.looped and each.instances is None
    assert graph.groups[0].detail == "for each of {{tasks.gen.outputs.out}}"
    assert edges(graph) == {("gen", "each", "data")}


def test_exit_handler_is_its_own_group_and_node_kind() -> None:
    graph = pipeline_graph(
        spec(op("a"), onExit={"component": "op", "arguments": {"a": "{{run.status}} " + OUT % "a"}}),
        {"a": {"phase": "Failed"}, "exit-handler": {"phase": "Succeeded"}},
    )
    exit_node = by_task(graph)["exit-handler"]
    assert exit_node.kind == "exit" and exit_node.phase == "Succeeded"
    assert [(g.id, g.kind) for g in graph.groups] == [(exit_node.group, "exit")]
    assert edges(graph) == {("a", "exit-handler", "data")}


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        (["Succeeded", "Running", "Failed"], "Running"),
        (["Succeeded", "Failed", "Pending"], "Failed"),
        (["Succeeded", "Succeeded"], "Succeeded"),
        (["Succeeded", "Skipped"], "Succeeded"),
        (["Skipped", "Skipped"], "Skipped"),
        (["Cancelled", "Succeeded"], "Cancelled"),
        (["Cancelled", "Running"], "Running"),
        (["Pending", "Pending"], "Pending"),
        (["Succeeded", "Pending"], "Running"),  # a loop part done: under way, as the engine reads a group
        ([], "Pending"),
    ],
)
def test_aggregate_phase(phases: list[str], expected: str) -> None:
    assert aggregate_phase(phases) == expected


@pytest.mark.parametrize(
    ("statuses", "cached"),
    [
        ({"t[0]": {"phase": "Succeeded", "cached": True}, "t[1]": {"phase": "Succeeded", "cached": True}}, True),
        ({"t[0]": {"phase": "Succeeded", "cached": True}, "t[1]": {"phase": "Succeeded"}}, False),
        ({}, False),
    ],
)
def test_a_node_is_cached_when_every_step_of_it_was(statuses: dict[str, Any], cached: bool) -> None:
    (node,) = pipeline_graph(spec(op("t", forEach=[1, 2])), statuses).nodes
    assert node.cached is cached


def test_steps_of_a_skipped_group_or_loop_show_its_phase() -> None:
    pipeline = spec(
        op("a"),
        {"name": "cond", "when": "1 == 2", "dag": {"tasks": [op("x"), op("y")]}},
        op("each", forEach=[1, 2]),
        op("later", after=["a"]),
    )
    graph = pipeline_graph(
        pipeline, {"a": {"phase": "Succeeded"}, "cond": {"phase": "Skipped"}, "each": {"phase": "Skipped"}}
    )
    phases = {n.task: n.phase for n in graph.nodes}
    assert phases == {"a": "Succeeded", "cond.x": "Skipped", "cond.y": "Skipped", "each": "Skipped", "later": "Pending"}


def test_step_ids_that_are_not_of_this_pipeline_are_ignored() -> None:
    graph = pipeline_graph(spec(op("a")), {"a": {"phase": "Running"}, "gone": {"phase": "Failed"}, "Not An Id": {}})
    assert [(n.phase, n.steps) for n in graph.nodes] == [("Running", ("a",))]
    assert graph.node_for_step("a") is graph.nodes[0]
    assert graph.node_for_step("gone") is None


def test_node_for_step_finds_a_loop_instance() -> None:
    graph = pipeline_graph(spec({"name": "loop", "forEach": [1, 2], "dag": {"tasks": [op("train")]}}))
    assert graph.node_for_step("loop[1].train") is graph.nodes[0]


HOSTILE = "\"quoted\" <script>alert('x')</script>\nsecond line \\N & co"


def test_hostile_display_names_and_conditions_are_kept_as_text() -> None:
    graph = pipeline_graph(
        spec(
            op("a", displayName=HOSTILE),
            {"name": "g", "displayName": HOSTILE, "when": f"{OUT % 'a'} == '<script>\"x'", "dag": {"tasks": [op("b")]}},
        )
    )
    assert graph.nodes[0].label == HOSTILE
    assert graph.groups[0].label == HOSTILE
    assert graph.groups[0].detail == "when {{tasks.a.outputs.out}} == '<script>\"x'"


def test_long_texts_are_clipped_for_the_drawing() -> None:
    graph = pipeline_graph(spec(op("a", displayName="x" * 200)))
    assert len(graph.nodes[0].label) == 80 and graph.nodes[0].label.endswith("…")


def test_an_invalid_pipeline_raises_the_engines_problems() -> None:
    with pytest.raises(PipelineInvalid, match="unknown task 'missing'"):
        pipeline_graph(spec(op("a", after=["missing"])))


def test_a_thousand_tasks_and_ten_thousand_steps_are_quick() -> None:
    import time

    tasks = [op("t0")] + [op(f"t{i}", arguments={"a": OUT % f"t{i - 1}"}) for i in range(1, 999)]
    tasks.append(op("loop", forEach=list(range(10_000))))
    statuses = {f"t{i}": {"phase": "Succeeded"} for i in range(999)}
    statuses |= {f"loop[{i}]": {"phase": "Succeeded" if i % 2 else "Running"} for i in range(10_000)}
    started = time.perf_counter()
    graph = pipeline_graph(spec(*tasks), statuses)
    elapsed = time.perf_counter() - started
    assert len(graph.nodes) == 1000 and graph.nodes[-1].counts == {"Running": 5000, "Succeeded": 5000}
    assert elapsed < 2.0, f"{elapsed:.2f}s"
