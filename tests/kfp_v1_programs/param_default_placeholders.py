"""KFP v1: pipeline parameters whose defaults hold the run's id (dsl.RUN_ID_PLACEHOLDER, Argo's {{workflow.uid}}),
as the XGBoost and TFX samples name their outputs."""

from kfp import dsl
from kfp.components import create_component_from_func


def train(model_name: str, output_dir: str) -> str:
    location = f"{output_dir}/{model_name}"
    print(f"saving the model to {location}")
    return location


train_op = create_component_from_func(train)


@dsl.pipeline(name="run-id-defaults")
def run_id_defaults_pipeline(
    model_name: str = "xgb-" + dsl.RUN_ID_PLACEHOLDER,
    output_dir: str = "gs://my-bucket/{{workflow.uid}}/models",
):
    train_op(model_name, output_dir)
