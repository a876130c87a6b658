"""Problems in a pipeline or a run's input, each naming the field and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class Issue:
    path: str  # e.g. spec.tasks[multiply].arguments.a
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PipelineInvalid(ValueError):
    """All the problems found, so a user fixes them in one go."""

    def __init__(self, issues: Iterable[Issue]):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def pydantic_issues(error: Any, document: Any, prefix: str = "") -> list[Issue]:
    """Turn a pydantic ValidationError into issues whose paths use task names instead of list indexes."""
    issues = []
    for detail in error.errors():
        path, node = prefix, document
        for part in detail["loc"]:
            if isinstance(part, int):
                item = node[part] if isinstance(node, list) and part < len(node) else None
                name = item.get("name") if isinstance(item, dict) else None
                path += f"[{name}]" if isinstance(name, str) and name else f"[{part}]"
                node = item
            else:
                if part in ("function-after", "function-before", "json-or-python", "list", "dict") or "[" in str(part):
                    continue
                path += f".{part}" if path else str(part)
                node = node.get(part) if isinstance(node, dict) else None
        issues.append(Issue(path, _message(detail)))
    return issues


def _message(detail: dict[str, Any]) -> str:
    kind, message = detail["type"], detail["msg"]
    if kind == "extra_forbidden":
        return "unknown field (check its spelling; `kubectl explain` lists the fields)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return message.replace("Input should be", "must be")
    if message.startswith("Value error, "):
        return message[len("Value error, "):]
    return message[0].lower() + message[1:] if message else kind
