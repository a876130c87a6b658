"""Argo Workflows compiled by the KFP v1 SDK, translated into kubeline Pipelines.

Only the subset the KFP v1 compiler emits is translated: container templates become components (with their
pods' settings: env from Secrets and ConfigMaps, volumes, sidecars, init containers, labels…), DAG templates
become groups (conditions and loops, a loop read from loops nested in it naming its item), VolumeOp's resource
templates become pipeline volumes, Argo's ``{{...}}`` variables become kubeline placeholders. Two kinds of
problems are reported, each naming the template and field:

- warnings: a field kubeline does not carry over (a pod spec patch, container ports, an argument without a
  value…); the rest of the pipeline still means what the workflow meant, so the field is dropped (``strict``
  makes it an error);
- errors: something the pipeline depends on cannot be expressed (a resource template other than a VolumeOp, an
  unknown variable, a recursive graph component, a host path volume); no pipeline is produced.

Argo passes every value as text, so component inputs are strings; output and parameter types come from
the component and pipeline specs KFP stores in annotations. Literal file paths in commands (KFP's
``/tmp/outputs/x/data``) become ``{{outputs.x.path}}`` so that steps running side by side never share a
file. The whole package is pure: documents in, documents out.

The parts: ``workflow`` (the workflow's own fields, params, the exit handler), ``dag`` (DAG templates,
tasks, their arguments, loops, conditions and dependencies), ``components`` (container templates), ``pod``
(what a template adds to its pod), ``volume_op`` (VolumeOp), ``settings`` (resources, scheduling, retries,
timeouts, caching), ``variables`` (Argo's variable grammar), ``shapes`` (the field types checked before anything
is read), all sharing one ``context.Context``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.engine.plan import build, load_spec
from kubeline.importers.kfp_v1.workflow import translate


@dataclass
class ImportResult:
    pipeline: dict[str, Any]
    warnings: list[str]


def import_workflow(document: dict[str, Any], name: str | None = None, strict: bool = False) -> ImportResult:
    """The Pipeline for a KFP v1 compiled Workflow; PipelineInvalid lists what cannot be translated."""
    pipeline, context = translate(document, name)
    problems = context.errors + (context.warnings if strict else [])
    if problems:
        raise PipelineInvalid(problems)
    try:
        build(load_spec(pipeline["spec"]))
    except PipelineInvalid as invalid:  # a translation kubeline rejects: say it came from the import
        raise PipelineInvalid(
            [Issue(i.path, f"{i.message} (in the imported pipeline)") for i in invalid.issues]
        ) from None
    return ImportResult(pipeline, [str(w) for w in context.warnings])
