"""Bounds on the size and shape of what kubeline reads, each with the reason for its value.

Every bound is checked before any code that could run out of memory or stack on a hostile input
(a YAML alias bomb, a thousand nested groups): such input gets a message naming the field, never a
RecursionError or an exhausted machine.
"""

from __future__ import annotations

from typing import Any

#: Largest file read as YAML. The API server refuses requests over 3 MiB (etcd stores at most 1.5 MiB
#: per object), so no Pipeline or Run that can reach a cluster is larger; 4 MiB leaves room for comments
#: and a Run beside it. Parsing is the cost being bounded: a dense 4 MiB file of small values already
#: takes seconds and about 400 MB of memory in PyYAML.
MAX_INPUT_BYTES = 4 * 1024 * 1024

#: Deepest nesting of mappings and lists in a document or a value (arguments, forEach lists, -p JSON).
#: Groups nested MAX_GROUP_DEPTH deep need about 3 levels each; the rest is room for values. Parsers,
#: pydantic and json all recurse per level, so this keeps them far from Python's recursion limit.
MAX_NESTING = 100

#: Deepest nesting inside one value (arguments, parameter defaults, loop items, -p JSON): a value sits
#: a few levels down in its document, which MAX_NESTING bounds as a whole, and the YAML writer, json
#: and pydantic recurse once per level of it.
MAX_VALUE_NESTING = 50

#: Values a document may expand to once its aliases are followed (a node counts 1, plus 1 per
#: EXPANDED_CHARS_PER_UNIT characters of text). A 4 MiB file without aliases stays under it; an alias
#: bomb ("billion laughs") is refused as soon as it passes it, before anything walks the expansion.
MAX_EXPANDED_VALUES = 1_000_000
EXPANDED_CHARS_PER_UNIT = 16

#: Most iterations of one forEach, literal or produced. Each iteration is a step (a pod on a cluster) and
#: the engine walks every step at each decision (about 4 s for 100,000): a list of millions of items,
#: which a -p argument or a 4 MiB file can hold, would never finish. KFP programs loop over tens to
#: thousands of items; the largest loop a test imports has 100,000.
MAX_LOOP_ITEMS = 100_000

#: Largest a Run may be with the copy of its pipeline it keeps in status.pipelineSpec (frozen when it starts).
#: etcd stores at most 1.5 MiB an object, managedFields included; the rest is room for the steps' status.
MAX_FROZEN_RUN_BYTES = 1024 * 1024

#: Deepest nesting of groups (dag inside dag). KFP pipelines rarely nest beyond five (loops inside
#: conditions inside loops); the engine walks groups recursively.
MAX_GROUP_DEPTH = 20

#: Deepest nesting of parentheses and `not` in a `when` condition (the parser recurses per level).
MAX_CONDITION_DEPTH = 32


def deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and mappings in ``value`` nest more than ``limit`` deep, walked level by level
    (no recursion), so that a value from a user is checked before anything recursive touches it."""
    level = [value]
    for _ in range(limit + 1):
        level = [c for v in level if isinstance(v, (list, dict)) for c in (v.values() if isinstance(v, dict) else v)]
        if not level:
            return False
    return True
