"""What kubeline.Client returns, read from resources as KFP users read kfp.Client's results (no cluster here:
the Client's calls themselves are tested against the real API server in tests/integration/test_client.py)."""

from __future__ import annotations

import pytest

from kubeline.sdk.results import page, pipeline_info, run_detail, run_info, sort


def run_resource(phase: str | None, **status: object) -> dict:
    return {
        "apiVersion": "kubeline.dev/v1alpha1",
        "kind": "Run",
        "metadata": {
            "name": "nightly-run-x1",
            "namespace": "ml",
            "uid": "0b7e8a4e-2f1c-4c39-9d0e-7a1f3c2b5d6e",
            "creationTimestamp": "2026-11-30T10:00:00Z",
            "labels": {"kubeline.dev/experiment": "nightly", "kubeline.dev/pipeline": "train"},
            "annotations": {"kubeline.dev/display-name": "Nightly run"},
        },
        "spec": {"pipelineRef": {"name": "train"}},
        "status": {"phase": phase, **status} if phase else {},
    }


@pytest.mark.parametrize(
    "phase, kfp_status, finished",
    [
        (None, "Pending", False),  # not picked up by the operator yet
        ("Pending", "Pending", False),
        ("Running", "Running", False),
        ("Succeeded", "Succeeded", True),
        ("Failed", "Failed", True),
        ("Cancelled", "Failed", True),  # KFP reports a terminated run Failed: loops waiting for it end
    ],
)
def test_run_status_in_kfps_words(phase: str | None, kfp_status: str, finished: bool) -> None:
    run = run_info(run_resource(phase))
    assert (run.status, run.phase, run.finished) == (kfp_status, phase, finished)


def test_a_run_has_the_fields_kfp_users_read() -> None:
    resource = run_resource(
        "Failed",
        message="step train failed",
        startedAt="2026-11-30T10:00:01Z",
        finishedAt="2026-11-30T10:05:00Z",
        metrics={"train": {"accuracy": 0.9}},
    )
    detail = run_detail(resource)
    run = detail.run
    assert run.id == run.run_id == "0b7e8a4e-2f1c-4c39-9d0e-7a1f3c2b5d6e"
    assert (run.name, run.resource_name, run.pipeline, run.experiment) == (
        "Nightly run",
        "nightly-run-x1",
        "train",
        "nightly",
    )
    assert run.error == "step train failed"
    assert run.created_at is not None and run.created_at.isoformat() == "2026-11-30T10:00:00+00:00"
    assert run.finished_at is not None and (run.finished_at - run.created_at).total_seconds() == 300
    assert [(m.name, m.node_id, m.number_value) for m in run.metrics] == [("accuracy", "train", 0.9)]
    assert '"kind": "Run"' in detail.pipeline_runtime.workflow_manifest


def test_a_pipeline_without_a_display_name_is_called_by_its_name() -> None:
    pipeline = pipeline_info(
        {
            "metadata": {"name": "train", "uid": "u1", "creationTimestamp": "2026-11-30T10:00:00Z"},
            "spec": {"description": "Trains"},
        }
    )
    assert (pipeline.name, pipeline.description, pipeline.id) == ("train", "Trains", "u1")
    assert pipeline.default_version is not None and pipeline.default_version.id == "u1"


def test_pages_follow_kfps_page_token_and_size() -> None:
    items = list(range(25))
    first = page(items, "", 10)
    assert (first.items, first.total_size, first.next_page_token) == (list(range(10)), 25, "10")
    last = page(items, page(items, first.next_page_token, 10).next_page_token, 10)
    assert (last.items, last.next_page_token) == (list(range(20, 25)), "")
    assert first.runs == first.experiments == first.pipelines == first.items
    with pytest.raises(ValueError, match="page_token 'abc'"):
        page(items, "abc", 10)
    with pytest.raises(ValueError, match="page_size must be at least 1"):
        page(items, "", 0)


def test_sort_by_as_kfp_writes_it() -> None:
    runs = [run_info(run_resource("Running")) for _ in range(3)]
    for run, (name, day) in zip(runs, [("b", 2), ("a", 3), ("c", 1)], strict=True):
        run.name = name
        run.created_at = run.created_at.replace(day=day) if run.created_at else None
    assert [r.name for r in sort(runs, "")] == ["c", "b", "a"]
    assert [r.name for r in sort(runs, "created_at desc")] == ["a", "b", "c"]
    assert [r.name for r in sort(runs, "name")] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="sort_by 'size'"):
        sort(runs, "size")
