"""Property-based tests: for generated and mutated pipelines, the only outcomes are "valid" or a list of problems.

Seeds are the examples and the SDK's golden files; hypothesis mutates them (replaces any node with a
value of another type or a hostile string, deletes keys, duplicates list items, corrupts the YAML text)
and checks, for the loader, `validate`, the engine and the local runner:
- loading ends in a plan or in `PipelineInvalid` with at least one problem, nothing else;
- a valid plan runs in the pure engine (simulated outcomes) to a finished phase, never stuck, never raising;
- `kubeline run` with hostile names exits 0, 1 or 2, writes only under `$KUBELINE_HOME`, and prints no traceback;
- each example finishes within a bounded time (a hang fails the test).

`make test` runs a bounded number of examples; `make fuzz` runs many more (KUBELINE_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kubeline import commands
from kubeline.api.problems import PipelineInvalid
from kubeline.commands.common import load_pipeline_file
from kubeline.engine.documents import pipeline_from_document
from kubeline.engine.run import bind_arguments
from tests.unit.simulate import Simulation

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples" / "python").glob("*.yaml"))
SEEDS = [next(d for d in yaml.safe_load_all(f.read_text()) if d.get("kind") == "Pipeline") for f in SEED_FILES]
SEED_TEXTS = [f.read_text() for f in SEED_FILES]

FUZZ = int(os.environ.get("KUBELINE_FUZZ_EXAMPLES", "0"))
#: Seconds one example may take before it counts as a hang.
HANG = 20


def _settings(examples: int, fuzz_share: float = 1.0) -> Any:
    """``examples`` in `make test` (the same ones every time); under `make fuzz`, a share of its count, random."""
    return settings(
        max_examples=max(examples, int(FUZZ * fuzz_share)) if FUZZ else examples,
        deadline=None,
        derandomize=not FUZZ,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


HOSTILE = [
    "",
    " ",
    "..",
    "/",
    "/etc/passwd",
    "../../escape",
    "a/b",
    "x" * 300,
    "UPPER",
    "with space",
    "ünïcode",
    "[/bold]",
    "[link=x]y[/link]",
    "{{",
    "}}",
    "{{params.nope}}",
    "{{tasks.add.outputs.result}}",
    "{{item}}",
    "{{inputs.a}}",
    "a\x00b",
    "P0D",
    "0s",
    "-1",
    "nan",
    "inf",
    "1e309",
    "banana",
    "not not x",
    "((((1))))",
    "${HOME}",
    "$(reboot)",
    "`id`",
    "x-2",
    "loop[2]",
    "- a",
    "{a: b}",
    "[1, 2]",
    "null",
    "~",
    "y",
    "no",
]
ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
)
VALUES = st.recursive(
    ATOMS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "component", "dag", "tasks", "forEach", "when", "type", "value"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


def _paths(document: Any) -> list[tuple[Any, ...]]:
    """Every node's path (iteratively: a deepened document is deeper than Python's recursion limit)."""
    paths, todo = [], [((), document)]
    while todo:
        path, node = todo.pop()
        paths.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        todo.extend(((*path, key), child) for key, child in items)
    return sorted(paths, key=repr)


def _mutate(document: Any, data: st.DataObject) -> Any:
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = [p for p in _paths(document) if p]
        path = data.draw(st.sampled_from(paths), label="path")
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        operation = data.draw(
            st.sampled_from(["replace", "replace", "delete", "duplicate", "deepen"]), label="operation"
        )
        if operation == "deepen":
            parent[key] = _deepen(parent[key], data.draw(st.integers(1, 300), label="depth"))
        elif operation == "delete":
            del parent[key]
        elif operation == "duplicate" and isinstance(parent, list):
            parent.insert(key, parent[key])  # the same object twice, as a YAML alias makes it
        else:
            parent[key] = data.draw(VALUES, label="value")
    return document


def _deepen(node: Any, depth: int) -> Any:
    """Deep nesting of the node's own kind: groups of groups, parentheses and `not`s, lists of lists."""
    if isinstance(node, dict) and "name" in node:
        for level in range(depth):
            node = {"name": f"g{level}", "dag": {"tasks": [node]}}
        return node
    if isinstance(node, str):
        return "not " * depth + "(" * depth + node + ")" * depth
    for _ in range(depth):
        node = [node]
    return node


@contextlib.contextmanager
def _no_hang(seconds: int = HANG) -> Iterator[None]:
    def hang(*_: Any) -> None:
        raise AssertionError(f"hang: no answer within {seconds}s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _problems_or_plan(document: Any) -> Any:
    """The loaded pipeline, or None after checking the problems are real messages."""
    try:
        return pipeline_from_document(document, "fallback")
    except PipelineInvalid as invalid:
        assert invalid.issues, "PipelineInvalid without a problem"
        assert all(str(issue).strip() for issue in invalid.issues)
        event("invalid")
        return None


@_settings(400)
@given(st.data())
def test_mutated_pipelines_are_valid_or_a_list_of_problems_and_valid_ones_run(data: st.DataObject) -> None:
    document = _mutate(data.draw(st.sampled_from(SEEDS), label="seed"), data)
    with _no_hang():
        loaded = _problems_or_plan(document)
        if loaded is None:
            return
        try:
            params = bind_arguments(loaded.plan, {})
        except ValueError:  # bind_arguments' own way to refuse arguments, with messages
            event("valid, arguments refused")
            return
        decision = Simulation(loaded.plan, params).run(limit=5_000)
    event(f"valid, ran: {decision.phase}")
    assert decision.phase in ("Succeeded", "Failed")


@_settings(150, fuzz_share=0.5)
@given(
    st.sampled_from(SEED_TEXTS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3), st.text(max_size=3)), min_size=1, max_size=4),
)
def test_corrupted_yaml_text_is_valid_or_a_list_of_problems(text: str, edits: list[tuple[int, int, str]]) -> None:
    for position, removed, inserted in edits:
        position %= len(text) + 1
        text = text[:position] + inserted + text[position + removed :]
    with tempfile.TemporaryDirectory() as directory, _no_hang():
        path = Path(directory) / "pipeline.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_pipeline_file(path)
            event("valid")
        except PipelineInvalid as invalid:
            assert invalid.issues
            event("invalid")


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_quietly(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return commands.main(argv)


NAME_PATHS = [("metadata", "name"), ("spec", "tasks", 0, "name"), ("spec", "tasks", 1, "arguments", "op")]


#: Absolute paths point inside the example's own folder, where an escape can be seen.
ESCAPES = ["@ROOT@", "@ROOT@/escaped", "@ROOT@/home/runs/../escaped", "@ROOT@/home"]


@_settings(12, fuzz_share=0.01)
@given(
    name=st.sampled_from(HOSTILE + ESCAPES) | st.text(min_size=1, max_size=80),
    where=st.sampled_from(NAME_PATHS),
    run_name=st.none() | st.sampled_from(HOSTILE + ESCAPES),
)
def test_hostile_names_never_escape_kubeline_home(name: str, where: tuple[Any, ...], run_name: str | None) -> None:
    with tempfile.TemporaryDirectory() as directory, _no_hang():
        root = Path(directory)
        name = name.replace("@ROOT@", directory)
        run_name = run_name.replace("@ROOT@", directory) if run_name is not None else None
        document = copy.deepcopy(SEEDS[0])
        parent = document
        for part in where[:-1]:
            parent = parent[part]
        parent[where[-1]] = name
        (root / "pipeline.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
        argv = [
            "run",
            str(root / "pipeline.yaml"),
            "--no-cache",
            *(["--name", run_name] if run_name is not None else []),
        ]
        with _environment(KUBELINE_HOME=str(root / "home")):
            status = _run_quietly(argv)
        event(f"exit {status}")
        assert status in (0, 1, 2)
        assert sorted(p.name for p in root.iterdir()) in (["pipeline.yaml"], ["home", "pipeline.yaml"])
