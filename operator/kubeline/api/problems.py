"""Problems in a user's input (a pipeline, a run's arguments, a file), each naming the field and how to fix it.

Every layer reports them the same way, and the command prints them (exit status 2): the API's file readers,
the engine's validation, the SDK and the importer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    path: str  # e.g. spec.tasks[multiply].arguments.a
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PipelineInvalid(ValueError):
    """All the problems found, so a user fixes them in one go; each problem once."""

    def __init__(self, issues: Iterable[Issue]):
        self.issues = list(dict.fromkeys(issues))
        super().__init__("\n".join(str(issue) for issue in self.issues))
