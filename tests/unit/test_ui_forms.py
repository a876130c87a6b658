"""The run form: fields from the typed parameters, and submitted text accepted or refused as the CLI does."""

from __future__ import annotations

import pytest

from kubeline.api.problems import PipelineInvalid
from kubeline.commands.common import bind_or_explain
from kubeline.ui.forms import FIELD_PREFIX, arguments_to_clone, parse_form, plan_of, run_form
from tests.helpers import pipeline, task
from tests.unit.ui_html import HOSTILE, assert_inert, render, tags

PARAMS = [
    {"name": "text", "type": "string", "default": "{{run.name}}-out", "description": "where results go"},
    {"name": "count", "type": "integer"},
    {"name": "rate", "type": "number", "default": 0.5},
    {"name": "flag", "type": "boolean", "default": False},
    {"name": "items", "type": "list", "default": [1, 2]},
    {"name": "config", "type": "object", "default": {"a": 1}},
]
SPEC = pipeline([task("a", arguments={"a": "{{params.text}}"})], params=PARAMS)["spec"]


def form(**values: str) -> dict[str, str]:
    return {"csrf": "t0k3n", **{FIELD_PREFIX + name: value for name, value in values.items()}}


def test_fields_follow_the_parameters_types_defaults_and_descriptions() -> None:
    fields = run_form(SPEC).fields
    assert [(f.name, f.input_name, f.widget, f.input_mode, f.required, f.placeholder) for f in fields] == [
        ("text", "param.text", "text", "text", False, "default: {{run.name}}-out"),
        ("count", "param.count", "text", "numeric", True, "required integer"),
        ("rate", "param.rate", "text", "decimal", False, "default: 0.5"),
        ("flag", "param.flag", "select", "text", False, "default: false"),
        ("items", "param.items", "textarea", "text", False, "default: [1, 2]"),
        ("config", "param.config", "textarea", "text", False, 'default: {"a": 1}'),
    ]
    assert fields[0].description == "where results go" and all(f.value == "" for f in fields)


@pytest.mark.parametrize(
    "values, arguments",
    [
        ({"count": "3"}, {"count": 3}),
        ({"count": " 3 ", "rate": "2", "flag": "TRUE", "text": ""}, {"count": 3, "rate": 2.0, "flag": True}),
        (
            {"count": "1", "items": '["a", 2]', "config": '{"k": [1]}'},
            {"count": 1, "items": ["a", 2], "config": {"k": [1]}},
        ),
        ({"count": "1", "text": "  spaced  ", "flag": ""}, {"count": 1, "text": "  spaced  "}),
        ({"count": "1", "text": "[1]"}, {"count": 1, "text": "[1]"}),  # a string stays the text typed
    ],
)
def test_accepted_forms_give_typed_arguments_of_the_fields_filled(values: dict, arguments: dict) -> None:
    assert parse_form(SPEC, form(**values)) == (arguments, {})


@pytest.mark.parametrize(
    "values, field, says",
    [
        ({}, "count", "required parameter (integer) has no value"),
        ({"count": "   "}, "count", "required parameter"),
        ({"count": "three"}, "count", "'three' is not an integer"),
        ({"count": "1.5"}, "count", "is not an integer"),
        ({"count": "1", "rate": "NaN"}, "rate", "is not a number"),
        ({"count": "1", "flag": "yes"}, "flag", "write true or false"),
        ({"count": "1", "items": "{}"}, "items", "is not a list"),
        ({"count": "1", "config": "[1"}, "config", "is not an object"),
        ({"count": str(2**64)}, "count", "does not fit in 64 bits"),
        ({"count": "1", "bogus": "x"}, "", "the pipeline has no parameter 'bogus'"),
    ],
)
def test_refused_forms_say_why_beside_the_field(values: dict, field: str, says: str) -> None:
    arguments, problems = parse_form(SPEC, form(**values))
    assert arguments == {} and says in problems[field], problems


@pytest.mark.parametrize("text", ["three", "yes", "[1", "1e999", "2.5"])
def test_the_form_and_the_cli_agree(text: str) -> None:
    """One validator: what the form refuses, `kubeline run -p` refuses with the same words."""
    for name in ("count", "rate", "flag", "items"):
        given = {"count": "1", name: text}
        _, problems = parse_form(SPEC, form(**given))
        try:
            bind_or_explain(plan_of(SPEC), given)
        except PipelineInvalid as error:
            assert problems == {name: error.issues[0].message.removeprefix(f"arguments.{name}: ")}
        else:
            assert problems == {}


def test_a_refused_form_is_shown_again_with_the_text_and_the_problem() -> None:
    submitted = form(count="three", flag="true")
    _, problems = parse_form(SPEC, submitted)
    shown = run_form(SPEC, {k.removeprefix(FIELD_PREFIX): v for k, v in submitted.items()}, problems)
    count = next(f for f in shown.fields if f.name == "count")
    assert (count.value, count.problem) == ("three", "'three' is not an integer")
    html = render("run_form.html", form=shown, action="/pipelines/ml/p/runs", csrf_token="t0k3n", submit_label="Start")
    assert '<p class="problem" role="alert">&#39;three&#39; is not an integer</p>' in html
    assert '<option value="true" selected>true</option>' in html
    hidden = [dict(a) for t, a in tags(html) if t == "input" and dict(a).get("type") == "hidden"]
    assert hidden == [{"type": "hidden", "name": "csrf", "value": "t0k3n"}]


def test_an_invalid_pipeline_gives_no_fields_and_says_why() -> None:
    broken = {"components": [], "tasks": [task("a", component="missing")]}
    shown = run_form(broken)
    assert shown.fields == [] and "the pipeline is not valid" in shown.problems[0]
    assert parse_form(broken, form())[1][""].startswith("the pipeline is not valid")


@pytest.mark.parametrize(
    "run, arguments",
    [
        ({"spec": {"arguments": {"count": 2}}, "status": {"arguments": {"count": 2, "text": "r1-out"}}}, {"count": 2}),
        ({"spec": {}, "status": {"arguments": {"count": 2}}}, {"count": 2}),
        ({"spec": None, "status": None}, {}),
    ],
)
def test_a_clone_starts_from_what_the_run_asked_for(run: dict, arguments: dict) -> None:
    assert arguments_to_clone(run) == arguments
    values = {f.name: f.value for f in run_form(SPEC, arguments_to_clone(run)).fields}
    assert values["count"] == ("2" if arguments else "") and values["text"] == ""  # default made anew


def test_clone_values_are_shown_as_typed() -> None:
    values = {"count": 2, "flag": True, "items": ["x"], "config": {"k": None}, "text": "plain"}
    shown = {f.name: f.value for f in run_form(SPEC, values).fields}
    assert shown == {
        "text": "plain",
        "count": "2",
        "rate": "",
        "flag": "true",
        "items": '["x"]',
        "config": '{"k": null}',
    }


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_descriptions_and_problems_stay_text(hostile: str) -> None:
    spec = pipeline(
        [task("a")],
        params=[
            {"name": "p", "type": "string", "default": hostile, "description": hostile},
            {"name": "n", "type": "integer"},
            {"name": "l", "type": "list"},
        ],
    )["spec"]
    values = {"p": hostile, "n": hostile, "l": hostile}
    _, problems = parse_form(spec, form(**values))
    html = render(
        "run_form.html", form=run_form(spec, values, problems), action="/x", csrf_token=hostile, submit_label=hostile
    )
    assert_inert(html)
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    inputs = {dict(a)["name"]: dict(a).get("value") for t, a in tags(html) if t == "input"}
    assert inputs == {"csrf": hostile, "param.p": hostile, "param.n": hostile}
