"""KFP v1 (samples/core/dsl_static_type_checking): @dsl.component functions returning ContainerOps, with
kfp.dsl.types annotations."""

from kfp import dsl
from kfp.dsl.types import Integer, String


@dsl.component
def echo_op(msg: String(), times: Integer()) -> {"out": String()}:
    return dsl.ContainerOp(
        name="echo",
        image="library/bash:4.4.23",
        command=["sh", "-c", 'for i in $(seq "$1"); do printf "%s" "$0"; done > /tmp/out', msg, times],
        file_outputs={"out": "/tmp/out"},
    )


@dsl.pipeline(name="DSL component decorator")
def dsl_component_pipeline(msg: String() = "ab", times: Integer() = 2):
    first = echo_op(msg, times)
    echo_op(first.outputs["out"], 3)
