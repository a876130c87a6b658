"""KFP v1's DSL types (kfp.dsl.types) as annotations of a component and of a pipeline parameter."""

from kfp import dsl
from kfp.components import func_to_container_op
from kfp.dsl.types import GCSPath, Integer


@func_to_container_op
def double(number: Integer(), source: GCSPath()) -> int:
    print(f"doubling {number} from {source}")
    return number * 2


@dsl.pipeline(name="DSL types")
def dsl_types_pipeline(number: Integer() = 3, source: GCSPath() = "gs://bucket/numbers.txt"):
    double(number, source)
