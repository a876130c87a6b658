"""KFP v1 as most tutorials write it: `import kfp` alone, then kfp.dsl, kfp.components and kfp.compiler."""

import kfp


def add(a: float, b: float) -> float:
    """Adds two numbers."""
    return a + b


add_op = kfp.components.func_to_container_op(add)


@kfp.dsl.pipeline(name="Addition pipeline", description="Adds a, 4 and b.")
def add_pipeline(a: float = 1, b: float = 7):
    first_add_task = add_op(a, 4)
    add_op(first_add_task.output, b)


if __name__ == "__main__":
    kfp.compiler.Compiler().compile(add_pipeline, __file__.replace(".py", ".yaml"))
