"""Generate the CustomResourceDefinitions from the API models.

Kubernetes wants *structural* schemas: every field typed, no ``$ref``, no ``additionalProperties: false``,
no recursion, ``x-kubernetes-*`` markers for free-form values. Pydantic's JSON schema is converted here;
``crds/`` holds the output, and a unit test fails when it drifts from the models.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from kubeline.api import models
from kubeline.api.constants import GROUP, VERSION
from kubeline.api.names import DNS_LABEL, MAX_LABEL, RULE

#: Groups may nest this deep in the CRD schema; deeper groups are checked by kubeline itself.
MAX_SCHEMA_GROUP_DEPTH = 4
#: CEL rules of tasks apply to top-level tasks and their groups' tasks (the API server bounds rule cost).
MAX_CEL_GROUP_DEPTH = 2

_DROP = {"title", "default", "additionalProperties"}


def _structural(
    schema: dict[str, Any], defs: dict[str, Any], depth: dict[str, int], partial: bool = False
) -> dict[str, Any]:
    """Inline refs and turn JSON-schema idioms into their structural equivalents.

    ``partial`` marks the annotations beside an ``anyOf`` (description, extras): they get no type of their own.
    """
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if depth.get(name, 0) >= MAX_SCHEMA_GROUP_DEPTH:
            stub: dict[str, Any] = {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "description": "Nested deeper than the schema spells out; validated by kubeline.",
            }
            if "name" in defs[name].get("properties", {}):  # list-map keys must stay declared
                stub.update(properties={"name": {"type": "string"}}, required=["name"])
            return stub
        inner = {**depth, name: depth.get(name, 0) + 1}
        resolved = _structural(copy.deepcopy(defs[name]), defs, inner)
        if inner[name] > MAX_CEL_GROUP_DEPTH:
            # CEL cost estimates multiply across nested lists: deeper rules are checked by kubeline
            resolved.pop("x-kubernetes-validations", None)
        for key in ("description",):
            if key in schema:
                resolved[key] = schema[key]
        return resolved

    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(branches) == 1:
            merged = _structural(branches[0], defs, depth)
            return {**merged, **_structural(rest, defs, depth, partial=True)} if rest else merged
        types = {b.get("type") for b in branches}
        marker = (
            "x-kubernetes-int-or-string"
            if types <= {"integer", "number", "string"}
            else "x-kubernetes-preserve-unknown-fields"
        )
        return {**_structural(rest, defs, depth, partial=True), marker: True}

    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {k: _structural(v, defs, depth) for k, v in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs, depth)
        else:
            out[key] = value

    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out["additionalProperties"] = _structural(extra, defs, depth)
        out.setdefault("type", "object")

    if partial:
        return out
    if not any(k in out for k in ("type", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string")):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def schema_of(model: type[models.Model]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
    defs = raw.pop("$defs", {})
    return _structural(raw, defs, {})


#: A Pipeline's and a Run's name become label values and pod name parts: the API server checks the rule of
#: api/names.py too (CEL may read metadata.name at the root of a schema).
_NAME_RULES = [
    {"rule": f"self.metadata.name.size() <= {MAX_LABEL}", "message": f"metadata.name: at most {MAX_LABEL} characters"},
    {"rule": f"self.metadata.name.matches('{DNS_LABEL}')", "message": f"metadata.name: use {RULE}"},
]


def _crd(
    kind: str,
    plural: str,
    short: str,
    model: type[models.Model],
    description: str,
    columns: list[dict[str, Any]],
    status: type[models.Model] | None,
    named: bool = True,
) -> dict[str, Any]:
    spec_model = model.model_fields["spec"].annotation
    assert isinstance(spec_model, type) and issubclass(spec_model, models.Model), "spec must be a model"
    spec_schema = schema_of(spec_model)
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": spec_schema,
    }
    if status is not None:
        properties["status"] = schema_of(status)
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": properties,
    }
    if named:
        root["x-kubernetes-validations"] = _NAME_RULES
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": root},
        "additionalPrinterColumns": columns,
    }
    if status is not None:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": ["kubeline"],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def _age() -> dict[str, Any]:
    return {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def crds() -> dict[str, dict[str, Any]]:
    """The CRDs by file name."""
    return {
        "kubeline.dev_pipelines.yaml": _crd(
            "Pipeline",
            "pipelines",
            "klp",
            models.Pipeline,
            "A pipeline: components and the DAG of tasks that run them. Runs refer to it by name.",
            [
                {"name": "Description", "type": "string", "jsonPath": ".spec.description", "priority": 1},
                _age(),
            ],
            status=None,
        ),
        "kubeline.dev_runs.yaml": _crd(
            "Run",
            "runs",
            "klr",
            models.Run,
            "An execution of a pipeline with its arguments; the operator starts one pod per step.",
            [
                {"name": "Pipeline", "type": "string", "jsonPath": ".spec.pipelineRef.name"},
                {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                {"name": "Progress", "type": "string", "jsonPath": ".status.progressText"},
                {"name": "Duration", "type": "string", "jsonPath": ".status.duration"},
                _age(),
                {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
            ],
            status=models.RunStatus,
        ),
        "kubeline.dev_cacheentries.yaml": _crd(
            "CacheEntry",
            "cacheentries",
            "klc",
            models.CacheEntry,
            "A cached step result; delete it to make the next run compute the step again.",
            [
                {"name": "Component", "type": "string", "jsonPath": ".spec.component"},
                {"name": "Created", "type": "string", "jsonPath": ".spec.createdAt"},
                _age(),
            ],
            status=None,
            named=False,  # named by their key digest, not by a user
        ),
        "kubeline.dev_runrecords.yaml": _crd(
            "RunRecord",
            "runrecords",
            "klrec",
            models.RunRecord,
            "Finished steps of a large Run, moved out of its status (the Run owns it; kubeline get RUN reads it).",
            [
                {"name": "Run", "type": "string", "jsonPath": ".spec.run"},
                _age(),
            ],
            status=None,
            named=False,  # named after their Run by the operator
        ),
        "kubeline.dev_recurringruns.yaml": _crd(
            "RecurringRun",
            "recurringruns",
            "klrr",
            models.RecurringRun,
            "Runs of a pipeline made on a schedule: a cron expression or an interval.",
            [
                {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule.cron"},
                {"name": "Interval", "type": "string", "jsonPath": ".spec.schedule.interval", "priority": 1},
                {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
                {"name": "Last", "type": "date", "jsonPath": ".status.lastScheduleTime"},
                {"name": "Next", "type": "string", "jsonPath": ".status.nextScheduleTime"},
                {"name": "Last-Run", "type": "string", "jsonPath": ".status.lastRun", "priority": 1},
                _age(),
                {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
            ],
            status=models.RecurringRunStatus,
        ),
        "kubeline.dev_queues.yaml": _crd(
            "Queue",
            "queues",
            "klq",
            models.Queue,
            "A limit on how many Runs naming this queue run at once; the others wait, in priority order.",
            [
                {"name": "Max", "type": "integer", "jsonPath": ".spec.maxRunning"},
                {"name": "Running", "type": "integer", "jsonPath": ".status.runningCount"},
                {"name": "Waiting", "type": "integer", "jsonPath": ".status.waitingCount"},
                _age(),
            ],
            status=models.QueueStatus,
        ),
    }


def render(crd: dict[str, Any]) -> str:
    header = "# Generated from operator/kubeline/api/models.py by `kubeline crds --write crds/`. Do not edit.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)
