"""How long the UI takes to draw big pipelines: the graph model, the DOT text and Graphviz's SVG.

    PYTHONPATH=operator python benchmarks/ui_graph_bench.py

Prints seconds for a 1,000-task chain, a 1,000-task binary tree, and a 10,000-step loop's statuses sorted
onto its node.
"""

from __future__ import annotations

import time
from typing import Any

from kubeline.ui.graph import pipeline_graph
from kubeline.ui.layout import render, to_dot

COMPONENT = {
    "name": "op",
    "inputs": [{"name": "a", "type": "string", "optional": True}],
    "outputs": [{"name": "out", "type": "string"}],
    "container": {"image": "python:3.11", "command": ["op"], "args": ["{{inputs.a}}", "{{outputs.out.path}}"]},
}


def task(index: int, parent: int | None) -> dict[str, Any]:
    arguments = {"a": f"{{{{tasks.t{parent}.outputs.out}}}}"} if parent is not None else {}
    return {"name": f"t{index}", "component": "op", "arguments": arguments}


def measure(name: str, tasks: list[dict[str, Any]], statuses: dict[str, Any]) -> None:
    spec = {"components": [COMPONENT], "tasks": tasks}
    started = time.perf_counter()
    graph = pipeline_graph(spec, statuses)
    built = time.perf_counter()
    dot = to_dot(graph)
    dotted = time.perf_counter()
    svg = render(dot, "svg")
    drawn = time.perf_counter()
    render(dot, "svg")
    cached = time.perf_counter()
    print(
        f"{name}: graph {built - started:.3f}s, to_dot {dotted - built:.3f}s, dot -Tsvg {drawn - dotted:.3f}s "
        f"({len(svg) / 1e6:.1f} MB), again from the cache {cached - drawn:.6f}s"
    )


def main() -> None:
    chain = [task(0, None)] + [task(i, i - 1) for i in range(1, 1000)]
    measure("1,000-task chain", chain, {f"t{i}": {"phase": "Succeeded"} for i in range(1000)})
    tree = [task(0, None)] + [task(i, (i - 1) // 2) for i in range(1, 1000)]
    measure("1,000-task binary tree", tree, {f"t{i}": {"phase": "Running"} for i in range(1000)})
    loop = [task(0, None), {"name": "each", "component": "op", "forEach": list(range(10_000))}]
    statuses = {f"each[{i}]": {"phase": "Succeeded"} for i in range(10_000)}
    measure("10,000-step loop", loop, statuses)


if __name__ == "__main__":
    main()
