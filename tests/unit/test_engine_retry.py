"""Retry from the failed step: which steps of a finished run a retry reuses, and what the engine then runs."""

from __future__ import annotations

import pytest

from kubeline.api.constants import EXPERIMENT_LABEL, PIPELINE_LABEL, RETRY_OF_LABEL
from kubeline.api.models import RunSpec, RunStatus, TaskStatus
from kubeline.engine.retry import Downstream, RetryInvalid, retry_document, select, source_problem
from kubeline.engine.state import RunState, StepState
from tests.helpers import COMPONENTS, pipeline, task
from tests.unit.simulate import Simulation, fail, ok, plan_of, simulate

GEN = task("gen", "num")


def group(name: str, tasks: list[dict], **fields) -> dict:
    return {"name": name, "dag": {"tasks": tasks}, **fields}


LOOP = group(
    "loop",
    [task("work", arguments={"a": "{{item}}"}), task("check", after=["work"])],
    forEach="{{tasks.gen.outputs.items}}",
)
JOIN = task("join", after=["loop"])
GROUP = group("g", [task("x"), task("y", arguments={"a": "{{tasks.x.outputs.out}}"})])

LINEAR = pipeline([task("a"), task("b", arguments={"a": "{{tasks.a.outputs.out}}"}), task("c", after=["b"])])
DIAMOND = pipeline(
    [
        task("a"),
        task("b", after=["a"]),
        task("c", arguments={"a": "{{tasks.a.outputs.out}}"}),
        task("d", after=["b", "c"]),
    ]
)
LOOPS = pipeline([GEN, LOOP, JOIN])
GROUPS = pipeline([task("a"), GROUP, task("z", after=["g"]), task("w", after=["a"])])
SKIPPED = pipeline(
    [task("a"), task("b", when="{{tasks.a.outputs.out}} == yes"), task("c", after=["b"])],
    onExit={"name": "report", "component": "op"},
)
STARTED = "2026-11-30T10:00:00Z"
ITEMS = ok(n=3, items='["p", "q", "r"]')


def original(document: dict, **outcomes) -> dict[str, TaskStatus]:
    """A run of the document with these outcomes, as its status.tasks records it."""
    sim = simulate(document, gen=ITEMS, **outcomes)
    assert sim.decision is not None
    tasks = {}
    for step_id, view in sim.decision.views.items():
        step = sim.state.steps.get(step_id)
        if view.is_step or view.phase in ("Skipped", "Failed"):
            outputs = step.outputs if step is not None else None
            tasks[step_id] = TaskStatus(phase=view.phase, attempts=step.attempt if step else None, outputs=outputs)
    return tasks


def retried(document: dict, tasks: dict[str, TaskStatus], **from_and_outcomes) -> tuple[set[str], list[str]]:
    """(steps reused, steps the retry runs) when every step succeeds this time."""
    from_steps = from_and_outcomes.pop("from_steps", ())
    plan = plan_of(document)
    selection = select(plan, "first", tasks, from_steps)
    assert all(t.reused_from == "first" and t.phase == "Succeeded" for t in selection.reused.values())
    state = RunState(started_at=0.0)
    for step_id, reused in selection.reused.items():
        state.steps[step_id] = StepState("Succeeded", attempt=1, outputs=dict(reused.outputs or {}))
    sim = Simulation(plan, {}, {"gen": ITEMS}, state=state)
    assert sim.run().phase == "Succeeded"
    return set(selection.reused), sorted(sim.started)


@pytest.mark.parametrize(
    "document, outcomes, from_steps, reused, rerun",
    [
        pytest.param(LINEAR, {"b": fail()}, (), {"a"}, ["b", "c"], id="linear: the failed step and what follows"),
        pytest.param(LINEAR, {}, ["b"], {"a"}, ["b", "c"], id="linear: from b"),
        pytest.param(LINEAR, {}, ["a"], set(), ["a", "b", "c"], id="linear: from the first step runs all"),
        pytest.param(DIAMOND, {"c": fail()}, (), {"a", "b"}, ["c", "d"], id="diamond: the failed side"),
        pytest.param(DIAMOND, {}, ["b"], {"a", "c"}, ["b", "d"], id="diamond: from one side"),
        pytest.param(
            LOOPS,
            {"loop[1].work": fail()},
            (),
            {"gen", "loop[0].work", "loop[2].work"},
            ["join", "loop[0].check", "loop[1].check", "loop[1].work", "loop[2].check"],
            id="loop: the failed instance, and what the failure kept from starting",
        ),
        pytest.param(
            LOOPS,
            {},
            ["loop[1]"],
            {"gen", "loop[0].work", "loop[0].check", "loop[2].work", "loop[2].check"},
            ["join", "loop[1].check", "loop[1].work"],
            id="loop: from one instance, then what follows the loop",
        ),
        pytest.param(
            LOOPS,
            {},
            ["check"],
            {"gen", "loop[0].work", "loop[1].work", "loop[2].work"},
            ["join", "loop[0].check", "loop[1].check", "loop[2].check"],
            id="loop: a task name is every instance of it",
        ),
        pytest.param(
            LOOPS,
            {},
            ["gen"],
            set(),
            ["gen", "join", *[f"loop[{i}].{t}" for i in range(3) for t in ("check", "work")]],
            id="loop over a rerun step's output: every instance runs again",
        ),
        pytest.param(GROUPS, {}, ["g.y"], {"a", "g.x", "w"}, ["g.y", "z"], id="group: from a step inside it"),
        pytest.param(GROUPS, {}, ["x"], {"a", "w"}, ["g.x", "g.y", "z"], id="group: a task name inside it"),
        pytest.param(GROUPS, {}, ["g"], {"a", "w"}, ["g.x", "g.y", "z"], id="group: the group's name"),
        pytest.param(
            SKIPPED, {"a": ok(out="no")}, (), {"a", "c"}, ["report"], id="condition-skipped: skipped again; exit runs"
        ),
        pytest.param(
            SKIPPED,
            {"a": ok(out="no")},
            ["a"],
            set(),
            ["a", "c", "report"],
            id="downstream through a skipped step: its condition reads a step run again",
        ),
    ],
)
def test_retry_reuses_succeeded_steps_and_runs_the_rest(document, outcomes, from_steps, reused, rerun) -> None:
    tasks = original(document, **outcomes)
    got_reused, got_rerun = retried(document, tasks, from_steps=from_steps)
    assert (got_reused, got_rerun) == (reused, rerun)


def test_a_group_that_depends_on_a_rerun_step_runs_again_whole() -> None:
    document = pipeline([task("a"), group("g", [task("x"), task("y", after=["x"])], after=["a"])])
    assert retried(document, original(document), from_steps=["a"]) == (set(), ["a", "g.x", "g.y"])


def test_a_failed_exit_handler_and_cached_steps() -> None:
    tasks = original(SKIPPED, a=ok(out="no"), report=fail())
    tasks["a"] = tasks["a"].model_copy(update={"cached": True})
    selection = select(plan_of(SKIPPED), "first", tasks)
    assert set(selection.reused) == {"a", "c"}
    assert selection.reused["a"].cached  # cached in the original: reused all the same, still shown as cached


def test_a_retry_of_a_retry_names_the_run_where_the_step_ran() -> None:
    tasks = original(LINEAR, c=fail())
    tasks["a"] = tasks["a"].model_copy(update={"reused_from": "first"})
    selection = select(plan_of(LINEAR), "second", tasks)
    assert {s: t.reused_from for s, t in selection.reused.items()} == {"a": "first", "b": "second"}


def test_steps_with_files_run_again_with_what_follows_when_the_original_kept_them_on_its_volume() -> None:
    writer = {
        "name": "writer",
        "outputs": [{"name": "model", "type": "artifact"}],
        "container": {"image": "x", "command": ["w", "{{outputs.model.path}}"]},
    }
    document = pipeline(
        [task("gen", "writer"), task("a", after=["gen"]), task("b", after=["a"])],
        components=[*COMPONENTS, writer],
    )
    tasks = original(document, b=fail())
    on_volume = select(plan_of(document), "first", tasks, files_readable=False)
    assert (set(on_volume.reused), on_volume.rerun, on_volume.unreadable) == (set(), ["a", "gen"], ["gen"])
    in_store = select(plan_of(document), "first", tasks, files_readable=True)
    assert (set(in_store.reused), in_store.unreadable) == ({"gen", "a"}, [])


@pytest.mark.parametrize("wanted", ["nope", "g.nope", "loop[2].nope", "a[0]", "g[1].x", "x.g", "Bad_Name"])
def test_an_unknown_from_step_is_refused_with_the_task_names(wanted: str) -> None:
    with pytest.raises(RetryInvalid) as error:
        select(plan_of(GROUPS), "first", original(GROUPS), [wanted])
    assert wanted in str(error.value)
    if "_" not in wanted:
        assert "its tasks: a, g, w, x, y, z" in str(error.value)


@pytest.mark.parametrize(
    "status, problem",
    [
        pytest.param(
            {"phase": "Running", "pipelineSpec": {}}, "'first' has not finished (phase Running)", id="running"
        ),
        pytest.param({}, "'first' has not finished (phase Pending)", id="pending"),
        pytest.param({"phase": "Failed"}, "'first' never started", id="never started"),
        pytest.param({"phase": "Failed", "pipelineSpec": {}}, "'first' never started", id="invalid pipeline"),
        pytest.param({"phase": "Failed", "pipelineSpec": {}, "startedAt": STARTED}, None, id="failed"),
        pytest.param({"phase": "Cancelled", "pipelineSpec": {}, "startedAt": STARTED}, None, id="cancelled"),
    ],
)
def test_only_a_run_that_started_and_finished_is_retried(status: dict, problem: str | None) -> None:
    found = source_problem("first", RunStatus.model_validate(status))
    assert found == problem or (problem is not None and found is not None and problem in found)


def test_the_retry_document_names_the_original_and_lists_with_it() -> None:
    original = {
        "metadata": {"name": "train-1", "labels": {PIPELINE_LABEL: "train", EXPERIMENT_LABEL: "e", "other": "x"}},
        "spec": {"pipelineRef": {"name": "train"}, "arguments": {"rate": 1}, "queue": "gpu", "priority": 5},
    }
    document = retry_document(original, ["b"])
    assert document["metadata"] == {
        "generateName": "train-1-retry-",
        "labels": {PIPELINE_LABEL: "train", EXPERIMENT_LABEL: "e", RETRY_OF_LABEL: "train-1"},
    }
    assert document["spec"] == {"retryOf": {"name": "train-1", "fromSteps": ["b"]}, "queue": "gpu", "priority": 5}
    RunSpec.model_validate(document["spec"])  # what the API server accepts
    assert retry_document(original, name="again")["metadata"]["name"] == "again"


@pytest.mark.parametrize(
    "wanted, rerun",
    [
        ("loop", [f"loop[{i}].{t}" for i in range(3) for t in ("check", "work")]),
        ("loop.work", [f"loop[{i}].{t}" for i in range(3) for t in ("check", "work")]),
        ("loop[1].work", ["loop[1].check", "loop[1].work"]),
        ("work", [f"loop[{i}].{t}" for i in range(3) for t in ("check", "work")]),
    ],
)
def test_a_from_step_names_a_task_group_or_step_id_inside_loops(wanted: str, rerun: list[str]) -> None:
    selection = select(plan_of(LOOPS), "first", original(LOOPS), [wanted])
    assert selection.rerun == sorted([*rerun, "join"])


@pytest.mark.parametrize(
    "document, from_steps, step, again",
    [
        pytest.param(LINEAR, ["a"], "c", True, id="two hops downstream"),
        pytest.param(LINEAR, ["b"], "a", False, id="upstream"),
        pytest.param(LOOPS, ["gen"], "loop[7].check", True, id="an instance the original never had"),
        pytest.param(LOOPS, ["loop[1].work"], "loop[1].check", True, id="after a step of the same instance"),
        pytest.param(LOOPS, ["loop[1].work"], "loop[0].check", False, id="another instance"),
        pytest.param(LOOPS, ["loop[1]"], "join", True, id="after the loop"),
        pytest.param(GROUPS, ["a"], "w", True, id="after a task"),
        pytest.param(GROUPS, ["g.x"], "g.y", True, id="inside a group"),
        pytest.param(GROUPS, ["g.x"], "z", True, id="after the group"),
        pytest.param(GROUPS, ["g.y"], "w", False, id="beside"),
    ],
)
def test_downstream_of_a_from_step_is_read_from_the_pipeline(document, from_steps, step, again) -> None:
    """What the cache may not serve in a --from retry: the step asked for and everything downstream of it."""
    assert Downstream(plan_of(document), from_steps)(step) is again


@pytest.mark.parametrize(
    "wanted, listed",
    [
        ("loop[50]", "its instances: loop[0], loop[1], loop[2]"),
        ("loop[3].work", "its instances: loop[0].work, loop[1].work, loop[2].work"),
    ],
)
def test_a_from_step_instance_the_original_did_not_have_is_refused_with_the_instances(wanted, listed) -> None:
    with pytest.raises(RetryInvalid) as error:
        select(plan_of(LOOPS), "first", original(LOOPS), [wanted])
    assert str(error.value) == f"from step {wanted!r}: the run retried has no such instance; {listed}"


def test_a_from_step_instance_of_a_loop_that_never_started_is_refused() -> None:
    tasks = {"gen": TaskStatus(phase="Failed", attempts=1)}
    with pytest.raises(RetryInvalid, match="no such instance; its instances: none"):
        select(plan_of(LOOPS), "first", tasks, ["loop[0]"])


def test_steps_mounting_a_pipeline_volume_the_retry_gets_empty_run_again_with_what_follows() -> None:
    document = pipeline(
        [
            task("fill", arguments={"a": "{{volumes.scratch.name}}"}),
            task("read", after=["fill"]),
            task("shared", arguments={"a": "{{volumes.models.name}}"}),
            task("last", after=["read", "shared"]),
        ],
        volumes=[
            {"name": "scratch", "size": "1Gi", "keep": True},  # kept, yet each run has its own claim
            {"name": "models", "size": "1Gi", "claimName": "team-models"},  # one claim, shared with the original
        ],
    )
    selection = select(plan_of(document), "first", original(document, last=fail()))
    assert (set(selection.reused), selection.rerun, selection.on_new_volume) == ({"shared"}, ["fill", "read"], ["fill"])
