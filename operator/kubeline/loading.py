"""Reading Pipeline documents from files, with errors that say where the problem is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeline.api import models
from kubeline.engine.errors import Issue, PipelineInvalid
from kubeline.engine.plan import Plan, build, load_spec


@dataclass
class LoadedPipeline:
    name: str
    spec: models.PipelineSpec
    plan: Plan
    document: dict[str, Any]
    #: Arguments of a Run found with the pipeline (an inline pipelineSpec, or a pipelineRef to it).
    run_arguments: dict[str, Any] = field(default_factory=dict)


def read_documents(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineInvalid([Issue(str(path), f"cannot read the file: {error}")]) from None
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise PipelineInvalid([Issue(where, f"not valid YAML: {problem}")]) from None


def pipeline_from_document(document: Any, fallback_name: str) -> LoadedPipeline:
    """A Pipeline document (or a Run with an inline pipelineSpec), validated and planned."""
    if not isinstance(document, dict):
        raise PipelineInvalid([Issue("", "expected a Pipeline: a mapping with apiVersion, kind, metadata and spec")])
    kind = document.get("kind")
    if kind == "Run":
        spec_document = (document.get("spec") or {}).get("pipelineSpec")
        prefix = "spec.pipelineSpec"
        if spec_document is None:
            raise PipelineInvalid([Issue("spec", "this Run refers to a Pipeline by name; run the Pipeline's file instead")])
    elif kind == "Pipeline":
        api_version = document.get("apiVersion")
        if api_version != models.API_VERSION:
            raise PipelineInvalid([Issue("apiVersion", f"must be {models.API_VERSION}, not {api_version!r}")])
        spec_document, prefix = document.get("spec"), "spec"
    else:
        hint = " (a KFP/Argo Workflow: convert it with `kubeline import`)" if kind == "Workflow" else ""
        raise PipelineInvalid([Issue("kind", f"expected Pipeline, found {kind!r}{hint}")])
    spec = load_spec(spec_document, prefix)
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    name = metadata.get("name") or fallback_name
    return LoadedPipeline(str(name), spec, build(spec), document)


def load_pipeline_file(path: Path, function: str | None = None) -> LoadedPipeline:
    """A pipeline from YAML, or from a Python file with ``@dsl.pipeline`` functions (compiled on the fly)."""
    if path.suffix == ".py":
        from kubeline.sdk.loader import pipeline_document_from_python

        return pipeline_from_document(pipeline_document_from_python(path, function), path.stem)
    documents = read_documents(path)
    candidates = [d for d in documents if isinstance(d, dict) and d.get("kind") in ("Pipeline", "Run")]
    if not documents:
        raise PipelineInvalid([Issue(str(path), "the file holds no document")])
    pipelines = [d for d in candidates if d.get("kind") == "Pipeline"]
    loaded = pipeline_from_document((pipelines or candidates or documents)[0], path.stem)
    for run in (d for d in candidates if d.get("kind") == "Run"):
        spec = run.get("spec") if isinstance(run.get("spec"), dict) else {}
        ref = spec.get("pipelineRef") if isinstance(spec.get("pipelineRef"), dict) else {}
        if run is loaded.document or ref.get("name") == loaded.name:
            loaded.run_arguments = dict(spec.get("arguments") or {})
            break
    return loaded
