"""Whether a document can be parsed and checked at all: nesting within the limits, and text that UTF-8 can carry.

Checked first, without recursion: pydantic, json and the plan builder all recurse, so a document nested too
deep must be refused before they see it; lone surrogates (from whatever made the document: YAML, the SDK)
could never be written back out.
"""

from __future__ import annotations

from typing import Any

from kubeline.api.limits import MAX_GROUP_DEPTH, MAX_NESTING
from kubeline.api.problems import Issue
from kubeline.engine.values import surrogate_problem


def shape_problems(document: Any, prefix: str) -> list[Issue]:
    """Nesting beyond the limits, or text with lone surrogates; the rest of the document is not checked then."""
    stack: list[tuple[Any, str, int]] = [(document, prefix, 1)]
    not_text: list[Issue] = []
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_NESTING:
            return [Issue(path, f"mappings and lists nest deeper than {MAX_NESTING} levels here")]
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            child_path = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
            if isinstance(child, (dict, list)):
                stack.append((child, child_path, depth + 1))
            for text in (key, child):
                problem = surrogate_problem(text) if isinstance(text, str) else None
                if problem:
                    not_text.append(Issue(child_path, problem))
    if not_text:
        return not_text
    return _group_depth_problems(document.get("tasks"), f"{prefix}.tasks") if isinstance(document, dict) else []


def _group_depth_problems(tasks: Any, path: str) -> list[Issue]:
    stack: list[tuple[Any, str, int]] = [(tasks, path, 1)]
    while stack:
        tasks, path, depth = stack.pop()
        for index, task in enumerate(tasks if isinstance(tasks, list) else []):
            dag = task.get("dag") if isinstance(task, dict) else None
            if not isinstance(dag, dict):
                continue
            name = task.get("name")
            group = f"{path}[{name if isinstance(name, str) and name else index}].dag"
            if depth >= MAX_GROUP_DEPTH:
                return [Issue(group, f"groups (dag) nest more than {MAX_GROUP_DEPTH} deep; flatten the pipeline")]
            stack.append((dag.get("tasks"), f"{group}.tasks", depth + 1))
    return []
