"""What the classic KFP v1 programs must become, whichever way they reach kubeline (SDK or importer)."""

from __future__ import annotations

from typing import Any


def assert_container_op_scheduling(spec: dict[str, Any]) -> None:
    """container_op_scheduling.py: node selector, resources, toleration, affinity, order, PipelineConf default."""
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert spec["defaults"] == {"nodeSelector": {"team": "ml"}}
    assert tasks["first"]["nodeSelector"] == {"application": "kubeflow"}
    assert tasks["first"]["resources"] == {"limits": {"memory": "1Gi"}, "requests": {"cpu": "500m"}}
    assert tasks["gpu"]["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert tasks["gpu"]["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    terms = tasks["arm"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms[0]["matchExpressions"] == [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}]
    assert tasks["gpu"]["after"] == ["first"]
