"""ParallelFor inside ParallelFor, the inner step reading both items."""

from kfp import dsl
from kfp.components import create_component_from_func


def pair(outer: int, inner: int) -> str:
    return f"{outer}-{inner}"


pair_op = create_component_from_func(pair)
ARGUMENTS = {}


@dsl.pipeline(name="nested-loops")
def nested_loops_pipeline():
    with dsl.ParallelFor([1, 2]) as outer:
        with dsl.ParallelFor([3, 4]) as inner:
            pair_op(outer, inner)
