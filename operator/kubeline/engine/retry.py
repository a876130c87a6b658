"""Retry from the failed step: which steps of a finished run a new run reuses, and which it runs again.

A retry reuses every step that succeeded in the original (run or served from the cache), except the
steps asked for again (``from_steps``), the steps whose files or pipeline volume the retry cannot see, and
everything downstream of them. The rest (failed, cancelled, skipped, never reached) runs again, and so
does the exit handler, which reports on the new run.

Downstream is what the engine waits for: each task's dependencies (data references, ``after``,
conditions, a loop's list), lifted to the siblings that contain the two tasks (see ``references``).
So a group or loop that depends on a step run again runs again whole, every instance; a step
depends on what its enclosing groups depend on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeline.api.constants import API_VERSION, EXPERIMENT_LABEL, PIPELINE_LABEL, RETRY_OF_LABEL
from kubeline.api.models import RunStatus, TaskStatus
from kubeline.engine import stepid
from kubeline.engine.errors import name_list
from kubeline.engine.plan import Plan
from kubeline.engine.scopes import Node, Scope
from kubeline.engine.templates import TASK_SCOPE, refs_in, to_text
from kubeline.engine.values import FILE_OUTPUT_TYPES

FINISHED = ("Succeeded", "Failed", "Cancelled")


class RetryInvalid(ValueError):
    """The retry cannot be made as asked (an unknown step to run again)."""


@dataclass(frozen=True)
class Selection:
    reused: dict[str, TaskStatus]  # step id -> the original's entry, marked with the run it came from
    rerun: list[str]  # steps that succeeded and run again: asked for, unreadable, or downstream of one
    unreadable: list[str]  # steps that succeeded whose files stay on the original's volume: they run again
    #: Steps that succeeded mounting a pipeline volume the retry gets new and empty (one without a claimName):
    #: they run again, so that the volume holds again what they put there or read from it.
    on_new_volume: list[str]


def source_problem(original: str, status: RunStatus) -> str | None:
    """Why a Run cannot be retried (it has not finished, or never started), or None."""
    if status.phase not in FINISHED:
        return (
            f"Run {original!r} has not finished (phase {status.phase or 'Pending'}): create the retry once it has "
            f'(or cancel it: kubectl patch run {original} --type merge -p \'{{"spec":{{"cancel":true}}}}\')'
        )
    if status.pipeline_spec is None or status.started_at is None:
        return (
            f"Run {original!r} never started, so it has nothing to reuse: "
            "fix what it failed for and create a new Run instead"
        )
    return None


def retry_document(
    original: Mapping[str, Any], from_steps: Sequence[str] = (), name: str | None = None
) -> dict[str, Any]:
    """A Run retrying ``original`` (a Run document): named ``name`` or ORIGINAL-retry-XXXXX, in its queue, with
    its pipeline and experiment labels (it lists with it) and RETRY_OF_LABEL naming it."""
    metadata = original.get("metadata") or {}
    labels = metadata.get("labels") or {}
    kept = {key: str(labels[key]) for key in (PIPELINE_LABEL, EXPERIMENT_LABEL) if key in labels}
    spec = original.get("spec") or {}
    retry_of: dict[str, Any] = {"name": metadata["name"]}
    if from_steps:
        retry_of["fromSteps"] = list(from_steps)
    naming = {"name": name} if name else {"generateName": f"{metadata['name'][:50]}-retry-"}
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {**naming, "labels": {**kept, RETRY_OF_LABEL: metadata["name"]}},
        "spec": {"retryOf": retry_of, **{key: spec[key] for key in ("queue", "priority") if key in spec}},
    }


def select(
    plan: Plan,
    original: str,
    tasks: Mapping[str, TaskStatus],
    from_steps: Sequence[str] = (),
    files_readable: bool = True,
) -> Selection:
    """The original run's succeeded steps to reuse (``tasks``: its status.tasks). ``files_readable``: whether
    a new run can read the original's file outputs (they are in an artifact store, not on its own volume);
    when not, the steps with file outputs run again, with what follows them (it reads or waits for their
    files). RetryInvalid names a from-step the pipeline does not have."""
    check_from_steps(plan, from_steps, tasks)
    chains = {step_id: chain for step_id in tasks if (chain := _chain(plan, step_id)) is not None}
    succeeded = [
        step_id
        for step_id, chain in chains.items()
        if tasks[step_id].phase == "Succeeded" and chain[-1][0].body is None and plan.exit is not chain[-1][0]
    ]
    unreadable = [] if files_readable else [step_id for step_id in succeeded if _writes_files(chains[step_id])]
    new_volumes = {volume.name for volume in plan.spec.volumes or [] if volume.claim_name is None}
    on_new_volume = [step_id for step_id in succeeded if _mounts(chains[step_id], new_volumes)]
    again = Downstream(plan, from_steps, [*unreadable, *on_new_volume])
    reused = {
        step_id: tasks[step_id].model_copy(
            update={"reused_from": tasks[step_id].reused_from or original, "attempts": tasks[step_id].attempts or 1}
        )
        for step_id in succeeded
        if not again(step_id)
    }
    return Selection(reused, sorted(s for s in succeeded if again(s)), unreadable, on_new_volume)


def note(original: str, selection: Selection) -> str:
    """What a retry says when it starts (the Started Event, `kubeline retry --local`): the steps taken from
    the original, and those run again."""
    note = f", reusing {len(selection.reused)} from Run {original}"
    if selection.rerun:
        note += f"; running again steps that succeeded there: {', '.join(selection.rerun)}"
    if selection.unreadable:
        note += (
            f" (Run {original} kept the files of {', '.join(selection.unreadable)} on its own volume: they run "
            "again with what follows them; with an artifact store a retry reuses them)"
        )
    if selection.on_new_volume:
        note += (
            f" ({', '.join(selection.on_new_volume)} mount a pipeline volume this Run has new and empty: they run "
            "again with what follows them; a volume with a fixed claimName is shared with the original instead)"
        )
    return note


class Downstream:
    """Which steps a retry runs again whatever the original or the cache holds: the ones the from-steps name
    (see ``asked``), the ``exact`` step ids, and every step that waits for one of them, directly or through its
    groups, however far downstream. Read from the plan, so it also covers steps the original never reached
    (a loop's new instances); answers are remembered (one per task or group instance)."""

    def __init__(self, plan: Plan, from_steps: Sequence[str] = (), exact: Sequence[str] = ()):
        self.plan, self.from_steps = plan, tuple(from_steps)
        self.exact = [stepid.parse(step_id) for step_id in exact]
        self._waits: dict[str, bool] = {}

    def __call__(self, step_id: str) -> bool:
        if not self.from_steps and not self.exact:
            return False
        segments = stepid.parse(step_id)
        if asked(step_id, self.from_steps) or segments in self.exact:
            return True
        chain = _chain(self.plan, step_id)
        if chain is None or chain[-1][0] is self.plan.exit:
            return False
        scope = self.plan.root
        for node, _, prefix in chain:
            if any(self._runs_again_within(scope, prefix, dep) for dep in node.deps):
                return True
            scope = node.body if node.body is not None else scope
        return False

    def _runs_again_within(self, scope: Scope, prefix: str, name: str) -> bool:
        """Whether a step inside the task or group ``name`` (of the instance ``prefix``) runs again: one is
        named, or the task or group waits for a sibling inside which one runs again."""
        node_id = stepid.child(prefix, name)
        if node_id not in self._waits:
            node = scope.nodes[name]
            self._waits[node_id] = self._names_inside(node, node_id) or any(
                self._runs_again_within(scope, prefix, dep) for dep in node.deps
            )
        return self._waits[node_id]

    def _names_inside(self, node: Node, node_id: str) -> bool:
        """Whether a from-step or exact id names this task or group, what is in it, or what it is in."""
        segments = stepid.parse(node_id)
        inner = _task_names(node.body) if node.body is not None else set()
        for wanted in self.from_steps:
            path = stepid.parse(wanted)
            if len(path) == 1 and path[0].index is None:
                if path[0].name in inner or any(segment.name == path[0].name for segment in segments):
                    return True
            elif _overlap(path, segments):
                return True
        return any(_overlap(path, segments) for path in self.exact)


def _overlap(path: Sequence[stepid.Segment], segments: Sequence[stepid.Segment]) -> bool:
    """Whether two step paths lie one inside the other (a missing index stands for every instance)."""
    return all(
        p.name == s.name and (p.index == s.index or None in (p.index, s.index))
        for p, s in zip(path, segments, strict=False)
    )


#: One level of a step id: the task or group there, its id, and the id of the instance it is in ("" at the top).
_Level = tuple[Node, str, str]


def _chain(plan: Plan, step_id: str) -> list[_Level] | None:
    """The tasks and groups a step id goes through, outermost first; None when the plan has no such step."""
    if plan.exit is not None and step_id == plan.exit.name:
        return [(plan.exit, step_id, "")]
    try:
        segments = stepid.parse(step_id)
    except ValueError:
        return None
    scope: Scope | None = plan.root
    prefix, chain = "", []
    for segment in segments:
        node = scope.nodes.get(segment.name) if scope is not None else None
        if node is None or node.is_loop != (segment.index is not None):
            return None
        node_id = stepid.child(prefix, segment.name)
        chain.append((node, node_id, prefix))
        prefix = node_id if segment.index is None else stepid.instance(node_id, segment.index)
        scope = node.body
    return chain


def _mounts(chain: list[_Level], volumes: set[str]) -> bool:
    """Whether the step is given the claim of one of these pipeline volumes (``{{volumes.NAME.name}}``)."""
    return any(
        ref.kind == "volume" and ref.name in volumes
        for value in chain[-1][0].arguments().values()
        for ref in refs_in(to_text(value), TASK_SCOPE)
    )


def _writes_files(chain: list[_Level]) -> bool:
    component = chain[-1][0].component
    return component is not None and any(o.type in FILE_OUTPUT_TYPES for o in component.outputs or [])


def asked(step_id: str, from_steps: Sequence[str]) -> bool:
    """Whether a from-step names this step: a task or group name anywhere in its id, or a path of its id
    from the top (``loop`` covers every instance, ``loop[2]`` one, ``cond.train`` one task in a group)."""
    segments = stepid.parse(step_id)
    for wanted in from_steps:
        path = stepid.parse(wanted)
        if len(path) == 1 and path[0].index is None:
            if any(segment.name == path[0].name for segment in segments):
                return True
        elif len(path) <= len(segments) and all(
            p.name == s.name and p.index in (None, s.index) for p, s in zip(path, segments, strict=False)
        ):
            return True
    return False


def check_from_steps(plan: Plan, from_steps: Sequence[str], recorded: Collection[str]) -> None:
    """RetryInvalid when a from-step is no task, group or step id of the plan, listing the task names, or names
    a loop instance the original (``recorded``: its step ids) did not have, listing the instances it had."""
    names = _task_names(plan.root)
    for wanted in from_steps:
        try:
            segments = stepid.parse(wanted)
        except ValueError as error:
            raise RetryInvalid(f"from step {wanted!r}: {error}") from None
        single = len(segments) == 1 and segments[0].index is None
        if single and wanted in names:
            continue
        if not single and _is_path(plan.root, segments):
            _check_instances(wanted, segments, recorded)
            continue
        raise RetryInvalid(
            f"from step {wanted!r}: the pipeline has no such task or step; its tasks: {name_list(names)} "
            "(a step id such as loop[2].train names one instance)"
        )


#: At most this many instances are listed when a from-step names one the original did not have.
_LISTED_INSTANCES = 20


def _check_instances(wanted: str, segments: Sequence[stepid.Segment], recorded: Collection[str]) -> None:
    """RetryInvalid when no recorded step lies in the instance ``wanted`` names (``loop[50]`` of 3)."""
    if all(segment.index is None for segment in segments) or any(asked(s, [wanted]) for s in recorded):
        return
    known = set()
    for step_id in recorded:
        prefix = stepid.parse(step_id)[: len(segments)]
        if len(prefix) == len(segments) and all(
            p.name == w.name and (p.index is None) == (w.index is None) for p, w in zip(prefix, segments, strict=True)
        ):
            known.add(".".join(str(segment) for segment in prefix))
    listed = sorted(known, key=lambda instance: [(s.name, s.index or 0) for s in stepid.parse(instance)])
    more = f" and {len(listed) - _LISTED_INSTANCES} more" if len(listed) > _LISTED_INSTANCES else ""
    raise RetryInvalid(
        f"from step {wanted!r}: the run retried has no such instance; its instances: "
        f"{', '.join(listed[:_LISTED_INSTANCES]) or 'none (the loop never started)'}{more}"
    )


def _is_path(scope: Scope | None, segments: Sequence[stepid.Segment]) -> bool:
    """Whether the segments go down the plan from the top, with an index only on loops."""
    for segment in segments:
        node = scope.nodes.get(segment.name) if scope is not None else None
        if node is None or (segment.index is not None and not node.is_loop):
            return False
        scope = node.body
    return True


def _task_names(scope: Scope) -> set[str]:
    names = set()
    for node in scope.nodes.values():
        names.add(node.name)
        if node.body is not None:
            names |= _task_names(node.body)
    return names
