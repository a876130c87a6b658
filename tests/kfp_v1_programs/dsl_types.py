"""KFP v1's DSL types (kfp.dsl.types) as annotations: a GCSPath() input fed by a GCSPath() pipeline parameter (KFP
checks the two agree), beside plain Python types."""

from kfp import dsl
from kfp.components import func_to_container_op
from kfp.dsl.types import GCSPath


@func_to_container_op
def double(number: int, source: GCSPath()) -> int:
    print(f"doubling {number} from {source}")
    return number * 2


@dsl.pipeline(name="DSL types")
def dsl_types_pipeline(number: int = 3, source: GCSPath() = "gs://bucket/numbers.txt"):
    double(number, source)
