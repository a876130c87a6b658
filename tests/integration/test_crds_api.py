"""The generated CRDs on a real API server: installed, explained, and rejecting bad input with readable messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crds_installed(crds):
    return crds


def apply(cluster, document: dict, namespace: str, check: bool = True):
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document), check=check)


def run_document(name: str, **spec: object) -> dict:
    return {"apiVersion": "kubeline.dev/v1alpha1", "kind": "Run", "metadata": {"name": name}, "spec": spec}


def test_every_example_is_accepted(crds_installed, namespace) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        result = crds_installed.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(path))
        assert "created (server dry run)" in result.stdout, path


def test_kubectl_explain_describes_fields(crds_installed) -> None:
    text = crds_installed.kubectl("explain", "pipelines.spec.tasks.when").stdout
    assert "Condition; the task (or group) is skipped when false" in text


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"pipelineRef": {"name": "p"}, "pipelineSpec": {"components": [], "tasks": []}},
            "set exactly one of pipelineRef and pipelineSpec",
        ),
        ({}, "set exactly one of pipelineRef and pipelineSpec"),
        ({"pipelineRef": {"name": "p"}, "cancel": "yes"}, "spec.cancel"),
        (
            {
                "pipelineSpec": {
                    "components": [{"name": "c", "container": {"image": "x"}}],
                    "tasks": [{"name": "Not_A_Name", "component": "c"}],
                }
            },
            "spec.pipelineSpec.tasks[0].name",
        ),
        (
            {
                "pipelineSpec": {
                    "components": [{"name": "c", "container": {"image": "x"}}],
                    "tasks": [{"name": "a", "component": "c"}, {"name": "a", "component": "c"}],
                }
            },
            "Duplicate value",
        ),
        (
            {
                "pipelineSpec": {
                    "components": [{"name": "c", "container": {"image": "x"}}],
                    "tasks": [{"name": "a", "component": "c", "dag": {"tasks": [{"name": "b", "component": "c"}]}}],
                }
            },
            "set exactly one of component and dag",
        ),
        (
            {
                "pipelineSpec": {
                    "components": [{"name": "c", "container": {"image": "x"}}],
                    "tasks": [{"name": "a", "component": "c", "timeout": "soon"}],
                }
            },
            "spec.pipelineSpec.tasks[0].timeout",
        ),
    ],
)
def test_invalid_runs_are_rejected_with_a_readable_message(crds_installed, namespace, spec, message) -> None:
    result = apply(crds_installed, run_document("bad", **spec), namespace, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_run_keeps_its_pipeline_and_cannot_be_uncancelled(crds_installed, namespace) -> None:
    apply(crds_installed, run_document("r1", pipelineRef={"name": "p"}, arguments={"x": 1}), namespace)
    other = apply(
        crds_installed, run_document("r1", pipelineRef={"name": "q"}, arguments={"x": 1}), namespace, check=False
    )
    assert other.returncode != 0 and "pipelineRef is immutable" in other.stderr
    crds_installed.kubectl(
        "patch", "-n", namespace, "run", "r1", "--type=merge", "-p", json.dumps({"spec": {"cancel": True}})
    )
    resumed = crds_installed.kubectl(
        "patch",
        "-n",
        namespace,
        "run",
        "r1",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"cancel": False}}),
        check=False,
    )
    assert resumed.returncode != 0 and "a cancelled Run cannot be resumed" in resumed.stderr


def test_get_runs_shows_phase_and_progress_columns(crds_installed, namespace) -> None:
    apply(crds_installed, run_document("r2", pipelineRef={"name": "p"}), namespace)
    header = crds_installed.kubectl("get", "runs", "-n", namespace).stdout.splitlines()[0].split()
    assert header[:5] == ["NAME", "PIPELINE", "PHASE", "PROGRESS", "DURATION"]


@pytest.mark.parametrize("kind", ["Run", "Pipeline"])
def test_names_longer_than_a_label_are_rejected_by_the_api_server(crds_installed, namespace, kind) -> None:
    """Run and Pipeline names become label values and parts of pod names: the API server holds them to 63 characters."""
    spec = (
        {"pipelineRef": {"name": "p"}}
        if kind == "Run"
        else {"components": [{"name": "c", "container": {"image": "x"}}], "tasks": [{"name": "a", "component": "c"}]}
    )
    document = {"apiVersion": "kubeline.dev/v1alpha1", "kind": kind, "metadata": {"name": "n" * 64}, "spec": spec}
    result = apply(crds_installed, document, namespace, check=False)
    assert result.returncode != 0
    assert "63" in result.stderr
    document["metadata"]["name"] = "n" * 63
    assert apply(crds_installed, document, namespace, check=False).returncode == 0
