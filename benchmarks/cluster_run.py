"""What the cluster benchmarks share: a Pipeline applied and a Run of it created with kubectl (as a user would),
then the Run polled until it has finished."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubernetes import client

from kubeline.api.constants import GROUP, VERSION
from kubeline.api.yamlio import dump_all

ROOT = Path(__file__).resolve().parents[1]


def kubectl_command(kubeconfig: str) -> list[str]:
    """The kubectl that hack/cluster downloads, for this cluster (asked in a child: the script is not a module)."""
    binary = subprocess.run(
        [sys.executable, "-c", "import runpy; print(runpy.run_path('hack/cluster')['binary']('kubectl'))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return [binary, "--kubeconfig", kubeconfig]


def start_run(kubectl: list[str], namespace: str, pipeline: dict[str, Any], run: dict[str, Any]) -> float:
    """Apply the Pipeline, create the Run; the time the Run was created."""
    _kubectl(kubectl, "apply", namespace, pipeline)
    created_at = time.time()
    _kubectl(kubectl, "create", namespace, run)
    return created_at


def wait_for_run(api: client.ApiClient, namespace: str, name: str, poll: float) -> dict[str, Any]:
    """The Run once it has Succeeded or Failed, read every ``poll`` seconds."""
    custom = client.CustomObjectsApi(api)
    while True:
        body: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "runs", name)
        if (body.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return body
        time.sleep(poll)


def _kubectl(kubectl: list[str], verb: str, namespace: str, document: dict[str, Any]) -> None:
    subprocess.run(
        [*kubectl, verb, "-n", namespace, "-f", "-"],
        input=dump_all([document]),
        text=True,
        check=True,
        capture_output=True,
    )
