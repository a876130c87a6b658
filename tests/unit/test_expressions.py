"""Conditions, placeholders and durations: the small languages inside a pipeline."""

from __future__ import annotations

import pytest

from kubeline.api.durations import parse_duration
from kubeline.engine import conditions
from kubeline.engine.templates import (
    TASK_SCOPE,
    Ref,
    TemplateError,
    parse_ref,
    refs_in,
    substitute,
    whole_expression,
)

VALUES = {"params.a": "10", "params.b": "9", "params.word": "heads", "params.flag": "True", "params.empty": ""}


def evaluate(text: str) -> bool:
    return conditions.evaluate(conditions.parse(text), lambda ref: VALUES[str(ref)])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{params.a}} > {{params.b}}", True),  # 10 > 9 as numbers ('10' < '9' as text)
        ("{{params.a}} == 10.0", True),
        ("{{params.word}} == heads", True),
        ("'{{params.word}}' == 'tails'", False),
        ('"{{params.word}}" != "tails"', True),
        ("{{params.word}} < tails", True),  # text compares as text
        ("{{params.flag}} == true", True),  # booleans compare regardless of case
        ("{{params.flag}}", True),
        ("not {{params.flag}}", False),
        ("{{params.a}} > 5 and {{params.b}} > 5 and {{params.word}} == heads", True),
        ("{{params.a}} > 50 or ({{params.b}} < 10 and not {{params.a}} == 3)", True),
        ("{{params.a}} > 50 || {{params.b}} > 50", False),
        ("!({{params.a}} == 10) && true", False),
        ("'{{params.empty}}' == ''", True),
    ],
)
def test_conditions_evaluate(text: str, expected: bool) -> None:
    assert evaluate(text) is expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty condition"),
        ("{{params.a}} >", "ends too early"),
        ("({{params.a}} > 1", "missing ')'"),
        ("{{params.a}} > 1 )", "unexpected ')'"),
        ("{{params.a}} = 1", "cannot read condition"),
        ("{{tasks.x}} == 1", "unknown placeholder"),
    ],
)
def test_bad_conditions_are_explained(text: str, message: str) -> None:
    with pytest.raises(
        (conditions.ConditionError, TemplateError), match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        conditions.parse(text)


def test_describe_fills_in_values() -> None:
    node = conditions.parse("{{params.a}} < 3 and {{params.word}} == heads")
    assert conditions.describe(node, lambda ref: VALUES[str(ref)]) == "10 < 3 and heads == heads"


@pytest.mark.parametrize(
    "text, ref",
    [
        ("params.value_1", Ref("param", name="value_1")),
        ("tasks.make-list.outputs.items", Ref("task_output", name="items", task="make-list")),
        ("item", Ref("item")),
        ("item.a.b", Ref("item", fields=("a", "b"))),
        ("inputs.data.path", Ref("input_path", name="data")),
        ("outputs.model.path", Ref("output_path", name="model")),
        ("run.status", Ref("run", name="status")),
    ],
)
def test_placeholders_parse(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


def test_component_placeholders_are_refused_in_tasks() -> None:
    with pytest.raises(TemplateError, match="cannot be used in a task"):
        refs_in("{{inputs.x}}", TASK_SCOPE)


def test_substitute_replaces_what_it_reads_and_keeps_the_rest_as_written() -> None:
    """The braces alone are parsed: the importer reads Argo's variables inside them."""
    rename = {"workflow.status": "{{run.status}}"}
    assert substitute("{{ workflow.status }} and {{ other }}", rename.get) == "{{run.status}} and {{ other }}"


@pytest.mark.parametrize(
    "text, expression",
    [(" {{ tasks.a.outputs.b }} ", "tasks.a.outputs.b"), ("{{}}", ""), ("x {{a}}", None), ("{{a}}{{b}}", None)],
)
def test_whole_expression_is_the_inside_of_a_text_that_is_one_placeholder(text: str, expression: str | None) -> None:
    assert whole_expression(text) == expression


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("30s", 30),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("2d", 172800),
        ("P7D", 604800),
        ("PT1H", 3600),
        ("P0D", 0),
        ("P1W", 604800),
        ("PT1.5S", 1.5),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "10", "1x", "h1", "P1DT", "99999999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
