"""The graph as a page shows it: laid out once per spec, then coloured by a run's current phases.

Graphviz lays out the spec alone (no run's phases or counts in it), so a frozen spec has one layout, kept by
its digest however often its run changes; a run's phases are put on the kept SVG by replacing each node's
class and ``<title>`` (its tooltip), which is what the live stream updates in the browser too. A spec the
engine refuses, or a Graphviz that is missing or fails, gives a notice naming the problem instead of a
drawing: the rest of the page never depends on the graph.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from kubeline.api.problems import PipelineInvalid
from kubeline.ui.graph import Graph, Node, pipeline_graph, spec_digest
from kubeline.ui.layout import LayoutError, svg_for_page
from kubeline.ui.lru import LRU

#: Laid out specs kept (SVG text), by spec digest.
CACHED_LAYOUTS = 32
#: The order a node's counts are told in its tooltip.
COUNTED = ("Succeeded", "Running", "Failed", "Pending", "Skipped", "Cancelled")

#: A node's opening tag and its title, as Graphviz writes them: ``<g id="n3" class="node phase&#45;none">``.
_NODE = re.compile(r'<g id="(n\d+)" class="node[^"]*">\n<title>[^<]*</title>')


@dataclass(frozen=True)
class PageGraph:
    """A run's or pipeline's graph for a page: the SVG (or a notice in its place) and each node's state."""

    svg: Markup
    problem: str  # why there is no drawing; "" when there is one
    graph: Graph | None  # None when the spec is not valid

    def states(self) -> dict[str, dict[str, Any]]:
        return node_states(self.graph)


def node_class(node: Node) -> str:
    return f"node phase-{node.phase.lower() or 'none'}" + (" cached" if node.cached else "")


def node_title(node: Node) -> str:
    """A node's tooltip: its task and how its steps stand (``per-shard.train: 7/10 succeeded, 3 running``)."""
    total = sum(node.counts.values())
    if node.looped and total:
        parts = [f"{node.counts.get('Succeeded', 0)}/{total} succeeded"]
        parts += [f"{node.counts[p]} {p.lower()}" for p in COUNTED[1:] if node.counts.get(p)]
        state = ", ".join(parts)
    elif node.phase:
        state = node.phase.lower()
    else:
        state = "one step per item" if node.looped else ""
    cached = " (cached)" if node.cached else ""
    return f"{node.task}: {state}{cached}" if state else node.task


def node_states(graph: Graph | None) -> dict[str, dict[str, Any]]:
    """For the browser: each node's id -> its class, tooltip, phase, whether cached, counts and steps."""
    if graph is None:
        return {}
    return {
        node.id: {
            "task": node.task,
            "phase": node.phase,
            "cached": node.cached,
            "counts": node.counts,
            "className": node_class(node),
            "title": node_title(node),
            "steps": list(node.steps),
        }
        for node in graph.nodes
    }


_layouts: LRU[str] = LRU(CACHED_LAYOUTS)


def _layout(spec: Mapping[str, Any]) -> str:
    """The spec's SVG without any run's phases; kept by the spec's digest (the one copy of page SVGs kept).
    Blocks on Graphviz the first time."""
    return _layouts.get(spec_digest(spec), lambda: _natural_width(svg_for_page(pipeline_graph(spec))))


_VIEWBOX = re.compile(r'\A<svg\b[^>]*?\sviewBox="[-\d.]+ [-\d.]+ ([\d.]+) [\d.]+"')


def _natural_width(svg: str) -> str:
    """The SVG with its drawn width as a width attribute: CSS shrinks a wide graph to the pane (``max-width``)
    but does not blow a small one up to fill it."""
    found = _VIEWBOX.match(svg)
    return svg if found is None else f'<svg width="{found[1]}"' + svg[len("<svg") :]


def coloured(svg: str, graph: Graph) -> str:
    """The spec's SVG with each node's class and tooltip set from ``graph`` (the spec coloured by a run)."""
    nodes = {node.id: node for node in graph.nodes}

    def replace(match: re.Match[str]) -> str:
        node = nodes.get(match[1])
        if node is None:
            return match[0]
        return f'<g id="{node.id}" class="{node_class(node)}">\n<title>{escape(node_title(node))}</title>'

    return _NODE.sub(replace, svg)


def notice(problem: str) -> Markup:
    return Markup('<p class="notice graph-problem" id="graph-problem">') + escape(problem) + Markup("</p>")


def page_graph(spec: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]] | None = None) -> PageGraph:
    """The graph of ``spec`` coloured by a run's ``status.tasks`` (None: a pipeline without a run). Blocking
    (Graphviz, the first time a spec is drawn): call it from a thread in a server."""
    if not spec:
        return PageGraph(notice("The graph cannot be drawn: the run recorded no pipeline."), "no pipeline", None)
    try:
        graph = pipeline_graph(spec, tasks)
    except PipelineInvalid as invalid:
        problem = "the pipeline is not valid: " + "; ".join(str(issue) for issue in invalid.issues)
        return PageGraph(notice(f"The graph cannot be drawn: {problem}"), problem, None)
    try:
        svg = _layout(spec)
    except LayoutError as error:
        return PageGraph(notice(f"The graph cannot be drawn: {error}"), str(error), graph)
    return PageGraph(Markup(coloured(svg, graph)), "", graph)


def live_graph(spec: Mapping[str, Any], tasks: Mapping[str, Mapping[str, Any]]) -> Graph | None:
    """The spec coloured by the run's tasks for the live stream (no drawing); None when the spec is invalid."""
    try:
        return pipeline_graph(spec, tasks) if spec else None
    except PipelineInvalid:
        return None
