"""KFP v1: the step's pod name passed as a component argument ({{pod.name}}), as KFP's standard components do."""

from kfp import dsl
from kfp.components import create_component_from_func


def show(run_id: str, pod: str) -> str:
    line = f"{run_id}|{pod}"
    print(line)
    return line


show_op = create_component_from_func(show)


@dsl.pipeline(name="Pod name argument")
def pod_name_argument_pipeline():
    show_op(dsl.RUN_ID_PLACEHOLDER, "{{pod.name}}")
    show_op("fixed", "pod={{pod.name}}")
