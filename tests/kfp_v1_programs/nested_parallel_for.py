"""KFP v1: nested ParallelFor loops whose inner steps read the outer loop's item, as a task argument, in an
f-string and in a raw ContainerOp's command; and an inner loop over a list a step makes in each outer iteration."""

from typing import List

from kfp import dsl
from kfp.components import create_component_from_func


def pair(outer: int, inner: int) -> str:
    line = f"{outer}-{inner}"
    print(line)
    return line


def echo(text: str) -> str:
    print(text)
    return text


def multiples(x: int) -> List[int]:
    return [x * 10, x * 10 + 1]


pair_op = create_component_from_func(pair)
echo_op = create_component_from_func(echo)
multiples_op = create_component_from_func(multiples)


@dsl.pipeline(name="Nested loops", description="Every pair of an outer and an inner item.")
def nested_loops_pipeline():
    with dsl.ParallelFor([1, 2]) as outer:
        with dsl.ParallelFor([3, 4]) as inner:
            pair_op(outer, inner)
            echo_op(f"{outer}-{inner}")
            dsl.ContainerOp(
                name="shell-pair",
                image="library/bash:4.4.23",
                command=["sh", "-c", f'echo "{outer}-{inner}" > /tmp/pair.txt'],
                file_outputs={"pair": "/tmp/pair.txt"},
            )
        made = multiples_op(outer)
        with dsl.ParallelFor(made.output) as multiple:
            pair_op(outer, multiple)
