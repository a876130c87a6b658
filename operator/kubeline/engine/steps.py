"""Each step's next move, from what was recorded about it: keep running, stop, retry, start, or fail.

A running step is stopped when the run stops or the step outlives its timeout; a failed one is retried
after its backoff while retries remain and the run is not stopping; a step with no record starts when
its inputs can be had, unless the run is stopping or its loop's parallelism is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeline.api.durations import format_duration
from kubeline.engine import metrics
from kubeline.engine.resolution import Context, MissingInput, Resolver, SkippedInput
from kubeline.engine.scopes import Node, Scope
from kubeline.engine.settings import Settings
from kubeline.engine.start import start_step
from kubeline.engine.state import RunState, StartStep, StepState, StopStep, View
from kubeline.engine.templates import TemplateError


@dataclass
class Findings:
    """What a walk has found so far: how everything looks, what to start and stop, what failed."""

    views: dict[str, View] = field(default_factory=dict)
    candidates: list[StartStep] = field(default_factory=list)  # steps to start, before the run's parallelism
    stops: list[StopStep] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: steps that failed while being prepared (step id -> why): they have no recorded state
    unstartable: dict[str, str] = field(default_factory=dict)
    wake: float | None = None
    withheld: int = 0  # steps that could start but were not prepared: the walk's max_start was reached

    @property
    def ready(self) -> int:
        """Steps that could start now: the candidates and the ones withheld."""
        return len(self.candidates) + self.withheld

    def wake_by(self, at: float) -> None:
        self.wake = at if self.wake is None else min(self.wake, at)

    def fail(self, node_id: str, message: str, is_step: bool = True) -> None:
        self.views[node_id] = View("Failed", message, is_step)
        self.failed.append(node_id)


class StepDecider:
    """Decides the steps of one walk; ``stopping`` (why nothing new starts) is None while the run goes on.
    Past ``max_start`` candidates, a step that could start is not prepared (its inputs are not resolved, so
    one that cannot have them fails only when its turn comes): it waits for a later decision."""

    def __init__(
        self,
        state: RunState,
        now: float,
        found: Findings,
        resolver: Resolver,
        stopping: str | None,
        kill: bool,
        max_start: int | None = None,
    ):
        self.state, self.now, self.found, self.resolver = state, now, found, resolver
        self.stopping, self.kill, self.max_start = stopping, kill, max_start

    def decide(self, node: Node, step_id: str, context: Context, scope: Scope) -> None:
        step = self.state.steps.get(step_id)
        if step is not None and step.phase == "Running":
            self._running(step, step_id, node.settings)
            return
        if step is not None and step.phase == "Succeeded":
            self.found.views[step_id] = View("Succeeded", step.message or metrics.warning(metrics.of_step(node, step)))
            return
        attempt = 1 if step is None else self._next_attempt(step, step_id, node.settings)
        if attempt is not None:
            self._begin(node, step_id, attempt, scope, context)

    def _running(self, step: StepState, step_id: str, settings: Settings) -> None:
        self.found.views[step_id] = View("Running", step.message)
        if self.stopping and self.kill:
            self.found.stops.append(StopStep(step_id, self.stopping.removeprefix("not run: ")))
        elif settings.timeout and step.started_at is not None:
            deadline = step.started_at + settings.timeout
            if self.now >= deadline:
                self.found.stops.append(StopStep(step_id, f"timed out after {format_duration(settings.timeout)}"))
            else:
                self.found.wake_by(deadline)

    def _next_attempt(self, step: StepState, step_id: str, settings: Settings) -> int | None:
        """The attempt that follows a failed one; None while it backs off, or when the step stays failed."""
        can_retry = step.retryable and step.attempt <= settings.retry_limit and not self.stopping
        if not can_retry:
            self.found.fail(step_id, step.message)
            return None
        ready_at = (step.finished_at or self.now) + settings.backoff_delay(step.attempt)
        if self.now < ready_at:
            self.found.wake_by(ready_at)
            self.found.views[step_id] = View(
                "Pending",
                f"attempt {step.attempt} failed ({step.message}); retry {step.attempt} of "
                f"{settings.retry_limit} in {format_duration(ready_at - self.now)}",
            )
            return None
        return step.attempt + 1

    def _begin(self, node: Node, step_id: str, attempt: int, scope: Scope, context: Context) -> None:
        if step_id in self.found.unstartable:
            self._fail_unstarted(step_id, self.found.unstartable[step_id])
            return
        if self.stopping:
            self.found.views[step_id] = View("Skipped", self.stopping)
            return
        if not context.may_start:
            self.found.views[step_id] = View("Pending", "waiting: the loop's parallelism is reached")
            return
        if self.max_start is not None and len(self.found.candidates) >= self.max_start:
            self.found.views[step_id] = View("Pending")  # its turn comes: as a step not yet ready, it says nothing
            self.found.withheld += 1
            return
        try:
            start = start_step(node, step_id, attempt, scope, context, self.resolver)
        except SkippedInput as skip:
            self.found.views[step_id] = View("Skipped", str(skip))
            return
        except (MissingInput, TemplateError) as error:
            self._fail_unstarted(step_id, str(error))
            return
        self.found.views[step_id] = View("Pending", "starting" if attempt == 1 else f"starting attempt {attempt}")
        self.found.candidates.append(start)

    def _fail_unstarted(self, step_id: str, message: str) -> None:
        self.found.fail(step_id, message)
        self.found.unstartable[step_id] = message
