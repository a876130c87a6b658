"""KFP v1 features beyond the classic programs: a file passed into a condition, an output of a task
inside a condition used after it, a loop over literal records with parallelism, retries, caching and
timeout of one task, and PipelineConf's parallelism, timeout, TTL and image pull secrets."""

from kubernetes.client import V1LocalObjectReference
from kfp import dsl
from kfp.components import InputPath, OutputPath, create_component_from_func


def write_lines(count: int, lines_path: OutputPath("Text")):
    with open(lines_path, "w") as f:
        f.write("\n".join(f"line {i}" for i in range(count)))


def count_lines(lines_path: InputPath("Text")) -> int:
    with open(lines_path) as f:
        return len(f.read().splitlines())


def describe(label: str, weight: int) -> str:
    return f"{label} weighs {weight}"


def shout(number: int) -> str:
    return f"{number} lines!"


write_lines_op = create_component_from_func(write_lines)
count_lines_op = create_component_from_func(count_lines)
describe_op = create_component_from_func(describe)
shout_op = create_component_from_func(shout)

ARGUMENTS = {"count": "3", "threshold": "2"}


@dsl.pipeline(name="more-features")
def more_features_pipeline(count: int = 3, threshold: int = 2):
    lines = write_lines_op(count)
    lines.set_retry(2, backoff_duration="1s", backoff_factor=2)
    lines.set_timeout(60)
    lines.execution_options.caching_strategy.max_cache_staleness = "P0D"
    with dsl.Condition(count > threshold):
        counted = count_lines_op(lines.outputs["lines"])
    shout_op(counted.output)
    with dsl.ParallelFor([{"label": "a", "weight": 1}, {"label": "b", "weight": 2}], parallelism=1) as record:
        describe_op(record.label, record.weight)
    conf = dsl.get_pipeline_conf()
    conf.set_parallelism(4)
    conf.set_timeout(3600)
    conf.set_ttl_seconds_after_finished(86400)
    conf.set_image_pull_secrets([V1LocalObjectReference(name="registry")])
