"""KFP v1: a component loaded from YAML whose List and Dict inputs default to '' (as the published GCP Dataproc
components declare them), called with and without those arguments."""

from kfp import components, dsl

submit_job_op = components.load_component_from_text(
    """
name: Submit job
description: Submits a job to a cluster (the shape of the Dataproc components' inputs).
inputs:
- {name: project_id, type: String, description: 'Required. The project to run the job in.'}
- {name: args, type: List, default: '', description: 'Optional. The arguments to pass to the driver.'}
- {name: properties, type: Dict, default: '', description: 'Optional. The job properties.'}
- {name: wait_interval, type: Integer, default: '30', description: 'Optional. Seconds between polls.'}
outputs:
- {name: job_id, type: String}
implementation:
  container:
    image: gcr.io/ml-pipeline/ml-pipeline-gcp:1.7.0
    command: [sh, -c, 'printf "%s|%s|%s|%s" "$0" "$1" "$2" "$3" > "$4"']
    args:
    - {inputValue: project_id}
    - {inputValue: args}
    - {inputValue: properties}
    - {inputValue: wait_interval}
    - {outputPath: job_id}
"""
)


@dsl.pipeline(name="component-yaml-defaults")
def component_yaml_defaults_pipeline(project_id: str = "my-project"):
    submit_job_op(project_id=project_id)
    submit_job_op(
        project_id=project_id,
        args=["--epochs", "3"],
        properties={"spark.executor.cores": "2"},
        wait_interval=5,
    )
