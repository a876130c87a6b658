"""A component loaded from YAML, as published components (Dataproc's) are written: List and Dict inputs whose
default is ''."""

from kfp import components, dsl

submit_op = components.load_component_from_text(
    """
name: Submit job
inputs:
- {name: args, type: List, default: ''}
- {name: properties, type: Dict, default: ''}
- {name: region, type: String}
outputs:
- {name: job_id, type: String}
implementation:
  container:
    image: alpine
    command: [sh, -c, 'echo "[$0][$1] $2" > $3', {inputValue: args}, {inputValue: properties}, {inputValue: region},
      {outputPath: job_id}]
"""
)
ARGUMENTS = {}


@dsl.pipeline(name="list-dict-defaults")
def list_dict_defaults_pipeline(region: str = "us"):
    submit_op(region=region)
