"""KFP v1: a training pipeline scheduled every night, as the KFP docs write a recurring run (compile the
pipeline, create an experiment, then create_recurring_run with a six-field cron, seconds first)."""

import kfp
from kfp import dsl
from kfp.components import create_component_from_func


def train(epochs: int) -> str:
    return f"trained for {epochs} epochs"


train_op = create_component_from_func(train, base_image="python:3.9")

ARGUMENTS = {"epochs": "5"}


@dsl.pipeline(name="nightly-training", description="Retrains the model.")
def nightly_training(epochs: int = 3):
    train_op(epochs)


if __name__ == "__main__":
    kfp.compiler.Compiler().compile(nightly_training, "nightly_training.yaml")
    client = kfp.Client()
    experiment = client.create_experiment("Nightly")
    job = client.create_recurring_run(
        experiment_id=experiment.id,
        job_name="Nightly training",
        description="Retrain at 02:00 every day",
        cron_expression="0 0 2 * * *",
        max_concurrency=1,
        no_catchup=True,
        params=ARGUMENTS,
        pipeline_package_path="nightly_training.yaml",
    )
    print(job.id)
