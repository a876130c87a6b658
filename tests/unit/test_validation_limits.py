"""The bounds on what kubeline reads: YAML shape, condition depth, values, and the wording of schema errors."""

from __future__ import annotations

import pytest
import yaml

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.api.yamlsafe import load_all
from kubeline.engine import conditions
from kubeline.engine.plan import load_spec
from kubeline.engine.values import coerce


def test_aliases_within_budget_load_like_safe_load() -> None:
    text = "base: &b {a: 1, b: [1, 2]}\nuses: [*b, *b]\n---\nsecond: 2\n"
    assert load_all(text) == list(yaml.safe_load_all(text))


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a: &a [*a]", "inside its own anchor"),
        ("k: 1\nk: 2", "duplicate key 'k' (first at line 1)"),
        ("[" * 101 + "]" * 101, "nest deeper than 100 levels"),
        (
            "a: &a ["
            + ",".join(["x" * 64] * 100)
            + "]\n"
            + "".join(f"b{i}: [{','.join(['*a'] * 100)}]\n" for i in range(20)),
            "alias bomb",
        ),
    ],
)
def test_hostile_yaml_is_refused_with_a_mark(text: str, problem: str) -> None:
    with pytest.raises(yaml.YAMLError) as raised:
        load_all(text)
    assert problem in str(raised.value)
    assert raised.value.problem_mark is not None


@pytest.mark.parametrize("text", ["(" * 33 + "true" + ")" * 33, "not " * 33 + "true", "! " * 40 + "true"])
def test_deep_conditions_are_refused_before_the_stack_runs_out(text: str) -> None:
    with pytest.raises(conditions.ConditionError, match="more than 32 deep"):
        conditions.parse(text)


def test_conditions_at_the_limit_still_parse() -> None:
    assert conditions.parse("(" * 16 + "not " * 16 + "true" + ")" * 16)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "NaN", "-Infinity", [1, float("nan")]])
def test_non_finite_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="NaN and Infinity are not allowed"):
        coerce(value, "list" if isinstance(value, list) else "number")


def test_each_problem_is_reported_once() -> None:
    issue = Issue("spec.tasks[a].after", "must be a list")
    assert PipelineInvalid([issue, issue, Issue("spec", "x")]).issues == [issue, Issue("spec", "x")]


def test_a_union_field_gets_one_message() -> None:
    spec = {
        "components": [{"name": "c", "container": {"image": "i"}}],
        "tasks": [{"name": "a", "component": "c", "resources": {"limits": {"cpu": [1]}}}],
    }
    with pytest.raises(PipelineInvalid) as raised:
        load_spec(spec)
    assert [i.path for i in raised.value.issues] == ["spec.tasks[a].resources.limits.cpu"]
