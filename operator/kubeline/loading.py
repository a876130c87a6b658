"""Reading Pipeline documents from files, with errors that say where the problem is."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubeline.api import models, yamlsafe
from kubeline.api.constants import API_VERSION
from kubeline.api.limits import MAX_INPUT_BYTES
from kubeline.api.names import name_problem, to_dns_label
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
    #: Prefix of that Run's fields in messages ("" when the Run holds the pipeline); None: no Run.
    run_label: str | None = None
    #: Every Run in the file (all of this pipeline), as (prefix, arguments); the first gives run_arguments.
    runs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def read_text(path: Path) -> str:
    """A user's file as text: a regular file of at most MAX_INPUT_BYTES, else PipelineInvalid saying why."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we can refuse it
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise PipelineInvalid([Issue(str(path), f"cannot read the file: {error.strerror}")]) from None
    try:
        kind = _file_kind(os.fstat(descriptor).st_mode)
        if kind:
            raise PipelineInvalid([Issue(str(path), f"is {kind}, not a regular file: give the path of a YAML file")])
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(MAX_INPUT_BYTES + 1)
    except OSError as error:
        raise PipelineInvalid([Issue(str(path), f"cannot read the file: {error.strerror}")]) from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_INPUT_BYTES:
        raise PipelineInvalid(
            [
                Issue(
                    str(path),
                    f"is larger than {MAX_INPUT_BYTES // 2**20} MiB, the most kubeline reads "
                    "(the Kubernetes API server takes at most 3 MiB per object)",
                )
            ]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PipelineInvalid([Issue(str(path), f"is not UTF-8 text (byte {error.start})")]) from None


def _file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "a special file")


def read_documents(path: Path) -> list[Any]:
    text = read_text(path)
    try:
        return [d for d in yamlsafe.load_all(text) if d is not None]
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
        run_issues = run_problems(document, "")
        if run_issues:
            raise PipelineInvalid(run_issues)
        spec_document, prefix = document["spec"].get("pipelineSpec"), "spec.pipelineSpec"
        if spec_document is None:
            raise PipelineInvalid(
                [Issue("spec", "this Run refers to a Pipeline by name; run the Pipeline's file instead")]
            )
    elif kind == "Pipeline":
        api_version = document.get("apiVersion")
        if api_version != API_VERSION:
            raise PipelineInvalid([Issue("apiVersion", f"must be {API_VERSION}, not {api_version!r}")])
        spec_document, prefix = document.get("spec"), "spec"
    else:
        hint = " (a KFP/Argo Workflow: convert it with `kubeline import`)" if kind == "Workflow" else ""
        raise PipelineInvalid([Issue("kind", f"expected Pipeline, found {kind!r}{hint}")])
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


def load_pipeline_file(path: Path, function: str | None = None) -> LoadedPipeline:
    """A pipeline from YAML, or from a Python file with ``@dsl.pipeline`` functions (compiled on the fly).

    Every Run in the file must be well formed; the one for the pipeline gives its arguments.
    """
    if path.suffix == ".py":
        from kubeline.sdk.loader import pipeline_document_from_python

        return pipeline_from_document(pipeline_document_from_python(path, function), path.stem)
    documents = read_documents(path)
    candidates = [d for d in documents if isinstance(d, dict) and d.get("kind") in ("Pipeline", "Run")]
    if not documents:
        raise PipelineInvalid([Issue(str(path), "the file holds no document")])
    pipelines = [d for d in candidates if d.get("kind") == "Pipeline"]
    _refuse_several_pipelines(path, pipelines + [d for d in candidates if d.get("kind") == "Run" and _inline_spec(d)])
    main = (pipelines or candidates or documents)[0]
    runs = [d for d in candidates if d.get("kind") == "Run" and d is not main]
    run_issues = [issue for run in runs for issue in run_problems(run, _run_label(run))]
    try:
        loaded = pipeline_from_document(main, path.stem)
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


def _refuse_several_pipelines(path: Path, pipelines: list[dict[str, Any]]) -> None:
    """kubeline runs or checks one pipeline a file: reading the first of several would ignore the others unsaid."""
    if len(pipelines) < 2:
        return
    names = ", ".join(_document_name(d) for d in pipelines)
    raise PipelineInvalid(
        [
            Issue(
                str(path),
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
    from kubeline.engine.run import bind_arguments

    issues = []
    for label, arguments in loaded.runs:
        try:
            bind_arguments(loaded.plan, arguments)
        except ValueError as error:
            issues += [Issue(f"{label}spec", line) for line in str(error).splitlines()]
    return issues
