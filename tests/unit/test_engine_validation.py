"""Validation: every problem reported at once, each naming the field at fault."""

from __future__ import annotations

from typing import Any

import pytest

from kubeline.api.problems import PipelineInvalid
from tests.helpers import pipeline, task
from tests.unit.simulate import plan_of


def issues_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(PipelineInvalid) as caught:
        plan_of(document)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize(
    "tasks, extra, expected",
    [
        pytest.param(
            [task("a", after=["b"]), task("b", after=["c"]), task("c", after=["a"])],
            {},
            "spec.tasks: dependency cycle: a -> b -> c -> a",
            id="cycle",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{tasks.nope.outputs.out}}"})],
            {},
            "spec.tasks[a].arguments.a: unknown task 'nope' (known here: a)",
            id="unknown task",
        ),
        pytest.param([task("a", after=["ghost"])], {}, "spec.tasks[a].after: unknown task 'ghost'", id="unknown after"),
        pytest.param(
            [task("a", "nothing")],
            {},
            "spec.tasks[a].component: unknown component 'nothing' (defined: num, op)",
            id="unknown component",
        ),
        pytest.param(
            [task("a", "num", arguments={"x": "ten"})],
            {},
            "spec.tasks[a].arguments.x: input 'x': 'ten' is not an integer",
            id="literal of the wrong type",
        ),
        pytest.param(
            [task("a"), task("b", "num", arguments={"x": "{{tasks.a.outputs.out}}"})],
            {},
            "spec.tasks[b].arguments.x: {{tasks.a.outputs.out}} is a string but input 'x' is an integer",
            id="output of the wrong type",
        ),
        pytest.param(
            [task("a", arguments={"zzz": "1"})],
            {},
            "spec.tasks[a].arguments.zzz: component 'op' has no input 'zzz' (its inputs: a, b)",
            id="unknown argument",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{params.missing}}"})],
            {},
            "spec.tasks[a].arguments.a: unknown parameter 'missing'",
            id="unknown parameter",
        ),
        pytest.param(
            [task("a"), task("b", arguments={"a": "{{tasks.a.outputs.nope}}"})],
            {},
            "spec.tasks[b].arguments.a: task 'a' has no output 'nope' (component 'op' outputs: out)",
            id="unknown output",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{item}}"})],
            {},
            "spec.tasks[a].arguments.a: {{item}} is only defined inside forEach",
            id="item outside a loop",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{run.status}}"})],
            {},
            "{{run.status}} is only known to the exit handler",
            id="run.status outside the exit handler",
        ),
        pytest.param(
            [task("a", when="{{params.x}} ==")],
            {"params": [{"name": "x"}]},
            "spec.tasks[a].when: condition '{{params.x}} ==' ends too early",
            id="broken condition",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{tasks.a.outputs.out}}"})],
            {},
            "spec.tasks[a].arguments.a: task 'a' cannot depend on itself",
            id="self reference",
        ),
        pytest.param(
            [
                {"name": "loop", "forEach": [1], "dag": {"tasks": [task("inner")]}},
                task("b", arguments={"a": "{{tasks.inner.outputs.out}}"}),
            ],
            {},
            "task 'inner' runs inside the loop 'loop': its outputs are not available outside it",
            id="loop output from outside",
        ),
        pytest.param(
            [{"name": "g", "component": "op", "dag": {"tasks": [task("x")]}}],
            {},
            "spec.tasks[g]: set exactly one of component (a step) and dag (a group)",
            id="component and dag",
        ),
        pytest.param(
            [task("a", forEach="items")],
            {},
            "spec.tasks[a].forEach: must be a list or one placeholder of a list",
            id="bad forEach",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{ bogus }}"})],
            {},
            "spec.tasks[a].arguments.a: unknown placeholder {{bogus}}",
            id="unknown placeholder",
        ),
        pytest.param(
            [{"name": "g", "when": "{{tasks.x.outputs.out}} == 1", "dag": {"tasks": [task("x")]}}],
            {},
            "spec.tasks[g].when: task 'x' is inside group 'g': a group cannot depend on its own tasks",
            id="group on its own task",
        ),
        pytest.param(
            [task("a", forEach=[1, 2], when="{{item}} == 1")],
            {},
            "spec.tasks[a].when: {{item}} is only defined inside forEach (a task's when and forEach are decided once",
            id="item in a looped task's own condition",
        ),
        pytest.param(
            [task("a")],
            {"outputs": {"r": "{{tasks.a.outputs.zip}}"}},
            "spec.outputs.r: task 'a' has no output 'zip'",
            id="pipeline output",
        ),
        pytest.param(
            [
                {
                    "name": "outer",
                    "forEach": [1],
                    "itemName": "row",
                    "dag": {"tasks": [task("inner", forEach=[2], arguments={"a": "{{items.col}}"})]},
                }
            ],
            {},
            "spec.tasks[outer].dag.tasks[inner].arguments.a: {{items.col}}: no loop around this task has itemName "
            "'col' (item names here: row)",
            id="unknown loop item name",
        ),
        pytest.param(
            [task("a", arguments={"a": "{{items.row}}"})],
            {},
            "spec.tasks[a].arguments.a: {{items.row}} is only defined inside forEach",
            id="named item outside a loop",
        ),
        pytest.param(
            [
                {
                    "name": "outer",
                    "forEach": [1],
                    "itemName": "row",
                    "dag": {"tasks": [task("inner", forEach=[2], itemName="row", arguments={"a": "{{item}}"})]},
                }
            ],
            {},
            "spec.tasks[outer].dag.tasks[inner].itemName: 'row' already names the item of an enclosing loop",
            id="item name reused in a nested loop",
        ),
        pytest.param(
            [task("a", itemName="row")],
            {},
            "spec.tasks[a].itemName: itemName names a loop's item: set forEach too",
            id="item name without a loop",
        ),
        pytest.param(
            [task("a", forEach=[1], itemName="row", when="{{items.row}} == 1")],
            {},
            "spec.tasks[a].when: {{items.row}} is only defined inside forEach (a task's when",
            id="named item in a looped task's own condition",
        ),
        pytest.param(
            [task("a")],
            {"outputs": {"r": "{{run.status}}"}},
            "spec.outputs.r: {{run.status}} cannot be used in pipeline outputs",
            id="run status in pipeline outputs",
        ),
        pytest.param(
            [task("a")],
            {"onExit": {"component": "op", "arguments": {"a": "{{tasks.b.outputs.out}}"}}},
            "spec.onExit.arguments.a: unknown task 'b'",
            id="exit handler reference",
        ),
    ],
)
def test_each_problem_names_its_field(tasks: list[dict], extra: dict, expected: str) -> None:
    found = issues_of(pipeline(tasks, **extra))
    assert any(expected in issue for issue in found), found


def test_all_problems_are_reported_together() -> None:
    found = issues_of(
        pipeline(
            [
                task("a", after=["b"]),
                task("b", after=["a"]),
                task("c", arguments={"a": "{{tasks.ghost.outputs.out}}"}),
                task("d", "num", arguments={"x": "1.5"}),
            ]
        )
    )
    assert len(found) == 3, found


@pytest.mark.parametrize(
    "document, expected",
    [
        ({"spec": {"components": [], "tasks": []}}, "spec.components: list should have at least 1 item"),
        ({"spec": {"tasks": [{"name": "a", "component": "op"}]}}, "spec.components: required field is missing"),
        (
            pipeline([{"name": "Bad_Name", "component": "op"}]),
            "spec.tasks[Bad_Name].name: 'Bad_Name' is not a valid name: use lowercase letters",
        ),
        (
            pipeline([task("a", timeout="soon")]),
            "spec.tasks[a].timeout: 'soon' is not a duration: write a duration like 30s, 5m, 1h30m or P1D",
        ),
        (
            pipeline([task("a", retries={"limit": -1})]),
            "spec.tasks[a].retries.limit: input should be greater than or equal to 0",
        ),
        (pipeline([task("a", colour="blue")]), "spec.tasks[a].colour: unknown field"),
        (pipeline([task("a", resources={"limits": {"cpu": "lots"}})]), "not a Kubernetes quantity"),
    ],
)
def test_schema_problems_name_the_field(document: dict, expected: str) -> None:
    found = issues_of(document)
    assert any(expected in issue for issue in found), found


def test_tasks_in_condition_groups_are_visible_outside_them() -> None:
    plan = plan_of(
        pipeline(
            [
                {"name": "cond", "when": "1 == 1", "dag": {"tasks": [task("inside")]}},
                task("outside", arguments={"a": "{{tasks.inside.outputs.out}}"}),
            ]
        )
    )
    assert plan.root.nodes["outside"].deps == ("cond",)


def test_references_to_enclosing_scopes_lift_dependencies_to_the_group() -> None:
    plan = plan_of(
        pipeline(
            [
                task("early"),
                task("late", after=["early"]),
                {"name": "group", "dag": {"tasks": [task("inner", arguments={"a": "{{tasks.late.outputs.out}}"})]}},
            ]
        )
    )
    assert plan.root.nodes["group"].deps == ("late",)
    assert list(plan.root.nodes) == ["early", "late", "group"]


def test_settings_merge_task_over_group_over_defaults() -> None:
    plan = plan_of(
        pipeline(
            [
                {
                    "name": "g",
                    "nodeSelector": {"zone": "a"},
                    "dag": {
                        "tasks": [
                            task(
                                "t",
                                nodeSelector={"gpu": "yes"},
                                tolerations=[{"key": "gpu", "operator": "Exists"}],
                                resources={"limits": {"memory": "2Gi"}},
                                caching={"maxStaleness": "P0D"},
                            ),
                        ]
                    },
                }
            ],
            defaults={
                "nodeSelector": {"zone": "default", "pool": "ml"},
                "tolerations": [{"key": "spot", "operator": "Exists"}],
                "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}},
                "timeout": "1h",
            },
        )
    )
    settings = plan.root.nodes["g"].body.nodes["t"].settings
    assert settings.scheduling == {
        "nodeSelector": {"zone": "a", "pool": "ml", "gpu": "yes"},
        "tolerations": [{"key": "spot", "operator": "Exists"}, {"key": "gpu", "operator": "Exists"}],
        "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "2Gi"}},
    }
    assert settings.max_staleness == 0 and settings.timeout == 3600
