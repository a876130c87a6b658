"""Step ids: written and read back by one module, and encoded to folder and pod names that never collide."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeline.api.names import is_dns_label
from kubeline.engine import stepid
from kubeline.engine.plan import node_for_step
from kubeline.engine.run import decide
from kubeline.engine.state import RunState, StepState
from kubeline.engine.stepid import Segment, folder_name, parse, pod_name
from tests.helpers import pipeline, task
from tests.unit.simulate import plan_of

LONG = [(f"group-{i}-" + "g" * 63)[:63] for i in range(1, 6)]
DEEP = ".".join(LONG) + ".train"


# -- readable examples ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "step_id, folder, pod",
    [
        ("add", "add", "r-add-a1"),
        ("x[2]", "x_2", "r-x-2-a1"),
        ("loop[3].train", "loop_3.train", "r-loop-3-train-a1"),
        ("outer[0].inner[12].step", "outer_0.inner_12.step", "r-outer-0-inner-12-step-a1"),
        ("my-task", "my-task", "r-my-task-a1"),
        ("each[0]", "each_0", "r-each-0-a1"),
    ],
)
def test_simple_ids_keep_the_names_users_expect(step_id: str, folder: str, pod: str) -> None:
    assert folder_name(step_id) == folder
    assert pod_name("r", step_id, 1) == pod


@pytest.mark.parametrize(
    "step_id, looks_like",
    [
        ("x-2", "x[2]"),  # the collision the hardening issue found
        ("cond.train", "cond-train"),  # a group's task and a task with the joined name
        ("loop-3.train", "loop[3].train"),
        ("for-loop-1[0].y", "for-loop-1-0-y"),
        ("x-03", "x[3]"),
    ],
)
def test_ids_that_read_alike_get_different_names(step_id: str, looks_like: str) -> None:
    assert folder_name(step_id) != folder_name(looks_like)
    assert pod_name("r", step_id, 1) != pod_name("r", looks_like, 1)
    # the one that cannot be read back from its pod name keeps its readable start and ends with a hash
    assert re.fullmatch(r"r-[a-z0-9-]+-a1-h[0-9a-f]{12}", pod_name("r", step_id, 1))


def test_five_nested_63_character_groups_get_short_valid_names() -> None:
    folder = folder_name(DEEP)
    assert len(folder) <= stepid.MAX_FOLDER and folder.startswith(LONG[0] + ".")
    assert re.search(r"\+[0-9a-f]{16}$", folder)
    run = "r" * 63
    pod = pod_name(run, DEEP, 1)
    assert is_dns_label(pod) and pod.startswith(run[:40])
    # the hash is of the whole id: two ids that differ only past the kept prefix still differ
    assert folder != folder_name(DEEP[:-1] + "x") and pod != pod_name(run, DEEP[:-1] + "x", 1)
    assert pod != pod_name(run, DEEP, 2)


@pytest.mark.parametrize(
    "text", ["", "a..b", "a[", "a[1", "a[01]", "a[-1]", "A", "../x", "a/b", "a[1][2]", ".a", "a.", "a b"]
)
def test_what_is_not_a_step_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a step id"):
        parse(text)


def test_parse_reads_what_the_formatters_write() -> None:
    loop_id = stepid.instance(stepid.child("outer", "loop"), 2)
    assert parse(stepid.child(loop_id, "train")) == (Segment("outer"), Segment("loop", 2), Segment("train"))
    assert stepid.task_name("outer.loop[2].train") == "train" and stepid.task_name("each[3]") == "each"
    assert stepid.is_within("loop[2].train", "loop[2]") and not stepid.is_within("loop[20].train", "loop[2]")


def test_every_id_the_engine_makes_is_read_back_to_its_task() -> None:
    plan = plan_of(
        pipeline(
            [
                task("gen", "num"),
                {
                    "name": "outer",
                    "forEach": [1, 2],
                    "dag": {
                        "tasks": [
                            {
                                "name": "mid",
                                "dag": {"tasks": [task("leaf", forEach=["a", "b"], arguments={"a": "{{item}}"})]},
                            }
                        ]
                    },
                },
            ]
        )
    )
    state = RunState(started_at=0, steps={"gen": StepState("Succeeded", outputs={"n": "1", "items": "[]"})})
    views = decide(plan, {}, state, 1).views
    assert "outer[1].mid.leaf[0]" in views
    for step_id in views:
        assert stepid.format_id(parse(step_id)) == step_id
        node = node_for_step(plan, step_id)
        assert node is not None and node.name == stepid.task_name(step_id)


# -- injectivity, over generated ids ------------------------------------------------------------------------

#: Mostly names and indexes from a tiny set, so that generated ids often read alike (a[1] and a-1,
#: a.b and a-b, a-1.b and a[1].b); also other short names and full 63-character ones (hashed forms).
_ends = st.sampled_from("ab012")
_short_names = _ends | st.builds(lambda a, middle, b: a + middle + b, _ends, st.text("ab01-", max_size=3), _ends)
_long_names = st.builds(lambda c, n: (c * 63)[: 63 - len(str(n))] + str(n), st.sampled_from("abc"), st.integers(0, 99))
_confusable = st.sampled_from(["a", "b", "1", "a-1", "a-b", "1-a", "a-1-b", "b-0"])
names = st.one_of(_confusable, _confusable, _short_names, _long_names)
segments = st.builds(Segment, names, st.one_of(st.none(), st.none(), st.sampled_from([0, 1]), st.integers(0, 10**6)))
step_ids = (st.lists(segments, min_size=1, max_size=2) | st.lists(segments, min_size=1, max_size=6)).map(
    stepid.format_id
)
runs = st.one_of(st.sampled_from(["r", "r-1", "my-run", "r" * 63]), _short_names)


@settings(max_examples=150, deadline=None)
@given(st.lists(step_ids, min_size=2, max_size=25, unique=True))
def test_folder_names_are_injective_and_safe(ids: list[str]) -> None:
    folders = [folder_name(i) for i in ids]
    assert len(set(folders)) == len(ids)
    for folder in folders:
        assert 0 < len(folder) <= stepid.MAX_FOLDER and "/" not in folder and folder not in (".", "..")


@settings(max_examples=150, deadline=None)
@given(runs, st.lists(step_ids, min_size=2, max_size=25, unique=True), st.integers(1, 12))
def test_pod_names_are_injective_within_a_run_and_valid(run: str, ids: list[str], attempts: int) -> None:
    names = [pod_name(run, i, a) for i in ids for a in (1, attempts + 1)]
    assert len(set(names)) == len(names)
    for name in names:
        assert is_dns_label(name), name  # a DNS-1123 label (so also a subdomain), at most 63 characters


@settings(max_examples=150, deadline=None)
@given(runs, step_ids)
def test_an_id_and_the_task_named_like_its_flat_form_never_share_a_name(run: str, step_id: str) -> None:
    flat = stepid.readable(step_id)  # x[2] -> x-2: the task name most likely to collide with it
    other = stepid.readable_id(flat)
    for lookalike in {flat, other} - {step_id, None}:
        if lookalike is not None and _is_step_id(lookalike):
            assert folder_name(lookalike) != folder_name(step_id)
            assert pod_name(run, lookalike, 1) != pod_name(run, step_id, 1)


def _is_step_id(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def test_enclosing_instances_are_the_group_iterations_the_steps_are_within() -> None:
    steps = ["loop[2].train", "outer[1].inner[0].fit", "each[3]", "plain", "a[1].b"]
    found = stepid.enclosing_instances(steps)
    assert found == {"loop[2]", "outer[1]", "outer[1].inner[0]", "a[1]"}
    for group in ["loop[2]", "outer[1]", "outer[1].inner[0]", "each[3]", "a[1]", "loop[1]"]:
        assert (group in found) == any(stepid.is_within(step, group) for step in steps)
