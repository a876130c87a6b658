"""KFP v1 ContainerOp methods as the KFP docs and samples use them: env from Secrets, ConfigMaps and the
pod's fields, envFrom, volumes and mounts, pod labels and annotations, a sidecar, an init container, the
image pull policy and a security context, the same through ContainerOp's keywords, and op.container."""

from kubernetes import client as k8s_client
from kfp import dsl


@dsl.pipeline(name="container-op-methods", description="Every ContainerOp pod setting.")
def container_op_methods(greeting: str = "hello"):
    op = dsl.ContainerOp(
        name="greet",
        image="library/bash:4.4.23",
        command=["sh", "-c"],
        arguments=['echo "$GREETING from $POD_NAME" | tee /scratch/said.txt /tmp/said.txt'],
        file_outputs={"said": "/tmp/said.txt"},
    )
    op.add_env_variable(k8s_client.V1EnvVar(name="GREETING", value=str(greeting)))
    op.add_env_variable(
        k8s_client.V1EnvVar(
            name="POD_NAME",
            value_from=k8s_client.V1EnvVarSource(
                field_ref=k8s_client.V1ObjectFieldSelector(field_path="metadata.name")
            ),
        )
    )
    op.add_env_variable(
        k8s_client.V1EnvVar(
            name="API_TOKEN",
            value_from=k8s_client.V1EnvVarSource(
                secret_key_ref=k8s_client.V1SecretKeySelector(name="api", key="token", optional=True)
            ),
        )
    )
    op.add_env_variable(
        k8s_client.V1EnvVar(
            name="MODE",
            value_from=k8s_client.V1EnvVarSource(
                config_map_key_ref=k8s_client.V1ConfigMapKeySelector(name="settings", key="mode", optional=True)
            ),
        )
    )
    op.add_env_from(
        k8s_client.V1EnvFromSource(
            prefix="CFG_", config_map_ref=k8s_client.V1ConfigMapEnvSource(name="settings", optional=True)
        )
    )
    op.add_volume(k8s_client.V1Volume(name="scratch", empty_dir=k8s_client.V1EmptyDirVolumeSource()))
    op.container.add_volume_mount(k8s_client.V1VolumeMount(name="scratch", mount_path="/scratch"))
    op.add_volume(
        k8s_client.V1Volume(
            name="settings", config_map=k8s_client.V1ConfigMapVolumeSource(name="settings", optional=True)
        )
    )
    op.container.add_volume_mount(
        k8s_client.V1VolumeMount(name="settings", mount_path="/etc/settings", read_only=True)
    )
    op.add_pod_label("team", "ml")
    op.add_pod_annotation("example.com/owner", "data-science")
    op.add_sidecar(
        dsl.Sidecar(name="echo-server", image="library/bash:4.4.23", command=["sh", "-c", "sleep 3600"])
    )
    op.add_init_container(
        dsl.UserContainer(
            name="prepare",
            image="library/bash:4.4.23",
            command=["sh", "-c", "echo ready > /scratch/ready"],
            mirror_volume_mounts=True,
        )
    )
    op.container.set_image_pull_policy("IfNotPresent")
    op.container.set_security_context(
        k8s_client.V1SecurityContext(
            run_as_user=1000, run_as_non_root=True, capabilities=k8s_client.V1Capabilities(drop=["ALL"])
        )
    )

    dsl.ContainerOp(
        name="keywords",
        image="library/bash:4.4.23",
        command=["sh", "-c", "echo $WHO | tee /tmp/who.txt"],
        file_outputs={"who": "/tmp/who.txt"},
        sidecars=[dsl.Sidecar(name="helper", image="library/bash:4.4.23", args=["sleep", "3600"])],
        init_containers=[dsl.UserContainer(name="setup", image="library/bash:4.4.23", command=["true"])],
        container_kwargs={
            "env": [k8s_client.V1EnvVar(name="WHO", value="keywords")],
            "image_pull_policy": "Always",
        },
    ).after(op)
