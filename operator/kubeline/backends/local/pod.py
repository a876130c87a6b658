"""What a step's pod features become on this machine: volumes as folders, variables read from the pod.

A step mounts volumes at fixed paths (``/mnt/data``); locally there is no mount, so each mount path in the
step's command, args and env values is replaced by the volume's folder (at a path boundary: ``/mnt/data``
and ``/mnt/data/x``, never ``/mnt/database``). A claim is a folder: one of this run's pipeline volumes lives
in the run's folder; any other claim (a fixed name, or an existing PersistentVolumeClaim) in the shared
``volumes`` folder, so runs naming it see the same files, as they would on a cluster. An emptyDir is the
attempt's own folder. What a machine has no equivalent of (Secrets, ConfigMaps, sidecars, init containers)
is left out with a warning that names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kubeline.api import models
from kubeline.api.names import subdomain_problem
from kubeline.backends.local.files import inside
from kubeline.engine.container import Rendered

#: What {{run.namespace}} and a variable read from metadata.namespace are on this machine.
LOCAL_NAMESPACE = "local"


@dataclass
class LocalPod:
    """A step's mounts mapped to folders, its variables read from the pod, and what it says about them."""

    folders: dict[str, Path] = field(default_factory=dict)  # mount path -> folder
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # for the step's log
    warnings: list[str] = field(default_factory=list)  # for the step's log and the user

    def replace_paths(self, text: str) -> str:
        """``text`` with each mount path (at a path boundary) replaced by its folder, the longest path first."""
        if not self.folders:
            return text
        folders = {mount.rstrip("/"): str(folder) for mount, folder in self.folders.items()}
        paths = "|".join(re.escape(mount) for mount in sorted(folders, key=len, reverse=True))
        return re.sub(rf"(?<![\w./-])({paths})(?=/|$|[^\w.-])", lambda match: folders[match.group(1)], text)


class ClaimFolders:
    """Where claims live: this run's pipeline volumes in the run's folder, other claims shared between runs."""

    def __init__(self, run_dir: Path, shared: Path, run_claims: set[str]):
        self.run_dir, self.shared, self.run_claims = run_dir, shared, run_claims

    def folder(self, claim: str) -> Path:
        """The claim's folder; ValueError for a name that is not a claim's (an empty one would be the root of
        every shared volume)."""
        problem = subdomain_problem(claim)
        if problem:
            raise ValueError(f"claim name {problem}")
        root = self.run_dir / "volumes" if claim in self.run_claims else self.shared
        return inside(root, claim)


def local_pod(rendered: Rendered, claims: ClaimFolders, attempt_dir: Path, pod_name: str) -> LocalPod:
    """The folders of the step's mounts (made), its pod-read variables, and the warnings for what is left out."""
    pod = LocalPod()
    volumes = {volume.name: volume for volume in rendered.volumes}
    for mount in rendered.volume_mounts:
        folder = _volume_folder(volumes[mount.name], claims, attempt_dir, pod)
        if mount.sub_path:
            folder = inside(folder, mount.sub_path)
        folder.mkdir(parents=True, exist_ok=True)
        pod.folders[mount.mount_path] = folder
        pod.notes.append(f"volume {mount.name}: {mount.mount_path} is the folder {folder}")
    for variable in rendered.env_sources:
        value = _pod_value(variable, pod_name)
        if value is None:
            pod.warnings.append(f"variable {variable.name} is left unset: {_unset_reason(variable)}")
        else:
            pod.env[variable.name] = value
    for source in rendered.env_from:
        kind, name = ("Secret", source.secret_ref.name) if source.secret_ref else ("ConfigMap", _map_name(source))
        pod.warnings.append(f"the variables of {kind} {name} are left unset: the local runner has no {kind}s")
    unrun = [f"sidecar {c.name}" for c in rendered.sidecars] + [
        f"init container {c.name}" for c in rendered.init_containers
    ]
    if unrun:
        pod.warnings.append(f"{', '.join(unrun)} not run: the local runner runs the step's main container only")
    return pod


def _volume_folder(volume: models.Volume, claims: ClaimFolders, attempt_dir: Path, pod: LocalPod) -> Path:
    if volume.persistent_volume_claim is not None:
        return claims.folder(volume.persistent_volume_claim.claim_name)
    if volume.secret is not None or volume.config_map is not None:
        kind = "Secret" if volume.secret is not None else "ConfigMap"
        pod.warnings.append(f"volume {volume.name} is an empty folder: the local runner has no {kind}s")
    return inside(attempt_dir / "volumes", volume.name)


def _pod_value(variable: models.EnvVar, pod_name: str) -> str | None:
    source = variable.value_from
    path = source.field_ref.field_path if source is not None and source.field_ref is not None else None
    return {"metadata.name": pod_name, "metadata.namespace": LOCAL_NAMESPACE}.get(path or "")


def _unset_reason(variable: models.EnvVar) -> str:
    source = variable.value_from
    assert source is not None
    if source.secret_key_ref is not None:
        return f"it comes from Secret {source.secret_key_ref.name}, and the local runner has no Secrets"
    if source.config_map_key_ref is not None:
        return f"it comes from ConfigMap {source.config_map_key_ref.name}, and the local runner has no ConfigMaps"
    assert source.field_ref is not None
    return f"the pod's {source.field_ref.field_path} exists on a cluster only"


def _map_name(source: models.EnvFromSource) -> str:
    assert source.config_map_ref is not None
    return source.config_map_ref.name
