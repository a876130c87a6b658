"""A Graph drawn by Graphviz: DOT text (deterministic), then SVG or PNG from the ``dot`` program.

Nodes carry ``id="n0"`` and ``class="phase-running cached"`` (Graphviz adds ``node`` before it; ``phase-none``
without a run), so the browser
recolours a live run by changing classes; fill colours are in the DOT too, so a saved SVG or PNG reads without
CSS. User text (names, display names, when-expressions) only ever appears in quoted DOT strings, escaped; the
SVG output escapes it again for XML, so a name such as ``<script>`` stays text.

Layouts are cached by the DOT text's digest: drawing the same graph again costs nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Literal

from kubeline.ui.graph import Edge, Graph, Group, Node

Format = Literal["svg", "png"]

#: Seconds one run of ``dot`` may take (a 1,000-task pipeline takes about a second).
DOT_TIMEOUT = 60.0

INSTALL_HINT = "install Graphviz: apt-get install graphviz / brew install graphviz / https://graphviz.org/download"

#: Fill colours by phase, readable without the page's CSS.
PHASE_FILL = {
    "": "#ffffff",
    "Pending": "#eeeeee",
    "Running": "#bbdefb",
    "Succeeded": "#c8e6c9",
    "Failed": "#ffcdd2",
    "Skipped": "#f5f5f5",
    "Cancelled": "#ffe0b2",
}
_GROUP_STYLE = {
    "condition": 'style="rounded,dashed" color="#8d6e63"',
    "loop": 'style="rounded" color="#5c6bc0"',
    "dag": 'style="rounded" color="#9e9e9e"',
    "exit": 'style="rounded,dotted" color="#757575"',
}
_GROUP_MARK = {"condition": "if", "loop": "loop", "dag": "group", "exit": "exit handler"}
_SYMBOL = {"Succeeded": "✓", "Failed": "✗", "Running": "▶", "Skipped": "–", "Cancelled": "■", "Pending": "…"}


class LayoutError(RuntimeError):
    """Graphviz could not draw the graph."""


class LayoutUnavailable(LayoutError):
    """Graphviz's ``dot`` is not installed."""


def to_dot(graph: Graph) -> str:
    """The graph as DOT text: the same graph always gives the same text."""
    lines = [
        "digraph pipeline {",
        '  graph [rankdir=TB compound=true nodesep=0.3 ranksep=0.5 fontname="Helvetica,Arial,sans-serif" fontsize=11]',
        '  node [shape=box style="rounded,filled" fontname="Helvetica,Arial,sans-serif" fontsize=11 color="#616161" '
        "height=0.4]",
        '  edge [color="#757575" arrowsize=0.7]',
    ]
    children: dict[str | None, list[Group]] = {}
    for group in graph.groups:
        children.setdefault(group.parent, []).append(group)
    members: dict[str | None, list[Node]] = {}
    for node in graph.nodes:
        members.setdefault(node.group, []).append(node)

    def emit(parent: str | None, indent: str) -> None:
        for group in children.get(parent, []):
            lines.append(f"{indent}subgraph cluster_{group.id} {{")
            lines.append(f"{indent}  id={quote(group.id)} class={quote('group group-' + group.kind)}")
            lines.append(f"{indent}  label={quote(_group_label(group))} {_GROUP_STYLE[group.kind]}")
            emit(group.id, indent + "  ")
            lines.append(f"{indent}}}")
        for node in members.get(parent, []):
            lines.append(f"{indent}{_node_line(node)}")

    emit(None, "  ")
    lines.extend(f"  {_edge_line(edge, graph)}" for edge in graph.edges)
    lines.extend(f"  {line}" for line in _exit_below(graph))
    lines.append("}")
    return "\n".join(lines) + "\n"


def quote(text: str) -> str:
    """``text`` as a quoted DOT string showing exactly that text: backslashes and quotes escaped, ``&`` written
    as an entity (Graphviz reads entities in labels), line breaks as DOT's ``\\n``, other control characters
    as spaces."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    escaped = escaped.replace("\r\n", "\n").replace("\n", "\\n")
    return '"' + re.sub(r"[\x00-\x1f\x7f]", " ", escaped) + '"'


def _group_label(group: Group) -> str:
    title = f"{_GROUP_MARK[group.kind]} {group.label}" if group.label else _GROUP_MARK[group.kind]
    return f"{title}\n{group.detail}" if group.detail else title


def node_label(node: Node) -> str:
    """The node's text: its name, and for a loop's node how many of its steps are done (``7/10 ✓``) or ``×10``."""
    lines = [node.label]
    total = sum(node.counts.values())
    if node.looped and total:
        done = node.counts.get("Succeeded", 0)
        lines.append(
            f"{done}/{total} ✓" + "".join(f"  {node.counts[p]} {_SYMBOL[p]}" for p in _NOTED if node.counts.get(p))
        )
    elif node.looped:
        lines.append(f"×{node.instances}" if node.instances is not None else "× each item")
    if node.cached:
        lines.append("(cached)")
    return "\n".join(lines)


#: Besides done/total, the phases a loop node's label counts.
_NOTED = ("Running", "Failed", "Skipped", "Cancelled")


def _node_line(node: Node) -> str:
    classes = f"phase-{node.phase.lower() or 'none'}" + (" cached" if node.cached else "")
    border = " penwidth=2" if node.cached else ""
    looped = " peripheries=2" if node.looped else ""
    return (
        f"{node.id} [id={quote(node.id)} class={quote(classes)} label={quote(node_label(node))} "
        f'fillcolor="{PHASE_FILL.get(node.phase, "#ffffff")}"{border}{looped}]'
    )


def _edge_line(edge: Edge, graph: Graph) -> str:
    """An edge; an end that is a group is drawn to the group's box (a cluster edge through one of its nodes)."""
    attributes = [f"class={quote('dep-' + edge.kind)}"]
    if edge.kind == "after":
        attributes.append("style=dashed")
    source, target = edge.source, edge.target
    if source.startswith("g"):
        attributes.append(f"ltail=cluster_{source}")
        source = _member(graph, source, last=True)
    if target.startswith("g"):
        attributes.append(f"lhead=cluster_{target}")
        target = _member(graph, target, last=False)
    return f"{source} -> {target} [{' '.join(attributes)}]"


def _exit_below(graph: Graph) -> list[str]:
    """Invisible edges from the DAG's last nodes to the exit handler, so that it is drawn below them."""
    exits = [node.id for node in graph.nodes if node.kind == "exit"]
    sources = {edge.source for edge in graph.edges}
    last = [node.id for node in graph.nodes if node.kind != "exit" and node.id not in sources]
    return [f"{source} -> {target} [style=invis]" for target in exits for source in last]


def _member(graph: Graph, group_id: str, last: bool) -> str:
    """A node inside the group (at any depth): its first for an edge in, its last for an edge out."""
    inside = {group_id}
    for group in graph.groups:  # parents come before their children
        if group.parent in inside:
            inside.add(group.id)
    found = [node.id for node in graph.nodes if node.group in inside]
    return found[-1] if last else found[0]


def render(dot_text: str, fmt: Format) -> bytes:
    """The drawing of ``dot_text`` by Graphviz's ``dot``; LayoutUnavailable when it is not installed, LayoutError
    when it fails. Blocks (a subprocess): call it from a thread in a server. Not kept: the pages keep their
    SVG (pagegraph), `kubeline graph` draws once."""
    program = shutil.which("dot")
    if program is None:
        raise LayoutUnavailable(f"Graphviz's dot program was not found on PATH: {INSTALL_HINT}")
    try:
        done = subprocess.run(
            [program, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=DOT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise LayoutError(f"Graphviz's dot took over {DOT_TIMEOUT:.0f}s to lay out the graph") from None
    except OSError as error:
        raise LayoutUnavailable(f"cannot run {program}: {error.strerror or error}; {INSTALL_HINT}") from None
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise LayoutError(f"Graphviz's dot failed: {reason}")
    return done.stdout


_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')


def svg_for_page(graph: Graph) -> str:
    """The graph's SVG to embed in a page: no XML prolog, doctype or comments, and no width and height on the
    root (its viewBox stays, so CSS sizes it)."""
    svg = render(to_dot(graph), "svg").decode()
    svg = _PROLOG.sub("", svg, count=1)
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)
    root_end = svg.index(">")
    return _SIZE.sub("", svg[:root_end]) + svg[root_end:]
