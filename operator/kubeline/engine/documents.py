"""The documents of a pipeline file (a Pipeline, or a Run with its own pipelineSpec, and the Runs beside it),
validated and planned, with problems that name the field. Reading the file is the caller's part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeline.api import models
from kubeline.api.constants import API_VERSION
from kubeline.api.names import name_problem, to_dns_label
from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.engine.plan import Plan, build, load_spec
from kubeline.engine.run import bind_arguments


@dataclass
class LoadedPipeline:
    name: str
    spec: models.PipelineSpec
    plan: Plan
    document: dict[str, Any]
    #: Arguments of a Run found with the pipeline (an inline pipelineSpec, or a pipelineRef to it).
    run_arguments: dict[str, Any] = field(default_factory=dict)
    #: Prefix of that Run's fields in messages ("" when the Run holds the pipeline); None: no Run.
    run_label: str | None = None
    #: Every Run in the file (all of this pipeline), as (prefix, arguments); the first gives run_arguments.
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def pipeline_from_document(document: Any, fallback_name: str) -> LoadedPipeline:
    """A Pipeline document (or a Run with an inline pipelineSpec), validated and planned."""
    if not isinstance(document, dict):
        raise PipelineInvalid([Issue("", "expected a Pipeline: a mapping with apiVersion, kind, metadata and spec")])
    spec_document, prefix = _spec_of(document)
    issues = _metadata_problems(document, "")
    try:
        spec = load_spec(spec_document, prefix)
        plan = build(spec)
    except PipelineInvalid as invalid:
        raise PipelineInvalid(issues + invalid.issues) from None
    if issues:
        raise PipelineInvalid(issues)
    name = (document.get("metadata") or {}).get("name") or to_dns_label(fallback_name)
    return LoadedPipeline(name, spec, plan, document)


def _spec_of(document: dict[str, Any]) -> tuple[Any, str]:
    """The pipeline spec a Pipeline or a Run holds, and the prefix of its fields in messages."""
    kind = document.get("kind")
    if kind == "Run":
        run_issues = run_problems(document, "")
        if run_issues:
            raise PipelineInvalid(run_issues)
        if document["spec"].get("pipelineSpec") is None:
            raise PipelineInvalid(
                [Issue("spec", "this Run refers to a Pipeline by name; run the Pipeline's file instead")]
            )
        return document["spec"]["pipelineSpec"], "spec.pipelineSpec"
    if kind == "Pipeline":
        api_version = document.get("apiVersion")
        if api_version != API_VERSION:
            raise PipelineInvalid([Issue("apiVersion", f"must be {API_VERSION}, not {api_version!r}")])
        return document.get("spec"), "spec"
    hint = " (a KFP/Argo Workflow: convert it with `kubeline import`)" if kind == "Workflow" else ""
    raise PipelineInvalid([Issue("kind", f"expected Pipeline, found {kind!r}{hint}")])


def _metadata_problems(document: dict[str, Any], prefix: str) -> list[Issue]:
    """A Pipeline's or Run's name becomes a label value, a pod name part and a folder: it must be a DNS label."""
    metadata = document.get("metadata")
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return [Issue(f"{prefix}metadata", "must be a mapping, e.g. {name: my-pipeline}")]
    name = metadata.get("name")
    problem = name_problem(name) if name is not None else None
    return [Issue(f"{prefix}metadata.name", problem)] if problem else []


def run_problems(run: dict[str, Any], prefix: str) -> list[Issue]:
    """The shape of a Run document that kubeline reads before its pipeline: apiVersion, name, spec and arguments."""
    issues = _metadata_problems(run, prefix)
    if run.get("apiVersion") != API_VERSION:
        issues.append(Issue(f"{prefix}apiVersion", f"must be {API_VERSION}, not {run.get('apiVersion')!r}"))
    spec = run.get("spec")
    if not isinstance(spec, dict):
        return [*issues, Issue(f"{prefix}spec", "must be a mapping with pipelineRef (or pipelineSpec) and arguments")]
    if ("pipelineRef" in spec) == ("pipelineSpec" in spec):
        issues.append(Issue(f"{prefix}spec", "set exactly one of pipelineRef and pipelineSpec"))
    ref = spec.get("pipelineRef")
    if "pipelineRef" in spec and not (isinstance(ref, dict) and isinstance(ref.get("name"), str) and ref["name"]):
        issues.append(
            Issue(f"{prefix}spec.pipelineRef", "must be a mapping with the Pipeline's name, e.g. {name: my-pipeline}")
        )
    if "arguments" in spec and not isinstance(spec["arguments"], dict):
        issues.append(Issue(f"{prefix}spec.arguments", "must be a mapping of parameter names to values"))
    return issues


def pipeline_from_documents(documents: list[Any], source: str, fallback_name: str) -> LoadedPipeline:
    """The one pipeline of a file's documents (``source`` names the file in messages).

    Every Run in the file must be well formed; the one for the pipeline gives its arguments.
    """
    if not documents:
        raise PipelineInvalid([Issue(source, "the file holds no document")])
    candidates = [d for d in documents if isinstance(d, dict) and d.get("kind") in ("Pipeline", "Run")]
    pipelines = [d for d in candidates if d.get("kind") == "Pipeline"]
    _refuse_several_pipelines(source, pipelines + [d for d in candidates if d.get("kind") == "Run" and _inline_spec(d)])
    main = (pipelines or candidates or documents)[0]
    runs = [d for d in candidates if d.get("kind") == "Run" and d is not main]
    run_issues = [issue for run in runs for issue in run_problems(run, _run_label(run))]
    try:
        loaded = pipeline_from_document(main, fallback_name)
    except PipelineInvalid as invalid:
        raise PipelineInvalid(invalid.issues + run_issues) from None
    run_issues += [issue for run in runs for issue in _reference_problems(run, loaded.name)]
    if run_issues:
        raise PipelineInvalid(run_issues)
    loaded.runs = [
        ("" if run is main else _run_label(run), dict(run["spec"].get("arguments") or {}))
        for run in ([main, *runs] if main.get("kind") == "Run" else runs)
    ]
    if loaded.runs:
        loaded.run_label, loaded.run_arguments = loaded.runs[0]
    return loaded


def _inline_spec(run: dict[str, Any]) -> bool:
    spec = run.get("spec")
    return isinstance(spec, dict) and "pipelineSpec" in spec


def _refuse_several_pipelines(source: str, pipelines: list[dict[str, Any]]) -> None:
    """kubeline runs or checks one pipeline a file: reading the first of several would ignore the others unsaid."""
    if len(pipelines) < 2:
        return
    names = ", ".join(_document_name(d) for d in pipelines)
    raise PipelineInvalid(
        [
            Issue(
                source,
                f"holds {len(pipelines)} pipelines ({names}), and kubeline reads one a file "
                "(a Pipeline, or a Run with its own pipelineSpec): put each in a file of its own",
            )
        ]
    )


def _document_name(document: dict[str, Any]) -> str:
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"{document.get('kind')} {name!r}" if isinstance(name, str) else f"a {document.get('kind')} without a name"


def _reference_problems(run: dict[str, Any], pipeline: str) -> list[Issue]:
    """A Run beside the pipeline must be of it: its arguments are checked against that pipeline."""
    ref = run["spec"].get("pipelineRef")
    if not isinstance(ref, dict) or ref.get("name") == pipeline:
        return []
    return [
        Issue(
            f"{_run_label(run)}spec.pipelineRef.name",
            (
                f"no Pipeline {ref.get('name')!r} in this file (it holds {pipeline!r}): refer to that one, or keep this "
                "Run in a file of its own"
            ),
        )
    ]


def _run_label(run: dict[str, Any]) -> str:
    """How problems in a Run beside the pipeline are prefixed: ``Run[my-run].``."""
    metadata = run.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f"Run[{name}]." if isinstance(name, str) and name else "Run."


def run_argument_problems(loaded: LoadedPipeline) -> list[Issue]:
    """What is wrong with the arguments of the Runs found with the pipeline (unknown, missing, mistyped)."""
    issues = []
    for label, arguments in loaded.runs:
        try:
            bind_arguments(loaded.plan, arguments)
        except ValueError as error:
            issues += [Issue(f"{label}spec", line) for line in str(error).splitlines()]
    return issues
