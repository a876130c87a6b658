"""What every part of the translation shares: the workflow read, the problems found, what is built so far."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubeline.api.problems import Issue
from kubeline.importers.kfp_v1 import shapes

if TYPE_CHECKING:
    from kubeline.importers.kfp_v1.components import Component

#: The prefix of the labels and annotations KFP writes (specs, caching, the SDK version).
KFP_PREFIX = "pipelines.kubeflow.org/"
#: The name of a template, task or input whose Argo name has no letter or digit.
UNNAMED = "x"


@dataclass
class Context:
    """The workflow being translated, the problems found and the parts built so far, passed to every step."""

    spec: dict[str, Any]
    templates: dict[str, dict[str, Any]]  # by name
    #: (template, output artifact) pairs some task takes as an input artifact: these stay files
    read_as_files: set[tuple[str, str]] = field(default_factory=set)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    components: dict[str, Component] = field(default_factory=dict)  # by template name
    volumes: dict[str, str] = field(default_factory=dict)  # VolumeOp template name -> pipeline volume name
    pipeline_volumes: list[dict[str, Any]] = field(default_factory=list)  # spec.volumes
    #: the DAG templates being translated, outermost first: a template met again is a recursion
    expanding: list[str] = field(default_factory=list)
    #: group outputs being resolved (template, kind, name): one met again refers to itself
    resolving: list[tuple[str, str, str]] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(Issue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Issue(path, message))

    def kfp_spec(self, metadata: Any, key: str, shape: shapes.Mapping, path: str) -> dict[str, Any]:
        """A spec KFP keeps in an annotation (types, descriptions); one of the wrong shape is ignored, with a warning."""
        value = _json_annotation(metadata, KFP_PREFIX + key)
        if value is None:
            return {}
        issues = shapes.problems(value, shape, f"{path}.metadata.annotations.{KFP_PREFIX}{key}")
        for issue in issues:
            self.warn(issue.path, f"{issue.message}: the annotation is ignored")
        return value if isinstance(value, dict) and not issues else {}


def _json_annotation(metadata: Any, key: str) -> Any:
    """The JSON KFP stores in an annotation, or None when absent or not JSON."""
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = (annotations or {}).get(key)
    try:
        return json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return None
