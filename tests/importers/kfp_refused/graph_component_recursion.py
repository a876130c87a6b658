"""KFP's graph_component recursion sample: flip a coin until tails."""

from kfp import dsl


def flip_coin_op():
    return dsl.ContainerOp(
        name="flip",
        image="python:alpine3.6",
        command=["sh", "-c"],
        arguments=[
            "python -c \"import random; print('heads' if random.randint(0,1) == 0 else 'tails')\" | tee /tmp/output"
        ],
        file_outputs={"output": "/tmp/output"},
    )


@dsl.graph_component
def flip_until_tails(flip_result):
    with dsl.Condition(flip_result == "heads"):
        flip = flip_coin_op()
        flip_until_tails(flip.output)


ARGUMENTS = {}


@dsl.pipeline(name="recursion")
def recursion_pipeline():
    first = flip_coin_op()
    flip_until_tails(first.output)
