"""Step ids: how they are written, read back, and turned into folder and pod names. The one home for all three.

A step id names one task instance of a run, as shown in the Run's status and by ``kubeline run``::

    add                         a task of the pipeline's DAG (or the exit handler)
    loop[2]                     iteration 2 of a looped task
    loop[2].train               task train inside iteration 2 of a looped group
    cond.train                  task train inside a (non-loop) group named cond

A segment is a task or group name (a DNS-1123 label: ``a-z``, ``0-9``, ``-``) with an optional
``[index]``; segments are joined with ``.``. Names never contain ``.``, ``[``, ``]`` or ``_``, which
is what makes the two encodings below injective.

Folder names (the local runner's ``steps/FOLDER/attempt-N``, the artifact folders on a run's volume):
``[i]`` becomes ``_i``, the rest is kept: ``add`` -> ``add``, ``loop[2].train`` -> ``loop_2.train``.
A folder name longer than ``MAX_FOLDER`` (128, under every common file system's limit: 255 bytes,
eCryptfs's 143) keeps its first 111 characters and ends with ``+`` and 16 hex digits of the SHA-256
of the whole id. ``+`` never occurs in a short folder name, so long and short names never meet.

Pod names (``RUN-READABLE-aATTEMPT``, at most 63 characters so that the name is also the pod's
host name): READABLE writes ``[i]`` as ``-i`` and ``.`` as ``-``, as users expect from KFP
(``add`` -> ``RUN-add-a1``, ``loop[3].train`` -> ``RUN-loop-3-train-a1``). That alone is lossy (a task
named ``x-2`` and ``x[2]`` both give ``x-2``), so it is used alone only for ids that READABLE
reads back unambiguously (``readable_id``): digit-only parts are indexes and close a segment, other
parts join into names. Every other id (``x-2``, ``cond.train``, ``for-loop-1[0].y``) and every
name over 63 characters gets ``-h`` and 12 hex digits of the SHA-256 of ``RUN/ID/ATTEMPT``, after
a readable prefix (``RUN-x-2-a1-h3f2a9c01b2d4``). A plain name ends in ``-aN``, a hashed one in
``-hHEX``, so they never meet; two plain names of one run are equal only if their ids are (the id
is read back from the name); two hashed names only if 48 bits of hash are (2e-6 for 10,000 pods).

Across runs a plain name can still repeat (run ``r`` with task ``a1-x``, run ``r-a1`` with task
``x``: both ``r-a1-x-a1``) unless plain names were given up for tasks with ``-`` in their names;
the controller therefore finds a step's pods by their ``kubeline.dev/step`` annotation and owner,
never by parsing a name, and does not delete a pod that belongs to another Run.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from kubeline.api.names import MAX_LABEL, is_dns_label

SEPARATOR = "."
MAX_FOLDER = 128
FOLDER_HASH_DIGITS = 16  # 64 bits: folders only need to differ within one run
POD_HASH_DIGITS = 12  # 48 bits: pods share a namespace; 12 + 2 characters leave a 49-character readable prefix

_SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)(?:\[(?P<index>0|[1-9][0-9]*)\])?")


@dataclass(frozen=True)
class Segment:
    name: str
    index: int | None = None

    def __str__(self) -> str:
        return self.name if self.index is None else f"{self.name}[{self.index}]"


def child(parent: str, name: str) -> str:
    """The id of task or group ``name`` (or a relative path of names) inside ``parent`` ("" at the top)."""
    return f"{parent}{SEPARATOR}{name}" if parent else name


def instance(loop_id: str, index: int) -> str:
    """The id of iteration ``index`` of the looped task or group ``loop_id``."""
    return f"{loop_id}[{index}]"


def is_within(step_id: str, group_id: str) -> bool:
    """Whether ``step_id`` is a step inside the group (instance) ``group_id``."""
    return step_id.startswith(group_id + SEPARATOR)


def enclosing_groups(step_id: str) -> list[str]:
    """The ids of the group instances ``step_id`` is within, outermost first (``is_within`` holds for each)."""
    ends = [i for i, char in enumerate(step_id) if char == SEPARATOR]
    return [step_id[:end] for end in ends]


@functools.lru_cache(maxsize=65536)
def parse(step_id: str) -> tuple[Segment, ...]:
    """The segments of a step id; ValueError when it is not one. Cached: every pass over a Run parses each of its
    step ids (twice at 1,000 steps, a fifth of the pass); the segments are frozen."""
    segments = []
    for part in step_id.split(SEPARATOR):
        match = _SEGMENT.fullmatch(part)
        if match is None or not is_dns_label(match["name"]):
            raise ValueError(
                f"{step_id!r} is not a step id (task names joined by '.', with [N] for a loop iteration, e.g. loop[2].train)"
            )
        index = match["index"]
        segments.append(Segment(match["name"], None if index is None else int(index)))
    return tuple(segments)


def format_id(segments: tuple[Segment, ...] | list[Segment]) -> str:
    return SEPARATOR.join(str(s) for s in segments)


def task_name(step_id: str) -> str:
    """The name of the task a step runs (``train`` for ``loop[2].train``): the value of its pods' task label."""
    return parse(step_id)[-1].name


# -- folders ----------------------------------------------------------------------------------------------


def folder_name(step_id: str) -> str:
    """The step's folder name: readable, injective, never longer than MAX_FOLDER (see the module docstring)."""
    plain = SEPARATOR.join(s.name if s.index is None else f"{s.name}_{s.index}" for s in parse(step_id))
    if len(plain) <= MAX_FOLDER:
        return plain
    return f"{plain[: MAX_FOLDER - FOLDER_HASH_DIGITS - 1]}+{_digest(step_id, FOLDER_HASH_DIGITS)}"


# -- pod names ----------------------------------------------------------------------------------------------


def readable(step_id: str) -> str:
    """The id as pod names show it: ``loop[3].train`` -> ``loop-3-train`` (lossy; see readable_id)."""
    return "-".join(s.name if s.index is None else f"{s.name}-{s.index}" for s in parse(step_id))


def readable_id(text: str) -> str | None:
    """The one id ``readable`` is taken to come from: digit-only parts are indexes, each ending a
    segment; other parts join into names. None when no id reads that way (``loop-3-3``)."""
    segments: list[str] = []
    name: list[str] = []
    for part in text.split("-"):
        if part.isascii() and part.isdigit():
            if not name:
                return None
            segments.append(instance("-".join(name), int(part)))
            name = []
        else:
            name.append(part)
    if name:
        segments.append("-".join(name))
    return SEPARATOR.join(segments)


def pod_name(run: str, step_id: str, attempt: int) -> str:
    """A pod name unique to (run, step, attempt), readable, a valid DNS-1123 name of at most 63 characters."""
    flat = readable(step_id)
    name = f"{run}-{flat}-a{attempt}"
    if len(name) <= MAX_LABEL and readable_id(flat) == step_id:
        return name
    suffix = f"-h{_digest(f'{run}/{step_id}/{attempt}', POD_HASH_DIGITS)}"
    return name[: MAX_LABEL - len(suffix)].rstrip("-") + suffix


def _digest(text: str, digits: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:digits]


def selected(step_id: str, task: str | None) -> bool:
    """Whether ``step_id`` is one that ``task`` asks for (as `kubeline logs RUN TASK` reads it): every step
    when None, a task name's steps, or one step by its id."""
    if task is None or step_id == task:
        return True
    return task == task_name(task) and "+" not in step_id and task_name(step_id) == task
