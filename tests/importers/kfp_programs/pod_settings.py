"""ContainerOp pod settings as the KFP docs use them: env from a Secret, a ConfigMap and the pod's fields, envFrom,
a Secret volume and an emptyDir mounted, a sidecar and an init container (with the main container's mounts), pod
labels and annotations, the pull policy, a security context, and the run's id and pod name in texts."""

from kfp import dsl
from kubernetes.client import (
    V1ConfigMapEnvSource,
    V1ConfigMapKeySelector,
    V1EmptyDirVolumeSource,
    V1EnvFromSource,
    V1EnvVar,
    V1EnvVarSource,
    V1ObjectFieldSelector,
    V1SecretKeySelector,
    V1SecretVolumeSource,
    V1SecurityContext,
    V1Volume,
    V1VolumeMount,
)

ARGUMENTS = {}


@dsl.pipeline(name="Pod features", description="Every pod setting of a ContainerOp.")
def pod_features_pipeline(output_dir: str = "gs://bucket/" + dsl.RUN_ID_PLACEHOLDER):
    op = dsl.ContainerOp(
        name="train",
        image="python:3.11-slim",
        command=["sh", "-c"],
        arguments=["echo {{pod.name}} {{workflow.uid}} %s > /tmp/out" % output_dir],
        file_outputs={"out": "/tmp/out"},
    )
    op.add_env_variable(
        V1EnvVar(name="TOKEN", value_from=V1EnvVarSource(secret_key_ref=V1SecretKeySelector(name="creds", key="token")))
    )
    op.add_env_variable(
        V1EnvVar(
            name="MODE",
            value_from=V1EnvVarSource(config_map_key_ref=V1ConfigMapKeySelector(name="settings", key="mode")),
        )
    )
    op.add_env_variable(
        V1EnvVar(name="KFP_POD_NAME", value_from=V1EnvVarSource(field_ref=V1ObjectFieldSelector(field_path="metadata.name")))
    )
    op.add_env_variable(
        V1EnvVar(
            name="KFP_NAMESPACE",
            value_from=V1EnvVarSource(field_ref=V1ObjectFieldSelector(field_path="metadata.namespace")),
        )
    )
    op.add_env_from(V1EnvFromSource(prefix="CFG_", config_map_ref=V1ConfigMapEnvSource(name="settings")))
    op.add_volume(V1Volume(name="creds", secret=V1SecretVolumeSource(secret_name="creds")))
    op.add_volume_mount(V1VolumeMount(name="creds", mount_path="/secrets", read_only=True))
    op.add_volume(V1Volume(name="scratch", empty_dir=V1EmptyDirVolumeSource(medium="Memory")))
    op.add_volume_mount(V1VolumeMount(name="scratch", mount_path="/scratch"))
    op.add_sidecar(dsl.Sidecar(name="proxy", image="envoyproxy/envoy:v1.28", args=["--log-level", "warn"]))
    op.add_init_container(
        dsl.UserContainer(name="fetch", image="alpine", command=["sh", "-c", "echo init"], mirror_volume_mounts=True)
    )
    op.add_pod_label("team", "ml")
    op.add_pod_annotation("example.com/owner", "alice")
    op.set_image_pull_policy("Always")
    op.set_security_context(V1SecurityContext(run_as_user=1000, allow_privilege_escalation=False))
