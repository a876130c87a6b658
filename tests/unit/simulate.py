"""Drive the pure engine with scripted step outcomes: a backend with no processes, for table tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubeline.engine.plan import Plan, build, load_spec
from kubeline.engine.run import bind_arguments, decide
from kubeline.engine.state import Decision, RunState, StartStep, StepState

#: An outcome: (succeeded, outputs) for a step, decided from its StartStep.
Outcome = Callable[[StartStep], tuple[bool, dict[str, str]]]


def plan_of(text_or_dict: Any) -> Plan:
    document = yaml.safe_load(text_or_dict) if isinstance(text_or_dict, str) else text_or_dict
    return build(load_spec(document.get("spec", document)))


def ok(**outputs: Any) -> Outcome:
    return lambda start: (True, {k: str(v) for k, v in outputs.items()})


def succeed_with_ids(start: StartStep) -> tuple[bool, dict[str, str]]:
    """Every value output set to the step's id."""
    return True, {o.name: start.id for o in start.component.outputs or [] if o.type != "artifact"}


def fail() -> Outcome:
    return lambda start: (False, {})


@dataclass
class Simulation:
    plan: Plan
    params: dict[str, Any]
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by task name (or step id)
    default: Outcome = field(default_factory=lambda: succeed_with_ids)
    state: RunState = field(default_factory=lambda: RunState(started_at=0.0))
    now: float = 0.0
    started: list[str] = field(default_factory=list)  # step ids in start order
    rounds: list[list[str]] = field(default_factory=list)  # step ids started per decision
    decision: Decision | None = None

    def step(self) -> Decision:
        """One decision; started steps run and finish before the next one (1 s of simulated time)."""
        decision = decide(self.plan, self.params, self.state, self.now)
        self.decision = decision
        for stop in decision.stop:
            step = self.state.steps[stop.id]
            step.phase, step.message, step.finished_at = "Failed", stop.reason, self.now
        started = []
        for start in decision.start:
            started.append(start.id)
            self.started.append(start.id)
            outcome = self.outcomes.get(start.id) or self.outcomes.get(start.task) or self.default
            succeeded, outputs = outcome(start)
            self.state.steps[start.id] = StepState(
                "Succeeded" if succeeded else "Failed",
                attempt=start.attempt,
                started_at=self.now,
                finished_at=self.now + 1,
                outputs=outputs,
                message="" if succeeded else "exit code 1",
                cache_key=start.cache_key,
            )
        self.rounds.append(started)
        self.now += 1
        return decision

    def run(self, limit: int = 10_000) -> Decision:
        for _ in range(limit):
            decision = self.step()
            if decision.finished:
                return decision
            if not decision.start and not decision.stop:
                if decision.wake_at is None:
                    raise AssertionError(f"run is stuck: {decision.views}")
                self.now = max(self.now, decision.wake_at)
        raise AssertionError("run did not finish")


def simulate(pipeline: Any, params: dict[str, Any] | None = None, **outcomes: Outcome) -> Simulation:
    plan = plan_of(pipeline)
    sim = Simulation(plan, bind_arguments(plan, params), {k.replace("_", "-"): v for k, v in outcomes.items()})
    sim.run()
    return sim
