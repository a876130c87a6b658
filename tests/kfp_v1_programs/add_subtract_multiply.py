"""KFP v1: add and subtract feed multiply; with 7 and 3 the result is 40."""

import kfp
from kfp import dsl
from kfp.components import create_component_from_func


def add(a: float, b: float) -> float:
    return a + b


def subtract(a: float, b: float) -> float:
    return a - b


def multiply(a: float, b: float) -> float:
    return a * b


add_op = create_component_from_func(add, base_image="python:3.9")
subtract_op = create_component_from_func(subtract, base_image="python:3.9")
multiply_op = create_component_from_func(multiply, base_image="python:3.9")

ARGUMENTS = {"value_1": "7", "value_2": "3"}


@dsl.pipeline(name="add-subtract-multiply", description="The classic arithmetic pipeline.")
def arithmetic_pipeline(value_1="7", value_2="3"):
    add_task = add_op(value_1, value_2)
    subtract_task = subtract_op(value_1, value_2)
    multiply_op(add_task.output, subtract_task.output)
