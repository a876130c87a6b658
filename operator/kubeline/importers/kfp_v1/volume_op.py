"""KFP's VolumeOp, which its compiler writes as an Argo resource template creating a PersistentVolumeClaim, as a
pipeline volume (spec.volumes): the Run creates the claim before its first step.

The steps mounting it name the claim through the VolumeOp's outputs (``{{tasks.VOP.outputs.parameters.VOP-name}}``),
which become ``{{volumes.NAME.name}}`` (and ``.size``). The task running the template becomes no task: what waited
for it waits for the claim, which exists before any step starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from kubeline.api.names import to_dns_label, unique_label
from kubeline.engine.templates import substitute, whole_expression
from kubeline.engine.volumes import free_volume_name
from kubeline.importers.kfp_v1 import shapes
from kubeline.importers.kfp_v1.context import UNNAMED, Context
from kubeline.importers.kfp_v1.variables import INPUT, placeholder

#: The longest pipeline volume name (the API's limit, leaving room for the run's name in the claim's).
_MAX_NAME = 40
#: What a VolumeOp output reads from the claim (its jsonPath), as the volume placeholder giving the same.
_OUTPUTS = {"{.metadata.name}": "name", "{.status.capacity.storage}": "size"}
_PARAM = re.compile(r"^params\.(?P<name>.+)$")
_CLAIM_SPEC_FIELDS = {"accessModes", "resources", "storageClassName"}


def is_volume_op(template: dict[str, Any]) -> bool:
    return "resource" in template


def add_volume(context: Context, template: dict[str, Any], bindings: dict[str, str], path: str) -> None:
    """The pipeline volume of a VolumeOp's template, its inputs bound to what its task passes; an error when the
    resource template is not a VolumeOp's."""
    where = f"templates[{template['name']}].resource"
    resource = template["resource"] or {}
    manifest = _manifest(resource)
    if resource.get("action") != "create" or manifest is None:
        context.error(
            where,
            "only KFP's VolumeOp (action: create of a PersistentVolumeClaim) is supported among resource templates: "
            "create other objects before the run, or in a step",
        )
        return
    issues = shapes.problems(manifest, shapes.CLAIM, f"{where}.manifest")
    for issue in issues:
        context.error(issue.path, issue.message)
    if issues:
        return
    if template["name"] in context.volumes:
        context.warn(path, "runs a VolumeOp template already used: the run makes one volume for both")
        return
    resolve = _resolver(context, bindings, where)
    metadata, spec = manifest.get("metadata") or {}, manifest.get("spec") or {}
    for key in sorted(set(spec) - _CLAIM_SPEC_FIELDS):
        context.warn(f"{where}.manifest.spec.{key}", "not supported: dropped (the claim is made without it)")
    name = unique_label(
        free_volume_name(to_dns_label(template["name"], fallback=UNNAMED)[: _MAX_NAME - 4].strip("-") or UNNAMED),
        set(context.volumes.values()),
    )
    volume: dict[str, Any] = {"name": name}
    volume["size"] = resolve(str(((spec.get("resources") or {}).get("requests") or {}).get("storage", "")), "size")
    if spec.get("storageClassName"):
        volume["storageClassName"] = resolve(str(spec["storageClassName"]), "storageClassName")
    if spec.get("accessModes"):
        volume["accessModes"] = spec["accessModes"]
    claim = metadata.get("name")
    if isinstance(claim, str) and "{{" not in claim and not metadata.get("generateName"):
        volume["claimName"] = claim  # KFP's generate_unique_name=False: every run shares the claim
    if metadata.get("annotations"):
        volume["annotations"] = {str(k): str(v) for k, v in metadata["annotations"].items()}
    context.volumes[template["name"]] = name
    context.pipeline_volumes.append(volume)


def volume_output(context: Context, template: dict[str, Any], name: str, path: str) -> str:
    """``{{volumes.NAME.name}}`` or ``.size`` for an output of a VolumeOp; an error for its manifest."""
    declared = {o.get("name"): o for o in (template.get("outputs") or {}).get("parameters") or []}
    json_path = (declared.get(name, {}).get("valueFrom") or {}).get("jsonPath")
    volume = context.volumes.get(template["name"])
    if volume is None:  # the template was refused, with its error
        return ""
    if json_path not in _OUTPUTS:
        context.error(path, f"the VolumeOp's output {name!r} cannot be read: use its name or size")
        return ""
    return placeholder(f"volumes.{volume}.{_OUTPUTS[json_path]}")


def _manifest(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The PersistentVolumeClaim the template creates, or None when it creates something else."""
    try:
        manifest = yaml.safe_load(str(resource.get("manifest") or ""))
    except yaml.YAMLError:
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("kind") == "PersistentVolumeClaim" else None


def _resolver(context: Context, bindings: dict[str, str], path: str) -> Callable[[str, str], str]:
    """Resolves a claim field: the template's inputs to what they are bound to; a param stays one in the size
    (the run's argument gives it) and is its default elsewhere."""

    def resolve(text: str, field: str) -> str:
        where = f"{path}.manifest.spec.{field}"

        def variable(expression: str) -> str | None:
            match = INPUT.match(expression)
            if match and match["name"] in bindings:
                return bindings[match["name"]]
            context.error(where, f"{placeholder(expression)} cannot be translated")
            return None

        value = substitute(text, variable)
        expression = whole_expression(value)
        param = _PARAM.match(expression) if expression is not None else None
        if param and field == "size":  # kubeline takes a size from the run's argument, as KFP does
            return value
        if param and "default" in context.params.get(param["name"], {}):
            default = str(context.params[param["name"]]["default"])
            context.warn(
                where,
                f"the volume's {field} is param {param['name']}'s default, {default!r}: a run's argument does not change it",
            )
            return default
        if "{{" in value or not value:
            context.error(where, f"{value!r}: a volume's {field} must be known when the pipeline is imported")
        return value

    return resolve
