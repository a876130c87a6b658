"""KFP v1 ContainerOp pod settings, VolumeOp and PipelineVolume: what a program sets lands on its task's
component (or the pipeline's volumes); what the restricted Pod Security profile or the API forbids is
refused by name."""

from __future__ import annotations

import re
from typing import Any

import pytest
from kubernetes import client as k8s

from kubeline import dsl
from kubeline.compiler import compile_pipeline
from kubeline.components import create_component_from_func

#: The engine's validation of {{volumes.NAME.name}} comes with the runtime helper's branch (issue 14).


def hello(name: str) -> str:
    return "hello " + name


hello_op = create_component_from_func(hello)


def compiled(configure: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The task and component of a one-step pipeline after ``configure(task)``."""

    @dsl.pipeline(name="p")
    def pipeline(name: str = "world"):
        configure(hello_op(name))

    spec = compile_pipeline(pipeline)["spec"]
    (task,) = spec["tasks"]
    (component,) = spec["components"]
    return task, component


def refusal(configure: Any) -> str:
    with pytest.raises(dsl.CompileError) as raised:
        compiled(configure)
    return str(raised.value)


# --- env --------------------------------------------------------------------------------------------------


def test_env_from_secrets_config_maps_and_pod_fields() -> None:
    def configure(task: dsl.ContainerOp) -> None:
        source = k8s.V1EnvVarSource
        task.add_env_variable(
            k8s.V1EnvVar(name="TOKEN", value_from=source(secret_key_ref=k8s.V1SecretKeySelector(name="api", key="t")))
        )
        task.add_env_variable(
            k8s.V1EnvVar(
                name="MODE", value_from=source(config_map_key_ref=k8s.V1ConfigMapKeySelector(name="cfg", key="m"))
            )
        )
        task.add_env_variable(
            k8s.V1EnvVar(
                name="KFP_POD_NAME", value_from=source(field_ref=k8s.V1ObjectFieldSelector(field_path="metadata.name"))
            )
        )
        task.add_env_from(k8s.V1EnvFromSource(prefix="S_", secret_ref=k8s.V1SecretEnvSource(name="all")))

    _, component = compiled(configure)
    assert component["container"]["env"] == [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "t"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "m"}}},
        {"name": "KFP_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    assert component["container"]["envFrom"] == [{"prefix": "S_", "secretRef": {"name": "all"}}]


def test_a_run_time_value_in_an_env_value_is_an_input_of_the_task() -> None:
    @dsl.pipeline(name="p")
    def pipeline(greeting: str = "hi"):
        hello_op("x").add_env_variable({"name": "GREETING", "value": f"{greeting}!"})

    spec = compile_pipeline(pipeline)["spec"]
    assert spec["components"][0]["container"]["env"] == [{"name": "GREETING", "value": "{{inputs.param-greeting}}!"}]
    assert spec["tasks"][0]["arguments"]["param-greeting"] == "{{params.greeting}}"


@pytest.mark.parametrize(
    ("value_from", "problem"),
    [
        ({"resourceFieldRef": {"resource": "limits.cpu"}}, "resourceFieldRef is not supported"),
        ({}, "set exactly one of secretKeyRef, configMapKeyRef and fieldRef"),
    ],
)
def test_env_sources_kubeline_has_no_field_for_are_refused(value_from: dict[str, Any], problem: str) -> None:
    message = refusal(lambda t: t.add_env_variable({"name": "X", "valueFrom": value_from}))
    assert "task 'hello': add_env_variable(): env variable 'X' value_from" in message
    assert problem in message


def test_a_secret_name_cannot_be_a_run_time_value() -> None:
    @dsl.pipeline(name="p")
    def pipeline(secret: str = "s"):
        hello_op("x").add_env_variable({"name": "X", "valueFrom": {"secretKeyRef": {"name": str(secret), "key": "k"}}})

    with pytest.raises(dsl.CompileError, match="cannot be a run-time value .* give it as text"):
        compile_pipeline(pipeline)


# --- volumes and mounts ---------------------------------------------------------------------------------------


def test_volumes_of_each_kind_and_their_mounts() -> None:
    def configure(task: dsl.ContainerOp) -> None:
        task.add_volume(k8s.V1Volume(name="scratch", empty_dir=k8s.V1EmptyDirVolumeSource(medium="Memory")))
        task.add_volume(k8s.V1Volume(name="key", secret=k8s.V1SecretVolumeSource(secret_name="sa", default_mode=0o400)))
        task.add_volume(k8s.V1Volume(name="cfg", config_map=k8s.V1ConfigMapVolumeSource(name="settings")))
        task.add_volume(
            k8s.V1Volume(name="data", persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name="c"))
        )
        task.container.add_volume_mount(k8s.V1VolumeMount(name="data", mount_path="/data", sub_path="in"))

    _, component = compiled(configure)
    assert component["volumes"] == [
        {"name": "scratch", "emptyDir": {"medium": "Memory"}},
        {"name": "key", "secret": {"secretName": "sa", "defaultMode": 0o400}},
        {"name": "cfg", "configMap": {"name": "settings"}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "c"}},
    ]
    assert component["container"]["volumeMounts"] == [{"name": "data", "mountPath": "/data", "subPath": "in"}]


@pytest.mark.parametrize(
    ("volume", "problem"),
    [
        (
            k8s.V1Volume(name="host", host_path=k8s.V1HostPathVolumeSource(path="/var")),
            "volume 'host' of kind hostPath is not supported: step pods run under Kubernetes' restricted Pod "
            "Security profile, which forbids it",
        ),
        (
            k8s.V1Volume(name="nfs", nfs=k8s.V1NFSVolumeSource(server="n", path="/")),
            "volume 'nfs' of kind nfs is not supported: step pods run under Kubernetes' restricted",
        ),
        (
            k8s.V1Volume(name="info", downward_api=k8s.V1DownwardAPIVolumeSource(items=[])),
            "volume 'info' of kind downwardAPI is not supported: kubeline's step pods take persistentVolumeClaim",
        ),
        (k8s.V1Volume(name="empty"), "volume 'empty' must set one of persistentVolumeClaim"),
        ({"name": "kubeline-data", "emptyDir": {}}, "not starting with 'kubeline'"),
    ],
)
def test_volumes_a_step_pod_cannot_take_are_refused_with_the_reason(volume: Any, problem: str) -> None:
    message = refusal(lambda t: t.add_volume(volume))
    assert message.startswith("task 'hello': add_volume(): ")
    assert problem in message


def test_two_volumes_at_one_mount_path_are_refused() -> None:
    def configure(task: dsl.ContainerOp) -> None:
        task.add_volume({"name": "a", "emptyDir": {}}).add_volume({"name": "b", "emptyDir": {}})
        task.add_volume_mount({"name": "a", "mountPath": "/x"}).add_volume_mount({"name": "b", "mountPath": "/x"})

    assert "/x is already the mount path of volume 'a'" in refusal(configure)


def test_an_existing_claim_named_by_a_parameter_is_an_input_and_pvolumes_order_the_tasks() -> None:
    @dsl.pipeline(name="p")
    def pipeline(claim: str = "shared"):
        write = hello_op("w").add_pvolumes({"/data": dsl.PipelineVolume(pvc=claim, name="shared")})
        read = hello_op("r").add_pvolumes({"/in": write.pvolume})
        hello_op("last").after(read)

    spec = compile_pipeline(pipeline)["spec"]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["hello"]["arguments"]["param-claim"] == "{{params.claim}}"
    assert "after" not in tasks["hello"]
    assert tasks["hello-2"]["after"] == ["hello"]  # it mounts the volume hello wrote to, as in KFP
    components = {c["name"]: c for c in spec["components"]}
    assert components["hello-2"]["volumes"] == [
        {"name": "shared", "persistentVolumeClaim": {"claimName": "{{inputs.param-claim}}"}}
    ]
    assert components["hello-2"]["container"]["volumeMounts"] == [{"name": "shared", "mountPath": "/in"}]
    assert "volumes" not in components["hello-3"]  # a task with no volume keeps the component as it was


# --- pod metadata, containers, pull policy, security context ------------------------------------------------------


def test_pod_labels_and_annotations_and_kfps_caching_keys() -> None:
    def configure(task: dsl.ContainerOp) -> None:
        task.add_pod_label("team", "ml").add_pod_annotation("example.com/owner", "me")
        task.add_pod_label("pipelines.kubeflow.org/enable_caching", "false")
        task.add_pod_annotation("pipelines.kubeflow.org/max_cache_staleness", "P0D")

    task, component = compiled(configure)
    assert component["podMetadata"] == {"labels": {"team": "ml"}, "annotations": {"example.com/owner": "me"}}
    assert task["caching"] == {"enabled": False, "maxStaleness": "P0D"}


def test_kubeline_pod_labels_are_kubelines_own() -> None:
    assert "keys under kubeline.dev/ are kubeline's own" in refusal(
        lambda t: t.add_pod_label("kubeline.dev/run", "mine")
    )


def test_sidecars_and_init_containers_take_run_time_values_as_inputs() -> None:
    @dsl.pipeline(name="p")
    def pipeline(port: str = "8080"):
        task = hello_op("x")
        task.add_volume({"name": "data", "emptyDir": {}}).add_volume_mount({"name": "data", "mountPath": "/data"})
        task.add_sidecar(dsl.Sidecar(name="server", image="nginx", args=["--port", port]))
        task.add_init_container(
            dsl.UserContainer(name="fetch", image="alpine", command=["sh", "-c", "true"], mirror_volume_mounts=True)
        )

    spec = compile_pipeline(pipeline)["spec"]
    (component,) = spec["components"]
    assert component["sidecars"] == [{"name": "server", "image": "nginx", "args": ["--port", "{{inputs.param-port}}"]}]
    assert component["initContainers"] == [
        {
            "name": "fetch",
            "image": "alpine",
            "command": ["sh", "-c", "true"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],  # mirror_volume_mounts: main's mounts
        }
    ]
    assert spec["tasks"][0]["arguments"]["param-port"] == "{{params.port}}"


def test_a_sidecar_with_ports_is_refused_by_field() -> None:
    message = refusal(lambda t: t.add_sidecar(dsl.Sidecar(name="s", image="nginx", ports=[{"containerPort": 80}])))
    assert "task 'hello': add_sidecar(): ports is not supported" in message


def test_image_pull_policy_and_a_security_context_within_the_profile() -> None:
    def configure(task: dsl.ContainerOp) -> None:
        task.container.set_image_pull_policy("Always")
        task.set_security_context(
            k8s.V1SecurityContext(
                run_as_user=1000,
                read_only_root_filesystem=True,
                capabilities=k8s.V1Capabilities(add=["NET_BIND_SERVICE"], drop=["ALL"]),
                seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
            )
        )

    _, component = compiled(configure)
    assert component["container"]["imagePullPolicy"] == "Always"
    assert component["container"]["securityContext"] == {
        "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        (k8s.V1SecurityContext(privileged=True), "privileged=True is refused: .* forbids privileged containers"),
        (k8s.V1SecurityContext(allow_privilege_escalation=True), "allowPrivilegeEscalation=True is refused"),
        (k8s.V1SecurityContext(run_as_user=0), r"runAsUser=0 is refused: .* forbids running as root \(user 0\)"),
        (k8s.V1SecurityContext(run_as_non_root=False), "runAsNonRoot=False is refused"),
        (
            k8s.V1SecurityContext(capabilities=k8s.V1Capabilities(add=["SYS_ADMIN"])),
            r"capabilities.add \['SYS_ADMIN'\] is refused: .* NET_BIND_SERVICE only",
        ),
        (
            k8s.V1SecurityContext(seccomp_profile=k8s.V1SeccompProfile(type="Unconfined")),
            "seccompProfile type 'Unconfined' is refused",
        ),
        (k8s.V1SecurityContext(proc_mount="Unmasked"), "procMount is not supported"),
    ],
)
def test_what_the_restricted_profile_forbids_is_refused_naming_the_field(context: Any, problem: str) -> None:
    message = refusal(lambda t: t.set_security_context(context))
    assert message.startswith("task 'hello': set_security_context(): ")
    assert re.search(problem, message), message


def test_an_unknown_pull_policy_is_refused() -> None:
    assert "use one of Always, IfNotPresent, Never" in refusal(lambda t: t.set_image_pull_policy("Sometimes"))


def test_container_op_keywords_set_the_same_fields() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        dsl.ContainerOp(
            name="echo",
            image="alpine",
            command=["env"],
            sidecars=[dsl.Sidecar(name="side", image="alpine", command=["sleep", "60"])],
            init_containers=[dsl.UserContainer(name="first", image="alpine", command=["true"])],
            pvolumes={"/data": dsl.PipelineVolume(pvc="existing", name="data")},
            container_kwargs={
                "env": [k8s.V1EnvVar(name="A", value="1")],
                "image_pull_policy": "Never",
                "security_context": k8s.V1SecurityContext(run_as_non_root=True),
                "working_dir": "/data",
                "resources": k8s.V1ResourceRequirements(limits={"memory": "1Gi"}),
            },
        )

    spec = compile_pipeline(pipeline)["spec"]
    (component,) = spec["components"]
    assert component["container"] == {
        "image": "alpine",
        "command": ["env"],
        "env": [{"name": "A", "value": "1"}],
        "workingDir": "/data",
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "imagePullPolicy": "Never",
        "securityContext": {"runAsNonRoot": True},
    }
    assert [c["name"] for c in component["sidecars"]] == ["side"]
    assert [c["name"] for c in component["initContainers"]] == ["first"]
    assert component["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "existing"}}]
    assert spec["tasks"][0]["resources"] == {"limits": {"memory": "1Gi"}}


def test_tasks_of_one_component_with_different_pod_settings_get_components_of_their_own() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        hello_op("a")
        hello_op("b").add_pod_label("team", "ml")
        hello_op("c")

    spec = compile_pipeline(pipeline)["spec"]
    assert [t["component"] for t in spec["tasks"]] == ["hello", "hello-2", "hello"]


# --- VolumeOp -------------------------------------------------------------------------------------------------


def volumes_of(build: Any) -> list[dict[str, Any]]:
    @dsl.pipeline(name="p")
    def pipeline(size: str = "2Gi"):
        build(size)
        hello_op("x")

    volumes: list[dict[str, Any]] = compile_pipeline(pipeline)["spec"]["volumes"]
    return volumes


def test_a_volume_op_is_a_pipeline_volume_owned_by_the_run_with_kfps_default_mode() -> None:
    assert volumes_of(lambda size: dsl.VolumeOp(name="create-pvc", resource_name="my-pvc", size="1Gi")) == [
        {"name": "my-pvc", "size": "1Gi", "accessModes": ["ReadWriteMany"]}
    ]


@pytest.mark.parametrize(
    "resource_name, volume", [("artifacts", "vol-artifacts"), ("kubeline-data", "vol-kubeline-data")]
)
def test_a_volume_op_named_as_kubelines_own_volumes_is_moved_aside(resource_name: str, volume: str) -> None:
    made = volumes_of(lambda size: dsl.VolumeOp(name="create-pvc", resource_name=resource_name, size="1Gi"))
    assert [v["name"] for v in made] == [volume]  # its claim is RUN-vol-…: never the run's own RUN-artifacts


def test_the_claim_name_of_a_volume_reads_as_on_kfps_v1volume() -> None:
    @dsl.pipeline(name="p")
    def pipeline(claim: str = "shared"):
        vop = dsl.VolumeOp(name="create-pvc", resource_name="my-pvc", size="1Gi")
        hello_op(vop.volume.persistent_volume_claim.claim_name)
        hello_op(dsl.PipelineVolume(pvc=claim).persistent_volume_claim.claim_name)
        assert dsl.PipelineVolume(pvc="fixed").persistent_volume_claim.claim_name == "fixed"

    tasks = compile_pipeline(pipeline)["spec"]["tasks"]
    assert [t["arguments"]["name"] for t in tasks] == ["{{volumes.my-pvc.name}}", "{{params.claim}}"]


def test_a_volume_op_with_every_setting() -> None:
    def build(size: Any) -> None:
        dsl.VolumeOp(
            name="data",
            resource_name="Shared Data",
            size=size,
            storage_class="fast",
            modes=dsl.VOLUME_MODE_RWO,
            annotations={"backup": "daily"},
            generate_unique_name=False,
        )

    assert volumes_of(build) == [
        {
            "name": "shared-data",
            "size": "{{params.size}}",
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "fast",
            "claimName": "shared-data",  # a fixed name every run reuses: kept by the API's rule
            "annotations": {"backup": "daily"},
        }
    ]


def test_set_owner_reference_false_written_out_keeps_the_claim() -> None:
    def build(size: Any) -> None:
        dsl.VolumeOp(name="v", resource_name="v", size="1Gi", set_owner_reference=False)
        dsl.VolumeOp(name="w", resource_name="w", size="1Gi", set_owner_reference=True)

    assert [v.get("keep") for v in volumes_of(build)] == [True, None]


@pytest.mark.parametrize(
    ("keywords", "problem"),
    [
        ({"data_source": "snap"}, "data_source=... is not supported: kubeline creates empty claims"),
        ({"volume_name": "pv-1"}, "volume_name=... is not supported"),
        ({"action": "apply"}, "action='apply' is not supported"),
        ({"k8s_resource": object()}, "k8s_resource=... is not supported"),
        ({"size": "lots"}, "size 'lots': give a whole number"),
        ({"size": None}, "size None: give a whole number"),
        ({"resource_name": None}, "give resource_name"),
    ],
)
def test_volume_op_settings_kubeline_cannot_honour(keywords: dict[str, Any], problem: str) -> None:
    settings = {"resource_name": "data", "size": "1Gi", **keywords}
    with pytest.raises(dsl.CompileError, match="VolumeOp 'v': ") as raised:
        volumes_of(lambda size: dsl.VolumeOp(name="v", **settings))
    assert problem in str(raised.value)


def test_a_volume_op_sized_by_a_task_output_is_refused() -> None:
    with pytest.raises(dsl.CompileError, match="size can be a pipeline parameter, not a task output"):
        volumes_of(lambda size: dsl.VolumeOp(name="v", resource_name="v", size=hello_op("x").output))


def test_two_volume_ops_making_one_claim_are_refused() -> None:
    def build(size: Any) -> None:
        dsl.VolumeOp(name="a", resource_name="data", size="1Gi")
        dsl.VolumeOp(name="b", resource_name="data", size="1Gi")

    with pytest.raises(dsl.CompileError, match="VolumeOps 'a' and 'b' both make a volume named 'data'"):
        volumes_of(build)


@pytest.mark.parametrize("op", [dsl.ResourceOp, dsl.VolumeSnapshotOp])
def test_resource_ops_are_refused(op: Any) -> None:
    with pytest.raises(dsl.CompileError, match="is not supported"):
        op(name="x", k8s_resource={})


def test_volume_op_outputs_are_volume_placeholders() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        vop = dsl.VolumeOp(name="create-pvc", resource_name="my-pvc", size="1Gi")
        hello_op(vop.outputs["name"])
        hello_op(f"{vop.output} of {vop.outputs['size']}")
        dsl.ContainerOp(name="mount", image="alpine", command=["ls", "/mnt"]).add_pvolumes({"/mnt": vop.volume}).after(
            vop
        )

    spec = compile_pipeline(pipeline)["spec"]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["hello"]["arguments"] == {"name": "{{volumes.my-pvc.name}}"}
    assert tasks["hello-2"]["arguments"] == {"name": "{{volumes.my-pvc.name}} of {{volumes.my-pvc.size}}"}
    assert tasks["mount"]["arguments"] == {"create-pvc-name": "{{volumes.my-pvc.name}}"}
    assert "after" not in tasks["mount"]  # the claim exists before the first step


def test_a_volume_op_in_a_loop_is_one_volume_of_the_run() -> None:
    @dsl.pipeline(name="p")
    def pipeline():
        with dsl.ParallelFor([1, 2]) as item:
            vop = dsl.VolumeOp(name="scratch", resource_name="scratch", size="1Gi")
            hello_op(item).add_pvolumes({"/scratch": vop.volume})

    spec = compile_pipeline(pipeline)["spec"]
    assert [v["name"] for v in spec["volumes"]] == ["scratch"]
    (loop,) = spec["tasks"]
    assert loop["dag"]["tasks"][0]["arguments"]["scratch-name"] == "{{volumes.scratch.name}}"


def test_helper_modules_import_as_kfps() -> None:
    import kubeline.aws
    import kubeline.gcp
    import kubeline.onprem

    assert kubeline.gcp.use_gcp_secret and kubeline.aws.use_aws_secret and kubeline.onprem.mount_pvc


def test_use_tpu_and_preemptible_nodes() -> None:
    import kubeline.gcp

    def configure(task: dsl.ContainerOp) -> None:
        task.apply(kubeline.gcp.use_tpu(tpu_cores=8, tpu_resource="v3", tf_version="2.1"))
        task.apply(kubeline.gcp.use_preemptible_nodepool(hard_constraint=True))

    task, component = compiled(configure)
    assert task["resources"] == {"limits": {"cloud-tpus.google.com/v3": "8"}}
    assert component["podMetadata"] == {"annotations": {"tf-version.cloud-tpus.google.com": "2.1"}}
    assert task["tolerations"] == [{"effect": "NoSchedule", "key": "preemptible", "operator": "Equal", "value": "true"}]
    required = task["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["nodeSelectorTerms"][0]["matchExpressions"][0]["key"] == "cloud.google.com/gke-preemptible"
