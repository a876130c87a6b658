"""KFP v1: a random number decides which of two branches runs."""

from kfp import dsl
from kfp.components import create_component_from_func


def random_number(low: int, high: int) -> int:
    import random

    number = random.randint(low, high)
    print(f"drew {number}")
    return number


def announce(message: str) -> str:
    print(message)
    return message


random_op = create_component_from_func(random_number)
announce_op = create_component_from_func(announce)


@dsl.pipeline(name="random-condition")
def random_condition_pipeline(low: int = 0, high: int = 9):
    number = random_op(low, high)
    with dsl.Condition(number.output > 5):
        announce_op("high")
    with dsl.Condition(number.output <= 5):
        announce_op("low")
