"""What a step's pod is scheduled with: the layers (operator, pipeline, group, task) merged, one rule for all."""

from __future__ import annotations

from typing import Any

import pytest

from kubeline.api.models import Scheduling
from kubeline.engine.settings import merge_scheduling, merge_scheduling_dicts

BASE: dict[str, Any] = {
    "nodeSelector": {"pool": "ml", "os": "linux"},
    "tolerations": [{"key": "gpu", "operator": "Exists"}],
    "affinity": {"nodeAffinity": {"old": True}},
    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
}


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ({}, BASE),
        (  # selectors merge key by key; the layer wins on a clash
            {"nodeSelector": {"os": "windows", "zone": "b"}},
            {**BASE, "nodeSelector": {"pool": "ml", "os": "windows", "zone": "b"}},
        ),
        (  # tolerations add up, without repeating one already there
            {"tolerations": [{"key": "gpu", "operator": "Exists"}, {"key": "spot", "operator": "Exists"}]},
            {**BASE, "tolerations": [{"key": "gpu", "operator": "Exists"}, {"key": "spot", "operator": "Exists"}]},
        ),
        ({"affinity": {"podAntiAffinity": {"new": True}}}, {**BASE, "affinity": {"podAntiAffinity": {"new": True}}}),
        (  # resources merge per name within requests and limits
            {"resources": {"requests": {"cpu": "2"}, "limits": {"nvidia.com/gpu": "1"}}},
            {**BASE, "resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"nvidia.com/gpu": "1"}}},
        ),
    ],
)
def test_a_layer_over_the_ones_below(layer: dict[str, Any], expected: dict[str, Any]) -> None:
    assert merge_scheduling_dicts(BASE, layer) == expected
    assert merge_scheduling(BASE, Scheduling.model_validate(layer)) == expected  # a model layer: the same rule


def test_merging_leaves_its_inputs_alone() -> None:
    layer = {"nodeSelector": {"zone": "b"}, "tolerations": [{"key": "spot"}], "resources": {"limits": {"cpu": "4"}}}
    before = repr((BASE, layer))
    merge_scheduling_dicts(BASE, layer)
    assert repr((BASE, layer)) == before
