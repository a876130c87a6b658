"""Metrics and a visualization exported as the KFP docs' pages do: a python component's mlpipeline_metrics and
mlpipeline_ui_metadata outputs, and a ContainerOp's file output named mlpipeline-metrics."""

from kfp import dsl
from kfp.components import OutputPath, create_component_from_func

ARGUMENTS = {}


def evaluate(mlpipeline_metrics_path: OutputPath("Metrics"), mlpipeline_ui_metadata_path: OutputPath("UI_metadata")):
    import json

    with open(mlpipeline_metrics_path, "w") as f:
        json.dump({"metrics": [{"name": "accuracy-score", "numberValue": 0.9, "format": "PERCENTAGE"}]}, f)
    with open(mlpipeline_ui_metadata_path, "w") as f:
        json.dump({"outputs": [{"type": "markdown", "storage": "inline", "source": "# ok"}]}, f)


evaluate_op = create_component_from_func(evaluate)


@dsl.pipeline(name="metrics")
def metrics_pipeline():
    evaluate_op()
    dsl.ContainerOp(
        name="raw",
        image="alpine",
        command=["sh", "-c", "echo '{\"metrics\": []}' > /mlpipeline-metrics.json"],
        file_outputs={"mlpipeline-metrics": "/mlpipeline-metrics.json"},
    )
