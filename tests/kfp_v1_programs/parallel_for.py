"""KFP v1: ParallelFor over a list produced by a step, with a two-step body."""

from typing import List

from kfp import dsl
from kfp.components import create_component_from_func


def make_items(count: int) -> List[int]:
    return list(range(1, count + 1))


def square(x: int) -> int:
    return x * x


def show(x: int, squared: int) -> str:
    line = f"{x} squared is {squared}"
    print(line)
    return line


make_items_op = create_component_from_func(make_items)
square_op = create_component_from_func(square)
show_op = create_component_from_func(show)


@dsl.pipeline(name="parallel-for")
def parallel_for_pipeline(count: int = 3):
    items = make_items_op(count)
    with dsl.ParallelFor(items.output) as item:
        squared = square_op(item)
        show_op(item, squared.output)
