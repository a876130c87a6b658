"""Branch on a produced number, then fan out over a produced list: kubeline's SDK, KFP v1 style.

kubeline run examples/python/conditions_and_loops.py -p count=4
"""

from typing import NamedTuple

from kubeline import dsl
from kubeline.components import create_component_from_func


def measure(count: int) -> NamedTuple("Measurement", [("size", int), ("shards", list[int])]):
    """Reports a size and the shards to process."""
    from collections import namedtuple

    return namedtuple("Measurement", ["size", "shards"])(count * 10, list(range(count)))


def process(shard: int, size: int) -> int:
    """Processes one shard."""
    return shard * size


def announce(message: str) -> str:
    """Says which branch ran."""
    print(message)
    return message


measure_op = create_component_from_func(measure)
process_op = create_component_from_func(process)
announce_op = create_component_from_func(announce)


@dsl.pipeline(
    name="conditions-and-loops", description="A condition on a produced value and a loop over a produced list"
)
def conditions_and_loops(count: int = 4):
    measurement = measure_op(count)
    with dsl.Condition(measurement.outputs["size"] >= 30):
        announce_op("big input")
    with dsl.Condition(measurement.outputs["size"] < 30):
        announce_op("small input")
    with dsl.ParallelFor(measurement.outputs["shards"], parallelism=2) as shard:
        process_op(shard, measurement.outputs["size"])
