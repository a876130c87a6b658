"""Pipeline volumes (KFP's VolumeOp): the one home of a claim's name, and what ``{{volumes.NAME.*}}`` resolves to.

A volume with a fixed ``claimName`` is the same claim in every run; otherwise each run has its own, named
after the run and the volume, so two runs of one pipeline never share one by accident.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from kubeline.api import models
from kubeline.api.models import QUANTITY
from kubeline.api.names import MAX_LABEL
from kubeline.engine.templates import Ref, to_text

#: Names and folders of kubeline's own in a step's pod: a user's volume or container may not take them.
RESERVED_PREFIX = "kubeline"
#: A pipeline volume of this name would have the claim of the run's artifact volume (RUN-artifacts).
ARTIFACTS_VOLUME = "artifacts"

#: A size given by a pipeline parameter (KFP's ``VolumeOp(size=param)``): the whole size is ``{{params.NAME}}``.
SIZE_PARAM = re.compile(r"^\{\{\s*params\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)\s*\}\}$")

_DIGEST = 6


def claim_name(run_name: str, volume: models.PipelineVolume) -> str:
    """The claim of ``volume`` in run ``run_name``: its fixed name, else ``RUN-VOLUME`` as a DNS label
    (shortened with a digest of the whole when too long, so that distinct runs keep distinct claims)."""
    if volume.claim_name:
        return volume.claim_name
    name = f"{run_name}-{volume.name}"
    if len(name) <= MAX_LABEL:
        return name
    suffix = "-" + hashlib.sha256(name.encode()).hexdigest()[:_DIGEST]
    return name[: MAX_LABEL - len(suffix)].rstrip("-") + suffix


def free_volume_name(name: str) -> str:
    """``name`` for a pipeline volume, moved aside when kubeline keeps it (``artifacts``, ``kubeline…``): what
    the SDK and the importer name a KFP VolumeOp, whose resource_name may be any of these."""
    if name != ARTIFACTS_VOLUME and not name.startswith(RESERVED_PREFIX):
        return name
    return f"vol-{name}"[:40].rstrip("-")


def is_kept(volume: models.PipelineVolume) -> bool:
    """A kept claim outlives the Run (no owner); a fixed claimName is shared by runs, so it is kept too."""
    return volume.keep or volume.claim_name is not None


def size_problem(volume: models.PipelineVolume, params: Mapping[str, Any]) -> str | None:
    """Why the volume's size is not a quantity, or not a declared parameter (``params``: by name), or None."""
    text = to_text(volume.size)
    match = SIZE_PARAM.match(text)
    if match:
        if match["name"] not in params:
            return f"{text}: unknown parameter {match['name']!r}; declare it in spec.params"
        return None
    if isinstance(volume.size, bool) or not re.match(QUANTITY, text):
        return f"{text!r} is not a Kubernetes quantity: write e.g. 1Gi, 500Mi, or {{{{params.NAME}}}}"
    return None


def size(volume: models.PipelineVolume, params: Mapping[str, Any]) -> str:
    """The size a run requests: the quantity written, or the run's value of the parameter that gives it
    (``params``: the run's bound arguments); a value that is not a quantity is a ValueError naming both."""
    text = to_text(volume.size)
    match = SIZE_PARAM.match(text)
    if match is None:
        return text
    value = to_text(params.get(match["name"], ""))
    if isinstance(params.get(match["name"]), bool) or not re.match(QUANTITY, value):
        raise ValueError(
            f"spec.volumes[{volume.name}].size: parameter {match['name']!r} is {value!r}, not a Kubernetes "
            "quantity; pass e.g. 1Gi"
        )
    return value


def volume_value(
    ref: Ref, run_name: str, volumes: Mapping[str, models.PipelineVolume], params: Mapping[str, Any]
) -> str:
    """``{{volumes.NAME.name}}`` (the claim's name) or ``{{volumes.NAME.size}}`` (its requested size)."""
    volume = volumes[ref.name]
    return claim_name(run_name, volume) if ref.fields == ("name",) else size(volume, params)
