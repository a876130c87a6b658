"""The classic KFP v1 example, written with kubeline's SDK (only the imports differ from KFP).

kubeline run examples/python/add_subtract_multiply.py -p value_1=7 -p value_2=3   ->  multiply: 40
kubeline compile examples/python/add_subtract_multiply.py -o pipeline.yaml
"""

from kubeline import dsl
from kubeline.components import create_component_from_func


def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


def subtract(a: int, b: int) -> int:
    """Subtracts the second number from the first."""
    return a - b


def multiply(a: int, b: int) -> int:
    """Multiplies two numbers."""
    return a * b


add_op = create_component_from_func(add)
subtract_op = create_component_from_func(subtract)
multiply_op = create_component_from_func(multiply)


@dsl.pipeline(name="add-subtract-multiply", description="(value_1 + value_2) * (value_1 - value_2)")
def add_subtract_multiply(value_1: int = 7, value_2: int = 3):
    total = add_op(value_1, value_2)
    difference = subtract_op(value_1, value_2)
    multiply_op(total.output, difference.output)
