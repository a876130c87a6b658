"""KFP v1: the exit handler's task is made from the same component as the tasks it guards, first."""

from kfp import dsl
from kfp.components import func_to_container_op


@func_to_container_op
def print_op(msg: str) -> str:
    """Prints a message."""
    print(msg)
    return msg


@dsl.pipeline(name="Exit handler", description="Prints two messages, then one more whatever happens.")
def exit_handler_pipeline(message: str = "hello"):
    exit_task = print_op("exit!")
    with dsl.ExitHandler(exit_task):
        first = print_op(message)
        print_op(first.output)
