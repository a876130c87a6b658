"""KFP v1: raw ContainerOp echo steps with node selector, affinity, toleration, resources and a
PipelineConf default node selector."""

from kubernetes.client import (
    V1Affinity,
    V1NodeAffinity,
    V1NodeSelector,
    V1NodeSelectorRequirement,
    V1NodeSelectorTerm,
    V1Toleration,
)
from kfp import dsl


def echo(name: str, text: str) -> dsl.ContainerOp:
    return dsl.ContainerOp(
        name=name,
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=[f'echo "{text}" | tee /tmp/output.txt'],
        file_outputs={"said": "/tmp/output.txt"},
    )


@dsl.pipeline(name="container-op-scheduling")
def scheduling_pipeline():
    first = echo("first", "hello")
    first.add_node_selector_constraint("application", "kubeflow")
    first.set_cpu_request("500m").set_memory_limit("1Gi")

    gpu = echo("gpu", "on a gpu")
    gpu.add_toleration(V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"))
    gpu.add_node_selector_constraint("accelerator", "nvidia-tesla-t4")
    gpu.set_gpu_limit(1)
    gpu.after(first)

    arm = echo("arm", "on arm")
    arm.add_affinity(V1Affinity(node_affinity=V1NodeAffinity(
        required_during_scheduling_ignored_during_execution=V1NodeSelector(node_selector_terms=[
            V1NodeSelectorTerm(match_expressions=[
                V1NodeSelectorRequirement(key="kubernetes.io/arch", operator="In", values=["arm64"])])]))))
    arm.after(first)

    dsl.get_pipeline_conf().set_default_pod_node_selector("team", "ml")
