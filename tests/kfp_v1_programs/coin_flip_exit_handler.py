"""KFP v1: a coin flip with nested conditions inside an ExitHandler; the tails branch fails."""

from kfp import dsl
from kfp.components import create_component_from_func


def flip_coin(force: str) -> str:
    import random

    return force if force in ("heads", "tails") else random.choice(["heads", "tails"])


def random_number(low: int, high: int) -> int:
    import random

    return random.randint(low, high)


def report(message: str) -> str:
    print(message)
    return message


def fail(message: str):
    import sys

    print(message)
    sys.exit(1)


def exit_notice(status: str) -> str:
    print(f"pipeline finished: {status}")
    return status


flip_op = create_component_from_func(flip_coin)
number_op = create_component_from_func(random_number)
report_op = create_component_from_func(report)
fail_op = create_component_from_func(fail)
exit_op = create_component_from_func(exit_notice)


@dsl.pipeline(name="coin-flip-exit-handler")
def coin_flip_pipeline(force: str = "tails"):
    notice = exit_op("{{workflow.status}}")
    with dsl.ExitHandler(notice):
        flip = flip_op(force)
        with dsl.Condition(flip.output == "heads"):
            number = number_op(0, 9)
            with dsl.Condition(number.output > 4):
                report_op("heads and high")
            with dsl.Condition(number.output <= 4):
                report_op("heads and low")
        with dsl.Condition(flip.output == "tails"):
            fail_op("tails: failing on purpose")
