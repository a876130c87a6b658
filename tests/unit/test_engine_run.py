"""The run state machine, driven with scripted outcomes (no processes, no cluster)."""

from __future__ import annotations

import json

import pytest

from kubeline.engine.run import bind_arguments, decide
from kubeline.engine.state import RunState, StepState
from tests.helpers import pipeline, task
from tests.unit.simulate import Simulation, fail, ok, plan_of, simulate


def phases(sim: Simulation) -> dict[str, str]:
    assert sim.decision is not None
    return {step_id: view.phase for step_id, view in sim.decision.views.items()}


# -- ordering --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tasks, expected_rounds",
    [
        pytest.param(
            [
                task("a"),
                task("b"),
                task("c", arguments={"a": "{{tasks.a.outputs.out}}", "b": "{{tasks.b.outputs.out}}"}),
            ],
            [["a", "b"], ["c"]],
            id="join waits for both parents",
        ),
        pytest.param(
            [task("a"), task("b", after=["a"]), task("c", after=["b"]), task("d", after=["a", "c"])],
            [["a"], ["b"], ["c"], ["d"]],
            id="after chain and a join across levels",
        ),
        pytest.param(
            [task("d", after=["c"]), task("c", after=["b"]), task("b", after=["a"]), task("a")],
            [["a"], ["b"], ["c"], ["d"]],
            id="declaration order does not matter",
        ),
        pytest.param(
            [task("a"), task("b", when="{{tasks.a.outputs.out}} == x")],
            [["a"]],
            id="a condition is a dependency (here false)",
        ),
    ],
)
def test_tasks_start_when_all_their_parents_are_done(tasks: list[dict], expected_rounds: list[list[str]]) -> None:
    sim = simulate(pipeline(tasks))
    assert [sorted(r) for r in sim.rounds if r] == expected_rounds


def test_outputs_flow_to_inputs_and_pipeline_outputs() -> None:
    seen: dict[str, str] = {}

    def record(start):
        seen[start.id] = start.inputs.get("a", "")
        return True, {"out": start.inputs.get("a", "") + "!"}

    sim = Simulation(
        plan_of(
            pipeline(
                [
                    task("a", arguments={"a": "{{params.word}}"}),
                    task("b", arguments={"a": "got {{tasks.a.outputs.out}}"}),
                ],
                params=[{"name": "word", "default": "hi"}],
                outputs={"final": "{{tasks.b.outputs.out}}"},
            )
        ),
        {"word": "hello"},
        default=record,
    )
    decision = sim.run()
    assert seen == {"a": "hello", "b": "got hello!"}
    assert decision.phase == "Succeeded"
    assert decision.outputs == {"final": "got hello!!"}


# -- conditions and skips --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition, n, runs",
    [
        ("{{tasks.gen.outputs.n}} > 9", "10", True),  # numbers compare as numbers, not as text
        ("{{tasks.gen.outputs.n}} > 9", "9", False),
        ("{{tasks.gen.outputs.n}} >= 3 and {{tasks.gen.outputs.n}} < 5", "4", True),
        ("{{tasks.gen.outputs.n}} == 1 or {{tasks.gen.outputs.n}} == 2", "3", False),
        ("not {{tasks.gen.outputs.n}} == 3", "3", False),
        ("!({{tasks.gen.outputs.n}} == 3) || {{params.force}} == true", "3", True),
        ("'{{tasks.gen.outputs.n}}' != '07'", "7", False),  # 7 and 07 are the same number
    ],
)
def test_when_conditions(condition: str, n: str, runs: bool) -> None:
    sim = simulate(
        pipeline(
            [task("gen", "num"), task("guarded", when=condition)],
            params=[{"name": "force", "type": "boolean", "default": True}],
        ),
        gen=ok(n=n, items="[]"),
    )
    assert phases(sim)["guarded"] == ("Succeeded" if runs else "Skipped")


def test_skipped_task_skips_its_data_consumers_but_not_its_after_followers() -> None:
    sim = simulate(
        pipeline(
            [
                task("a"),
                task("never", when="{{tasks.a.outputs.out}} == yes"),
                task("consumer", arguments={"a": "{{tasks.never.outputs.out}}"}),
                task("consumer-of-consumer", arguments={"a": "{{tasks.consumer.outputs.out}}"}),
                task("follower", after=["never"]),
            ]
        ),
        a=ok(out="no"),
    )
    result = phases(sim)
    assert result["never"] == "Skipped"
    assert result["consumer"] == "Skipped"
    assert "skipped task never" in sim.decision.views["consumer"].message
    assert result["consumer-of-consumer"] == "Skipped"
    assert result["follower"] == "Succeeded"
    assert sim.decision.phase == "Succeeded"


def test_nested_condition_groups() -> None:
    tasks = [
        task("flip", "num"),
        {
            "name": "outer",
            "when": "{{tasks.flip.outputs.n}} > 0",
            "dag": {
                "tasks": [
                    task("in-outer"),
                    {
                        "name": "inner",
                        "when": "{{tasks.flip.outputs.n}} > 5",
                        "dag": {"tasks": [task("deep", arguments={"a": "{{tasks.in-outer.outputs.out}}"})]},
                    },
                ]
            },
        },
        task("after-all", arguments={"a": "{{tasks.in-outer.outputs.out}}"}, after=["outer"]),
    ]
    low = simulate(pipeline(tasks), flip=ok(n=3, items="[]"))
    assert phases(low)["outer.in-outer"] == "Succeeded"
    assert phases(low)["outer.inner"] == "Skipped"
    assert "outer.inner.deep" not in phases(low)
    assert phases(low)["after-all"] == "Succeeded"
    high = simulate(pipeline(tasks), flip=ok(n=7, items="[]"))
    assert phases(high)["outer.inner.deep"] == "Succeeded"
    none = simulate(pipeline(tasks), flip=ok(n=0, items="[]"))
    assert phases(none)["outer"] == "Skipped"
    assert phases(none)["after-all"] == "Skipped"  # it consumes an output of a skipped task


# -- loops -------------------------------------------------------------------------------------------


def test_for_each_over_a_literal_list_with_items_and_fields() -> None:
    seen = []
    sim = Simulation(
        plan_of(
            pipeline([task("each", forEach=[{"k": "a"}, {"k": "b"}], arguments={"a": "{{item.k}}", "b": "{{item}}"})])
        ),
        {},
        default=lambda s: (seen.append((s.id, s.inputs["a"], s.inputs["b"])) or True, {"out": ""}),
    )
    sim.run()
    assert seen == [("each[0]", "a", '{"k":"a"}'), ("each[1]", "b", '{"k":"b"}')]


def test_nested_loops_read_the_outer_item_by_its_name() -> None:
    seen = []
    inner = task("pair", forEach=[3, 4], arguments={"a": "{{items.outer}}-{{item}}", "b": "{{items.outer.k}}"})
    sim = Simulation(
        plan_of(
            pipeline(
                [{"name": "rows", "forEach": [{"k": 1}, {"k": 2}], "itemName": "outer", "dag": {"tasks": [inner]}}]
            )
        ),
        {},
        default=lambda s: (seen.append((s.id, s.inputs["a"], s.inputs["b"])) or True, {"out": ""}),
    )
    sim.run()
    assert sorted(seen) == [
        ("rows[0].pair[0]", '{"k":1}-3', "1"),
        ("rows[0].pair[1]", '{"k":1}-4', "1"),
        ("rows[1].pair[0]", '{"k":2}-3', "2"),
        ("rows[1].pair[1]", '{"k":2}-4', "2"),
    ]


def test_a_loop_over_an_output_made_in_each_outer_iteration_reads_both_items() -> None:
    seen = []

    def gen(start):
        return True, {"n": "0", "items": json.dumps([int(start.inputs["x"]) * 10, int(start.inputs["x"]) * 10 + 1])}

    def show(start):
        seen.append((start.id, start.inputs["a"], start.inputs["b"]))
        return True, {"out": ""}

    body = [
        task("gen", "num", arguments={"x": "{{items.n}}"}),
        task("show", forEach="{{tasks.gen.outputs.items}}", arguments={"a": "{{items.n}}", "b": "{{item}}"}),
    ]
    sim = simulate(
        pipeline([{"name": "outer", "forEach": [1, 2], "itemName": "n", "dag": {"tasks": body}}]), gen=gen, show=show
    )
    assert sim.decision.phase == "Succeeded"
    assert sorted(seen) == [
        ("outer[0].show[0]", "1", "10"),
        ("outer[0].show[1]", "1", "11"),
        ("outer[1].show[0]", "2", "20"),
        ("outer[1].show[1]", "2", "21"),
    ]


def test_for_each_over_a_produced_list_with_a_group_body_and_fan_in() -> None:
    def double(start):
        return True, {"out": str(int(start.inputs["a"]) * 2)}

    sim = simulate(
        pipeline(
            [
                task("gen", "num"),
                {
                    "name": "body",
                    "forEach": "{{tasks.gen.outputs.items}}",
                    "dag": {
                        "tasks": [
                            task("first", arguments={"a": "{{item}}"}),
                            task("second", arguments={"a": "{{tasks.first.outputs.out}}"}),
                        ]
                    },
                },
                task("single", forEach="{{tasks.gen.outputs.items}}", arguments={"a": "{{item}}"}),
                task("gather", arguments={"a": "{{tasks.single.outputs.out}}"}),
            ]
        ),
        gen=ok(n=0, items="[1, 2, 3]"),
        first=double,
        second=double,
        single=double,
        gather=lambda s: (True, {"out": s.inputs["a"]}),
    )
    steps = sim.state.steps
    assert [steps[f"body[{i}].second"].outputs["out"] for i in range(3)] == ["4", "8", "12"]
    assert json.loads(steps["gather"].outputs["out"]) == [2, 4, 6]
    # within an iteration, second waits for first
    assert sim.started.index("body[0].second") > sim.started.index("body[0].first")


def test_for_each_over_an_empty_list_succeeds_without_steps() -> None:
    sim = simulate(
        pipeline(
            [
                task("gen", "num"),
                task("each", forEach="{{tasks.gen.outputs.items}}", arguments={"a": "{{item}}"}),
                task("next", after=["each"]),
            ]
        ),
        gen=ok(n=0, items="[]"),
    )
    assert phases(sim)["each"] == "Succeeded"
    assert phases(sim)["next"] == "Succeeded"


def test_for_each_over_something_that_is_not_a_list_fails_the_task() -> None:
    sim = simulate(
        pipeline([task("gen"), task("each", forEach="{{tasks.gen.outputs.out}}", arguments={"a": "{{item}}"})]),
        gen=ok(out="not json"),
    )
    assert phases(sim)["each"] == "Failed"
    assert "not a JSON list" in sim.decision.views["each"].message
    assert sim.decision.phase == "Failed"


@pytest.mark.parametrize(
    "tasks, outcomes, reason",
    [
        pytest.param(
            [task("each", forEach=[1, 2], arguments={"a": "{{item.a}}"})],
            {},
            "has no field 'a'",
            id="item field of a number",
        ),
        pytest.param(
            [task("gen", "num"), task("use", "num", arguments={"x": "{{tasks.gen.outputs.n}}"})],
            {"gen": ok(n="seven", items="[]")},
            "input x:",
            id="integer output that is not a number",
        ),
    ],
)
def test_a_step_that_cannot_be_prepared_fails_the_run(tasks: list[dict], outcomes: dict, reason: str) -> None:
    """Fail-fast walks the DAG again; a step that failed before it started has no recorded state and
    must stay failed in that walk (it once turned into "Skipped" and the run "Succeeded")."""
    sim = simulate(pipeline([task("other"), *tasks]), **outcomes)
    assert sim.decision.phase == "Failed"
    failed = {
        step: view.message for step, view in sim.decision.views.items() if view.phase == "Failed" and view.is_step
    }
    assert failed and all(reason in message for message in failed.values())
    assert reason in sim.decision.message


def test_loop_parallelism_limits_iterations_running_at_once() -> None:
    plan = plan_of(pipeline([task("each", forEach=list(range(5)), parallelism=2, arguments={"a": "{{item}}"})]))
    decision = decide(plan, {}, RunState(started_at=0), 0)
    assert [s.id for s in decision.start] == ["each[0]", "each[1]"]
    state = RunState(
        started_at=0, steps={"each[0]": StepState("Succeeded", outputs={"out": ""}), "each[1]": StepState("Running")}
    )
    assert [s.id for s in decide(plan, {}, state, 1).start] == ["each[2]"]


def test_run_parallelism_limits_steps_running_at_once() -> None:
    plan = plan_of(pipeline([task(f"t{i}") for i in range(5)], parallelism=3))
    assert len(decide(plan, {}, RunState(started_at=0), 0).start) == 3
    state = RunState(started_at=0, steps={"t0": StepState("Running"), "t1": StepState("Running")})
    decision = decide(plan, {}, state, 0)
    assert [s.id for s in decision.start] == ["t2"]
    assert decision.views["t3"].message == "waiting: the run's parallelism is reached"


def test_max_start_proposes_the_first_steps_of_the_unlimited_decision_and_the_rest_wait() -> None:
    plan = plan_of(pipeline([task("each", forEach=list(range(6)), arguments={"a": "{{item}}"}), task("solo")]))
    state = RunState(started_at=0, steps={"each[0]": StepState("Succeeded", outputs={"out": ""})})
    unlimited = decide(plan, {}, state, 0)
    limited = decide(plan, {}, state, 0, max_start=2)
    assert [s.id for s in limited.start] == [s.id for s in unlimited.start][:2] == ["each[1]", "each[2]"]
    assert limited.start == unlimited.start[:2]
    withheld = {
        step: (view.phase, view.message)
        for step, view in limited.views.items()
        if step not in unlimited.views or unlimited.views[step] != view
    }
    assert withheld == dict.fromkeys(("each[3]", "each[4]", "each[5]", "solo"), ("Pending", ""))  # their turn comes
    assert limited.deferred == 4
    assert limited.phase == "Running" and limited.progress(state) == unlimited.progress(state)


def test_max_start_leaves_a_loop_s_parallelism_as_it_was() -> None:
    plan = plan_of(pipeline([task("each", forEach=list(range(5)), parallelism=2, arguments={"a": "{{item}}"})]))
    decision = decide(plan, {}, RunState(started_at=0), 0, max_start=1)
    assert [s.id for s in decision.start] == ["each[0]"]
    assert (decision.views["each[1]"].phase, decision.views["each[1]"].message) == ("Pending", "")
    assert decision.views["each[2]"].message == "waiting: the loop's parallelism is reached"


def test_a_loop_of_groups_knows_which_iterations_began() -> None:
    """Which iterations of a looped group began is read from the recorded steps' ids once per walk."""
    body = {"tasks": [task("first"), task("second", after=["first"])]}
    plan = plan_of(pipeline([{"name": "each", "forEach": list(range(4)), "parallelism": 2, "dag": body}]))
    state = RunState(
        started_at=0,
        steps={"each[0].first": StepState("Succeeded", outputs={"out": ""}), "each[1].first": StepState("Running")},
    )
    decision = decide(plan, {}, state, 0)
    assert [s.id for s in decision.start] == ["each[0].second"]  # iterations 0 and 1 began: the limit is reached
    assert decision.views["each[2].first"].message == "waiting: the loop's parallelism is reached"


# -- failures, retries, timeouts, exit handler, cancellation -----------------------------------------


def test_a_failure_stops_new_steps_and_the_exit_handler_still_runs() -> None:
    status_seen = []
    sim = simulate(
        pipeline(
            [task("bad"), task("after-bad", after=["bad"]), task("independent-later", after=["slow"]), task("slow")],
            onExit={"component": "op", "arguments": {"a": "{{run.status}}"}},
        ),
        bad=fail(),
        exit_handler=lambda s: (status_seen.append(s.inputs["a"]) or True, {"out": ""}),
    )
    result = phases(sim)
    assert result["bad"] == "Failed"
    assert result["after-bad"] == "Skipped"
    assert result["independent-later"] == "Skipped"  # fail fast, as KFP v1 on Argo
    assert result["exit-handler"] == "Succeeded"
    assert status_seen == ["Failed"]
    assert sim.decision.phase == "Failed"
    assert sim.decision.message.startswith("bad failed")


def test_exit_handler_sees_success() -> None:
    seen = []
    simulate(
        pipeline([task("a")], onExit={"name": "report", "component": "op", "arguments": {"a": "{{run.status}}"}}),
        report=lambda s: (seen.append(s.inputs["a"]) or True, {"out": ""}),
    )
    assert seen == ["Succeeded"]


def test_retries_wait_with_exponential_backoff_then_succeed() -> None:
    attempts = []

    def flaky(start):
        attempts.append(start.attempt)
        return start.attempt == 3, {"out": "done"} if start.attempt == 3 else {}

    sim = Simulation(
        plan_of(pipeline([task("flaky", retries={"limit": 3, "backoff": {"duration": "10s", "factor": 2}})])),
        {},
        default=flaky,
    )
    first = sim.step()
    assert first.start[0].attempt == 1
    waiting = sim.step()
    assert waiting.start == [] and waiting.wake_at == 1 + 10  # finished at 1, first backoff 10 s
    assert waiting.views["flaky"].phase == "Pending"
    decision = sim.run()
    assert attempts == [1, 2, 3]
    assert decision.phase == "Succeeded"
    assert sim.state.steps["flaky"].attempt == 3


def test_retries_are_exhausted() -> None:
    sim = simulate(pipeline([task("bad", retries={"limit": 1, "backoff": {"duration": "1s"}})]), bad=fail())
    assert [s for s in sim.started] == ["bad", "bad"]
    assert sim.decision.phase == "Failed"


def test_task_timeout_stops_the_step() -> None:
    plan = plan_of(pipeline([task("slow", timeout="30s")]))
    state = RunState(started_at=0, steps={"slow": StepState("Running", started_at=100)})
    waiting = decide(plan, {}, state, 110)
    assert waiting.stop == [] and waiting.wake_at == 130
    decision = decide(plan, {}, state, 130)
    assert [(s.id, s.reason) for s in decision.stop] == [("slow", "timed out after 30.0s")]


def test_run_timeout_stops_everything_and_runs_the_exit_handler() -> None:
    plan = plan_of(pipeline([task("slow"), task("next", after=["slow"])], timeout="1h", onExit={"component": "op"}))
    state = RunState(started_at=0, steps={"slow": StepState("Running", started_at=0)})
    assert decide(plan, {}, state, 10).wake_at == 3600
    decision = decide(plan, {}, state, 3600)
    assert [s.id for s in decision.stop] == ["slow"]
    state.steps["slow"] = StepState("Failed", started_at=0, finished_at=3601, message="stopped")
    decision = decide(plan, {}, state, 3601)
    assert [s.id for s in decision.start] == ["exit-handler"]
    assert decision.views["next"].phase == "Skipped"
    state.steps["exit-handler"] = StepState("Succeeded", outputs={"out": ""})
    final = decide(plan, {}, state, 3602)
    assert final.phase == "Failed" and "timed out after 1h" in final.message


def test_cancel_stops_running_steps_then_runs_the_exit_handler() -> None:
    plan = plan_of(pipeline([task("a"), task("b", after=["a"])], onExit={"component": "op"}))
    state = RunState(started_at=0, steps={"a": StepState("Running", started_at=0)}, cancelled=True)
    decision = decide(plan, {}, state, 1)
    assert [s.id for s in decision.stop] == ["a"] and decision.start == []
    state.steps["a"] = StepState("Failed", message="cancelled")
    decision = decide(plan, {}, state, 2)
    assert [s.id for s in decision.start] == ["exit-handler"]
    state.steps["exit-handler"] = StepState("Succeeded", outputs={"out": ""})
    final = decide(plan, {}, state, 3)
    assert final.phase == "Cancelled"
    assert final.views["b"].phase == "Skipped"


def test_decisions_are_repeatable() -> None:
    """A restarted controller asking again gets the same answer: nothing is started twice."""
    plan = plan_of(pipeline([task("a"), task("b", after=["a"])]))
    state = RunState(started_at=0)
    first = decide(plan, {}, state, 0)
    again = decide(plan, {}, state, 0)
    assert [s.id for s in first.start] == [s.id for s in again.start] == ["a"]
    assert first.start[0].cache_key == again.start[0].cache_key
    state.steps["a"] = StepState("Running")
    assert decide(plan, {}, state, 1).start == []


def test_progress_counts_steps() -> None:
    sim = simulate(
        pipeline(
            [
                task("a"),
                task("b", when="{{tasks.a.outputs.out}} == z"),
                task("c", forEach=[1, 2], arguments={"a": "{{item}}"}),
            ]
        )
    )
    assert sim.decision.progress(sim.state) == {
        "total": 4,
        "pending": 0,
        "running": 0,
        "succeeded": 3,
        "failed": 0,
        "skipped": 1,
        "cached": 0,
    }


def test_a_thousand_task_dag_runs_in_dependency_order() -> None:
    tasks = [task("root")]
    for layer in range(1, 10):
        for i in range(111):
            parents = [f"l{layer - 1}-{(i + k) % 111}" if layer > 1 else "root" for k in range(2)]
            tasks.append(task(f"l{layer}-{i}", after=sorted(set(parents))))
    sim = simulate(pipeline(tasks))
    assert len(sim.started) == 1000
    position = {step_id: n for n, step_id in enumerate(sim.started)}
    for t in tasks:
        for parent in t.get("after", []):
            assert position[parent] < position[t["name"]]
    assert sim.decision.phase == "Succeeded"
    assert len([r for r in sim.rounds if r]) == 10  # one round per layer: everything ready starts at once


# -- arguments ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, expected",
    [
        ({"n": "7", "flag": "True", "xs": "[1,2]"}, {"n": 7, "flag": True, "xs": [1, 2], "name": "x"}),
        ({"n": 7, "flag": False, "xs": []}, {"n": 7, "flag": False, "xs": [], "name": "x"}),
    ],
)
def test_bind_arguments_parses_by_type(given: dict, expected: dict) -> None:
    plan = plan_of(
        pipeline(
            [task("a")],
            params=[
                {"name": "n", "type": "integer"},
                {"name": "flag", "type": "boolean"},
                {"name": "xs", "type": "list"},
                {"name": "name", "default": "x"},
            ],
        )
    )
    assert bind_arguments(plan, given) == expected


@pytest.mark.parametrize(
    "given, message",
    [
        ({"n": "seven"}, "arguments.n: 'seven' is not an integer"),
        ({"n": str(2**70)}, "does not fit in 64 bits"),
        ({}, "arguments.n: required parameter"),
        ({"n": 1, "typo": 2}, "the pipeline has no parameter 'typo'"),
    ],
)
def test_bind_arguments_rejects_bad_values(given: dict, message: str) -> None:
    plan = plan_of(pipeline([task("a")], params=[{"name": "n", "type": "integer"}]))
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        bind_arguments(plan, given)


def test_run_identity_placeholders() -> None:
    plan = plan_of(pipeline([task("a", arguments={"a": "{{run.name}}/{{run.namespace}}/{{run.uid}}"})]))
    decision = decide(plan, {}, RunState(started_at=0, identity={"name": "r1", "namespace": "ns", "uid": "u-1"}), 0)
    assert decision.start[0].inputs["a"] == "r1/ns/u-1"


def test_pipeline_outputs_may_name_the_run() -> None:
    plan = plan_of(pipeline([task("a")], outputs={"model": "gs://bucket/{{run.name}}/{{tasks.a.outputs.out}}"}))
    state = RunState(started_at=0, identity={"name": "r1", "namespace": "ns", "uid": "u-1"})
    state.steps["a"] = StepState("Succeeded", outputs={"out": "m"})
    assert decide(plan, {}, state, 1).outputs == {"model": "gs://bucket/r1/m"}


def test_max_start_prepares_that_many_steps_and_counts_the_ready_ones_left_for_later() -> None:
    plan = plan_of(pipeline([task("each", forEach=list(range(10)), arguments={"a": "{{item}}"})]))
    state = RunState(started_at=0.0)
    decision = decide(plan, {}, state, 0.0, max_start=4)
    assert [start.id for start in decision.start] == [f"each[{i}]" for i in range(4)]
    assert decision.deferred == 6 and decision.phase == "Running"
    assert {decision.views[f"each[{i}]"].phase for i in range(4, 10)} == {"Pending"}
    assert decide(plan, {}, state, 0.0).deferred == 0  # without a bound every ready step is prepared


def test_max_start_defers_nothing_when_the_runs_parallelism_holds_the_steps_back() -> None:
    plan = plan_of(pipeline([task("each", forEach=list(range(10)), arguments={"a": "{{item}}"})], parallelism=2))
    decision = decide(plan, {}, RunState(started_at=0.0), 0.0, max_start=4)
    assert len(decision.start) == 2 and decision.deferred == 0  # no pass is due before a step ends
