"""KFP v1's deprecated @dsl.python_component: the component's name, description and base image."""

from kfp import dsl
from kfp.components import func_to_container_op


@dsl.python_component(
    name="Multiply numbers",
    description="Multiplies two numbers.",
    base_image="python:3.10-slim",
)
def multiply(a: float, b: float) -> float:
    return a * b


multiply_op = func_to_container_op(multiply)


@dsl.pipeline(name="python-component")
def python_component_pipeline(a: float = 3, b: float = 5):
    multiply_op(a, b)
