"""Pipeline volumes (KFP's VolumeOp): the one home of a claim's name, and what ``{{volumes.NAME.*}}`` resolves to.

A volume with a fixed ``claimName`` is the same claim in every run; otherwise each run has its own, named
after the run and the volume, so two runs of one pipeline never share one by accident.
"""

from __future__ import annotations

import hashlib

from kubeline.api import models
from kubeline.api.names import MAX_LABEL
from kubeline.engine.templates import Ref, to_text

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


def is_kept(volume: models.PipelineVolume) -> bool:
    """A kept claim outlives the Run (no owner); a fixed claimName is shared by runs, so it is kept too."""
    return volume.keep or volume.claim_name is not None


def volume_value(ref: Ref, run_name: str, volumes: dict[str, models.PipelineVolume]) -> str:
    """``{{volumes.NAME.name}}`` (the claim's name) or ``{{volumes.NAME.size}}`` (its requested size)."""
    volume = volumes[ref.name]
    return claim_name(run_name, volume) if ref.fields == ("name",) else to_text(volume.size)
