"""Cache keys: a digest of what determines a step's result.

The key covers the component's container (image, command, args, env, working directory), what else its pod
reads (Secrets, ConfigMaps, volumes, sidecars), its output names and types, and the resolved inputs. Artifact inputs enter by lineage (the key of the step that
produced them and the output name), so a key never needs the artifact's bytes and a chain of cached
steps keeps hitting.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubeline.api import models

KEY_VERSION = "kubeline-cache-v1"


def cache_key(component: models.Component, inputs: dict[str, str], artifact_lineage: dict[str, str]) -> str:
    container = component.container
    document = {
        "version": KEY_VERSION,
        "image": container.image,
        "command": container.command or [],
        "args": container.args or [],
        "env": [[e.name, e.value] for e in container.env or [] if e.value_from is None],
        "workingDir": container.working_dir or "",
        "outputs": [[o.name, o.type] for o in component.outputs or []],
        "inputs": dict(sorted(inputs.items())),
        "artifacts": dict(sorted(artifact_lineage.items())),
    }
    document.update(_pod_features(component))
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _pod_features(component: models.Component) -> dict[str, Any]:
    """What else the step reads (Secrets, ConfigMaps, volumes, its sidecars), only when set: the keys of steps
    without these stay as they were."""
    container = component.container
    features = {
        "envSources": [e.to_dict() for e in container.env or [] if e.value_from is not None],
        "envFrom": [e.to_dict() for e in container.env_from or []],
        "volumes": [v.to_dict() for v in component.volumes or []],
        "volumeMounts": [m.to_dict() for m in container.volume_mounts or []],
        "sidecars": [c.to_dict() for c in component.sidecars or []],
        "initContainers": [c.to_dict() for c in component.init_containers or []],
    }
    return {name: value for name, value in features.items() if value}
