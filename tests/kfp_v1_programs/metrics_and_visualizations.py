"""KFP v1: steps exporting metrics and visualizations, as the "Export metrics" and "Visualize results in the
Pipelines UI" pages of the KFP v1 documentation write them: an OutputPath('Metrics') parameter named
mlpipeline_metrics, an untyped OutputPath named mlpipeline_ui_metadata, and a NamedTuple returning both."""

from typing import NamedTuple

from kfp import dsl
from kfp.components import OutputPath, create_component_from_func


def train(epochs: int, mlpipeline_metrics_path: OutputPath("Metrics"), mlpipeline_ui_metadata_path: OutputPath()):
    import json

    accuracy = 0.5 + epochs / 100
    metrics = {
        "metrics": [
            {"name": "accuracy-score", "numberValue": accuracy, "format": "PERCENTAGE"},
            {"name": "epochs", "numberValue": epochs, "format": "RAW"},
        ]
    }
    with open(mlpipeline_metrics_path, "w") as f:
        json.dump(metrics, f)
    metadata = {
        "outputs": [
            {
                "storage": "inline",
                "source": f"# Training\nAccuracy after {epochs} epochs: {accuracy:.2f}",
                "type": "markdown",
            }
        ]
    }
    with open(mlpipeline_ui_metadata_path, "w") as metadata_file:
        json.dump(metadata, metadata_file)


def evaluate(
    threshold: float,
) -> NamedTuple("EvaluationOutput", [("mlpipeline_ui_metadata", "UI_metadata"), ("mlpipeline_metrics", "Metrics")]):
    import json
    from collections import namedtuple

    matrix = [["cat", "cat", 10], ["cat", "dog", 2], ["dog", "cat", 1], ["dog", "dog", 12]]
    metadata = {
        "outputs": [
            {
                "type": "confusion_matrix",
                "format": "csv",
                "schema": [
                    {"name": "target", "type": "CATEGORY"},
                    {"name": "predicted", "type": "CATEGORY"},
                    {"name": "count", "type": "NUMBER"},
                ],
                "storage": "inline",
                "source": "\n".join(",".join(str(cell) for cell in row) for row in matrix),
                "labels": ["cat", "dog"],
            }
        ]
    }
    metrics = {"metrics": [{"name": "recall", "numberValue": 22 / 25, "format": "RAW"}]}
    output = namedtuple("EvaluationOutput", ["mlpipeline_ui_metadata", "mlpipeline_metrics"])
    return output(json.dumps(metadata), json.dumps(metrics))


train_op = create_component_from_func(train)
evaluate_op = create_component_from_func(evaluate)


@dsl.pipeline(name="metrics-and-visualizations")
def metrics_pipeline(epochs: int = 40):
    trained = train_op(epochs)
    evaluate_op(0.5).after(trained)
