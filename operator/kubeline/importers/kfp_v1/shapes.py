"""The shape of the Argo Workflow fields the KFP v1 importer reads, checked before it reads them.

A workflow is user input: any field may hold a list where a name belongs, a number where a mapping
belongs, or null. Rather than guard every access, the importer checks the document once against
this description of what it reads and reports every field of the wrong type by its path; the
translation then runs on a document of the right shape. Fields not described here are not read
(the importer only lists them in warnings), so they may hold anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeline.api.problems import Issue

#: Text, a number or a boolean: Argo passes every value as text, so any of them is read as text.
SCALAR = "scalar"
TEXT = "text"
ANY = "any"


@dataclass(frozen=True)
class Mapping:
    fields: dict[str, Any] = field(default_factory=dict)  # known keys -> their shape
    values: Any = ANY  # the shape of every value of a free-form mapping (labels, resources)
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListOf:
    item: Any


_SCALARS = Mapping(values=SCALAR)
_METADATA = Mapping({"name": TEXT, "generateName": TEXT, "labels": _SCALARS, "annotations": _SCALARS})
_TOLERATIONS = ListOf(Mapping(values=ANY))
_NAMED = ("name",)
_KEY_REF = Mapping({"name": TEXT, "key": TEXT})
_ENV = ListOf(
    Mapping(
        {
            "name": TEXT,
            "value": SCALAR,
            "valueFrom": Mapping(
                {"secretKeyRef": _KEY_REF, "configMapKeyRef": _KEY_REF, "fieldRef": Mapping({"fieldPath": TEXT})}
            ),
        },
        required=_NAMED,
    )
)
_MOUNTS = ListOf(Mapping({"name": TEXT, "mountPath": TEXT}, required=_NAMED))
_CONTAINER_FIELDS = {
    "image": TEXT,
    "command": ListOf(SCALAR),
    "args": ListOf(SCALAR),
    "workingDir": TEXT,
    "imagePullPolicy": TEXT,
    "env": _ENV,
    "envFrom": ListOf(Mapping(values=ANY)),
    "volumeMounts": _MOUNTS,
    "securityContext": Mapping(values=ANY),
    "resources": Mapping({"limits": _SCALARS, "requests": _SCALARS}),
}
_VOLUMES = ListOf(Mapping({"name": TEXT, "persistentVolumeClaim": Mapping({"claimName": SCALAR})}, required=_NAMED))
_SIDE_CONTAINERS = ListOf(Mapping({"name": TEXT, **_CONTAINER_FIELDS}, required=_NAMED))
_TEMPLATE = Mapping(
    {
        "name": TEXT,
        "metadata": Mapping({"labels": _SCALARS, "annotations": _SCALARS}),
        "container": Mapping(_CONTAINER_FIELDS),
        "volumes": _VOLUMES,
        "sidecars": _SIDE_CONTAINERS,
        "initContainers": _SIDE_CONTAINERS,
        "resource": Mapping({"action": TEXT, "manifest": TEXT}),
        "dag": Mapping(
            {
                "tasks": ListOf(
                    Mapping(
                        {
                            "name": TEXT,
                            "template": TEXT,
                            "dependencies": ListOf(TEXT),
                            "depends": SCALAR,
                            "when": SCALAR,
                            "withParam": SCALAR,
                            "arguments": Mapping(
                                {
                                    "parameters": ListOf(Mapping({"name": TEXT, "value": SCALAR}, required=_NAMED)),
                                    "artifacts": ListOf(
                                        Mapping(
                                            {"name": TEXT, "from": SCALAR, "raw": Mapping({"data": SCALAR})},
                                            required=_NAMED,
                                        )
                                    ),
                                }
                            ),
                        },
                        required=_NAMED,
                    )
                )
            }
        ),
        "inputs": Mapping(
            {
                "parameters": ListOf(
                    Mapping({"name": TEXT, "value": SCALAR, "default": SCALAR, "description": SCALAR}, required=_NAMED)
                ),
                "artifacts": ListOf(
                    Mapping(
                        {"name": TEXT, "path": TEXT, "raw": Mapping({"data": SCALAR}), "optional": SCALAR},
                        required=_NAMED,
                    )
                ),
            }
        ),
        "outputs": Mapping(
            {
                "parameters": ListOf(
                    Mapping(
                        {"name": TEXT, "valueFrom": Mapping({"path": TEXT, "parameter": SCALAR, "jsonPath": TEXT})},
                        required=_NAMED,
                    )
                ),
                "artifacts": ListOf(Mapping({"name": TEXT, "path": TEXT, "from": SCALAR}, required=_NAMED)),
            }
        ),
        "nodeSelector": _SCALARS,
        "tolerations": _TOLERATIONS,
        "activeDeadlineSeconds": SCALAR,
        "parallelism": SCALAR,
        "retryStrategy": Mapping(
            {
                "limit": SCALAR,
                "retryPolicy": SCALAR,
                "backoff": Mapping({"duration": SCALAR, "factor": SCALAR, "maxDuration": SCALAR}),
            }
        ),
    },
    required=_NAMED,
)

WORKFLOW = Mapping(
    {
        "apiVersion": TEXT,
        "kind": TEXT,
        "metadata": _METADATA,
        "spec": Mapping(
            {
                "entrypoint": TEXT,
                "onExit": TEXT,
                "serviceAccountName": TEXT,
                "templates": ListOf(_TEMPLATE),
                "volumes": _VOLUMES,
                "arguments": Mapping(
                    {
                        "parameters": ListOf(
                            Mapping({"name": SCALAR, "value": SCALAR, "default": SCALAR, "description": SCALAR})
                        )
                    }
                ),
                "nodeSelector": _SCALARS,
                "tolerations": _TOLERATIONS,
                "parallelism": SCALAR,
                "activeDeadlineSeconds": SCALAR,
                "imagePullSecrets": ListOf(Mapping({"name": SCALAR})),
                "ttlStrategy": Mapping({"secondsAfterCompletion": SCALAR}),
                "ttlSecondsAfterFinished": SCALAR,
            }
        ),
    },
    required=("spec",),
)

#: The JSON KFP stores in annotations: the pipeline's and each component's spec.
PIPELINE_SPEC = Mapping(
    {"name": TEXT, "description": TEXT, "inputs": ListOf(Mapping({"name": TEXT, "description": TEXT}))}
)
#: The PersistentVolumeClaim a VolumeOp's resource template creates (its manifest, parsed).
CLAIM = Mapping(
    {
        "kind": TEXT,
        "metadata": Mapping({"name": TEXT, "generateName": TEXT, "annotations": _SCALARS}),
        "spec": Mapping(
            {
                "accessModes": ListOf(TEXT),
                "storageClassName": SCALAR,
                "resources": Mapping({"requests": Mapping({"storage": SCALAR})}),
            }
        ),
    }
)
COMPONENT_SPEC = Mapping({"description": TEXT, "outputs": ListOf(Mapping({"name": TEXT}))})


def problems(value: Any, shape: Any, path: str = "") -> list[Issue]:
    """Every field of ``value`` that does not have the ``shape`` described, by its path."""
    issues: list[Issue] = []
    _check(value, shape, path, issues)
    return issues


def _check(value: Any, shape: Any, path: str, issues: list[Issue], may_be_null: bool = True) -> None:
    if shape == ANY or (value is None and may_be_null):  # a null field is absent; its mapping checks required ones
        return
    expected = _mismatch(value, shape)
    if expected:
        issues.append(Issue(path or "(the document)", f"must be {expected}, not {_kind(value)}"))
    elif isinstance(shape, Mapping):
        _check_mapping(value, shape, path, issues)
    elif isinstance(shape, ListOf):
        for index, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            _check(item, shape.item, f"{path}[{name if isinstance(name, str) and name else index}]", issues, False)


def _check_mapping(value: dict[Any, Any], shape: Mapping, path: str, issues: list[Issue]) -> None:
    for key in shape.required:
        if value.get(key) is None:
            issues.append(Issue(_join(path, key), "required field is missing"))
    for key, item in value.items():
        if not isinstance(key, str):
            issues.append(Issue(_join(path, str(key)), f"a key must be text, not {_kind(key)}"))
            continue
        _check(item, shape.fields.get(key, shape.values if not shape.fields else ANY), _join(path, key), issues)


def _mismatch(value: Any, shape: Any) -> str | None:
    """What ``value`` should have been, or None when it has the shape."""
    if shape == TEXT:
        return None if isinstance(value, str) else "text"
    if shape == SCALAR:
        return None if isinstance(value, (str, int, float)) else "a single value (text or a number)"
    if isinstance(shape, Mapping):
        return None if isinstance(value, dict) else "a mapping (key: value)"
    return None if isinstance(value, list) else "a list"


def _kind(value: Any) -> str:
    return {
        type(None): "null",
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
