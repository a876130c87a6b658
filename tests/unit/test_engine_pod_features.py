"""The engine's side of step pods' features and pipeline volumes: validation (each problem naming its field),
rendering per step, and what {{volumes.NAME.*}} resolves to."""

from __future__ import annotations

from typing import Any

import pytest

from kubeline.api import models
from kubeline.api.problems import PipelineInvalid
from kubeline.engine.container import render_container
from kubeline.engine.run import bind_arguments, decide
from kubeline.engine.state import RunState
from kubeline.engine.volumes import claim_name
from tests.helpers import pipeline, task
from tests.unit.simulate import plan_of


def mounting(**component: Any) -> dict[str, Any]:
    """A component with a pvc input, mounting its volume at /mnt/data; ``component`` adds or replaces fields."""
    return {
        "name": "mounting",
        "inputs": [{"name": "pvc"}, {"name": "a", "optional": True}],
        "container": {
            "image": "x",
            "command": ["sh", "-c", "ls /mnt/data"],
            "volumeMounts": [{"name": "data", "mountPath": "/mnt/data"}],
        },
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "{{inputs.pvc}}"}}],
        **component,
    }


def spec_with(component: dict[str, Any], arguments: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    document = pipeline([task("t", "mounting", arguments=arguments or {"pvc": "claim"})], **spec)
    document["spec"]["components"] = [*document["spec"]["components"], component]
    return document


def issues_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(PipelineInvalid) as caught:
        plan_of(document)
    return [str(issue) for issue in caught.value.issues]


SIDE = {"name": "helper", "image": "busybox"}


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param(
            spec_with(
                mounting(container={**mounting()["container"], "volumeMounts": [{"name": "nope", "mountPath": "/x"}]})
            ),
            "spec.components[mounting].container.volumeMounts[nope]: names no volume of the component (its volumes: data)",
            id="mount of an unknown volume",
        ),
        pytest.param(
            spec_with(
                mounting(
                    sidecars=[{**SIDE, "volumeMounts": [{"name": "ghost", "mountPath": "/g"}]}],
                )
            ),
            "spec.components[mounting].sidecars[helper].volumeMounts[ghost]: names no volume",
            id="sidecar's mount of an unknown volume",
        ),
        pytest.param(
            spec_with(
                mounting(
                    volumes=[{"name": "kubeline-data", "emptyDir": {}}],
                    container={"image": "x", "volumeMounts": [{"name": "kubeline-data", "mountPath": "/d"}]},
                )
            ),
            "spec.components[mounting].volumes[kubeline-data]: 'kubeline-data': names starting with kubeline are "
            "kubeline's own",
            id="volume named like kubeline's",
        ),
        pytest.param(
            spec_with(
                mounting(
                    container={
                        **mounting()["container"],
                        "volumeMounts": [{"name": "data", "mountPath": "/kubeline/x"}],
                    }
                )
            ),
            "volumeMounts[data].mountPath: /kubeline/x: /kubeline is kubeline's own folder",
            id="mount over kubeline's folder",
        ),
        pytest.param(
            spec_with(mounting(sidecars=[{**SIDE, "name": "main"}])),
            "spec.components[mounting].sidecars[main].name: 'main' is kubeline's own container name",
            id="sidecar named main",
        ),
        pytest.param(
            spec_with(mounting(sidecars=[SIDE], initContainers=[SIDE])),
            "spec.components[mounting].initContainers[helper].name: duplicate container name",
            id="two containers of one name",
        ),
        pytest.param(
            spec_with(mounting(sidecars=[{**SIDE, "args": ["{{outputs.out.path}}"]}], outputs=[{"name": "out"}])),
            "spec.components[mounting].sidecars[helper].args: {{outputs.out.path}} is a file of the step's main "
            "container",
            id="sidecar reading main's files",
        ),
        pytest.param(
            spec_with(mounting(initContainers=[{**SIDE, "env": [{"name": "V", "value": "{{inputs.nope}}"}]}])),
            "spec.components[mounting].initContainers[helper].env[V]: {{inputs.nope}} names no input of the "
            "component (its inputs: a, pvc)",
            id="init container's unknown input",
        ),
        pytest.param(
            spec_with(mounting(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "{{params.x}}"}}])),
            "spec.components[mounting].volumes[data].persistentVolumeClaim.claimName: {{params.x}} cannot be used "
            "in a component's container",
            id="task placeholder in a claim name",
        ),
        pytest.param(
            spec_with(
                mounting(), arguments={"pvc": "{{volumes.nope.name}}"}, volumes=[{"name": "data", "size": "1Gi"}]
            ),
            "spec.tasks[t].arguments.pvc: unknown volume 'nope' (spec.volumes declares: data)",
            id="unknown pipeline volume",
        ),
        pytest.param(
            spec_with(mounting(), outputs={"claim": "{{volumes.none.name}}"}),
            "spec.outputs.claim: unknown volume 'none' (spec.volumes declares: none)",
            id="unknown volume in outputs, none declared",
        ),
        pytest.param(
            spec_with(mounting(), volumes=[{"name": "v", "size": "1Gi"}, {"name": "v", "size": "2Gi"}]),
            "spec.volumes[v]: duplicate volume name",
            id="two volumes of one name",
        ),
        pytest.param(
            spec_with(mounting(), volumes=[{"name": "v", "size": "lots"}]),
            "spec.volumes[v].size: 'lots' is not a Kubernetes quantity: write e.g. 1Gi, 500Mi, or {{params.NAME}}",
            id="a size that is no quantity",
        ),
        pytest.param(
            spec_with(mounting(), volumes=[{"name": "v", "size": "{{params.size}}"}]),
            "spec.volumes[v].size: {{params.size}}: unknown parameter 'size'; declare it in spec.params",
            id="a size from an undeclared parameter",
        ),
        pytest.param(
            spec_with(mounting(podMetadata={"labels": {"bad key!": "ok"}})),
            "spec.components[mounting].podMetadata.labels[bad key!]: 'bad key!' is not a valid key",
            id="label key with a space",
        ),
        pytest.param(
            spec_with(mounting(podMetadata={"labels": {"team": "has space"}})),
            "spec.components[mounting].podMetadata.labels[team]: 'has space' is not a valid label value",
            id="label value with a space",
        ),
        pytest.param(
            spec_with(mounting(podMetadata={"annotations": {"-x.io/note": "any text is fine"}})),
            "spec.components[mounting].podMetadata.annotations[-x.io/note]: '-x.io/note' is not a valid key",
            id="annotation key with a bad prefix",
        ),
        pytest.param(
            spec_with(
                mounting(
                    volumes=[{"name": "data", "emptyDir": {}}, {"name": "b", "emptyDir": {}}],
                    container={
                        "image": "x",
                        "volumeMounts": [{"name": "data", "mountPath": "/mnt"}, {"name": "b", "mountPath": "/mnt/"}],
                    },
                )
            ),
            "spec.components[mounting].container.volumeMounts[b].mountPath: /mnt/: another mount of this container "
            "uses that path",
            id="two mounts at one path",
        ),
        pytest.param(
            spec_with(
                mounting(
                    container={
                        "image": "x",
                        "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "a/../.."}],
                    }
                )
            ),
            "spec.components[mounting].container.volumeMounts[data].subPath: 'a/../..': write a path inside the "
            "volume, relative and without '..'",
            id="subPath climbing out",
        ),
        pytest.param(
            spec_with(
                mounting(sidecars=[{**SIDE, "volumeMounts": [{"name": "data", "mountPath": "/d", "subPath": "/etc"}]}])
            ),
            "spec.components[mounting].sidecars[helper].volumeMounts[data].subPath: '/etc'",
            id="absolute subPath in a sidecar",
        ),
        pytest.param(
            spec_with(
                mounting(
                    volumes=[{"name": "s", "secret": {"secretName": "x", "items": [{"key": "k", "path": "../x"}]}}]
                )
            ),
            "spec.components[mounting].volumes[s].secret.items[k].path: '../x': write a path inside the volume",
            id="secret item path climbing out",
        ),
        pytest.param(
            spec_with(mounting(volumes=[{"name": "s", "configMap": {"name": "x", "defaultMode": 4096}}])),
            "spec.components[mounting].volumes[s].configMap.defaultMode: 4096 is not a file mode: use 0 to 511",
            id="defaultMode too large",
        ),
        pytest.param(
            spec_with(
                mounting(
                    volumes=[
                        {"name": "s", "secret": {"secretName": "x", "items": [{"key": "k", "path": "k", "mode": -1}]}}
                    ]
                )
            ),
            "spec.components[mounting].volumes[s].secret.items[k].mode: -1 is not a file mode",
            id="negative item mode",
        ),
        pytest.param(
            spec_with(mounting(container={**mounting()["container"], "env": [{"name": "A=B", "value": "x"}]})),
            "spec.components[mounting].container.env[A=B].name: 'A=B' is not a variable name",
            id="variable name with =",
        ),
        pytest.param(
            spec_with(mounting(initContainers=[{**SIDE, "env": [{"name": "1X", "value": "x"}]}])),
            "spec.components[mounting].initContainers[helper].env[1X].name: '1X' is not a variable name",
            id="init container variable starting with a digit",
        ),
        pytest.param(
            spec_with(
                mounting(
                    sidecars=[{**SIDE, "resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1000Mi"}}}]
                )
            ),
            "spec.components[mounting].sidecars[helper].resources.requests.memory: requests 2Gi is over limits 1000Mi",
            id="sidecar requesting over its limit",
        ),
        pytest.param(
            spec_with(
                mounting(
                    inputs=[{"name": "pvc"}, {"name": "model", "type": "artifact"}],
                    sidecars=[{**SIDE, "args": ["{{inputs.model}}"]}],
                )
            ),
            "spec.components[mounting].sidecars[helper].args: {{inputs.model}} is an artifact, a file of the step's "
            "main container",
            id="artifact input in a sidecar",
        ),
        pytest.param(
            spec_with(
                mounting(
                    inputs=[{"name": "pvc", "type": "artifact"}],
                )
            ),
            "spec.components[mounting].volumes[data].persistentVolumeClaim.claimName: {{inputs.pvc}} is an artifact",
            id="artifact input as a claim name",
        ),
        pytest.param(
            spec_with(mounting(), volumes=[{"name": "artifacts", "size": "1Gi"}]),
            "spec.volumes[artifacts].name: 'artifacts' is kubeline's own: its claim, RUN-artifacts, is the run's "
            "artifact volume; rename the volume",
            id="volume named artifacts",
        ),
        pytest.param(
            spec_with(mounting(), volumes=[{"name": "kubeline-cache", "size": "1Gi"}]),
            "spec.volumes[kubeline-cache].name: 'kubeline-cache': names starting with kubeline are kubeline's own",
            id="volume named like kubeline's",
        ),
    ],
)
def test_each_problem_names_its_field(document: dict[str, Any], expected: str) -> None:
    found = issues_of(document)
    assert any(expected in issue for issue in found), found


def test_a_component_using_every_pod_feature_is_valid() -> None:
    component = mounting(
        container={
            **mounting()["container"],
            "args": ["{{pod.name}}"],
            "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "envFrom": [{"secretRef": {"name": "creds"}}],
        },
        sidecars=[{**SIDE, "args": ["{{inputs.a}}", "{{pod.name}}"]}],
        initContainers=[{"name": "prepare", "image": "busybox", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
        podMetadata={
            "labels": {"team": "ml", "example.com/tier": "a.b_c-1"},
            "annotations": {"note": "any text: at all"},
        },
    )
    plan_of(spec_with(component, arguments={"pvc": "{{volumes.data.name}}"}, volumes=[{"name": "data", "size": "1Gi"}]))


def start_of(document: dict[str, Any], run: str = "run-1") -> Any:
    plan = plan_of(document)
    return decide(plan, {}, RunState(started_at=0, identity={"name": run}), 0).start[0]


def test_rendering_fills_placeholders_in_every_container_and_claim() -> None:
    component = mounting(
        container={
            **mounting()["container"],
            "args": ["--pod={{pod.name}}", "{{inputs.a}}"],
            "env": [
                {"name": "A", "value": "{{inputs.a}}"},
                {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            ],
            "envFrom": [{"prefix": "DB_", "configMapRef": {"name": "db"}}],
        },
        sidecars=[
            {**SIDE, "command": ["serve"], "args": ["{{inputs.a}}"], "env": [{"name": "P", "value": "{{pod.name}}"}]}
        ],
        initContainers=[{"name": "prepare", "image": "busybox", "args": ["{{inputs.pvc}}"]}],
    )
    document = spec_with(component, arguments={"pvc": "{{volumes.data.name}}", "a": "A1"})
    document["spec"]["volumes"] = [{"name": "data", "size": "1Gi"}]
    rendered = render_container(start_of(document), str, str, pod_name="the-pod")
    assert rendered.args == ["--pod=the-pod", "A1"]
    assert rendered.env == {"A": "A1"}
    assert [e.name for e in rendered.env_sources] == ["NS"]
    assert rendered.env_from[0].prefix == "DB_"
    assert rendered.volumes[0].persistent_volume_claim is not None
    assert rendered.volumes[0].persistent_volume_claim.claim_name == "run-1-data"
    assert [m.mount_path for m in rendered.volume_mounts] == ["/mnt/data"]
    side = rendered.sidecars[0]
    assert (side.command, side.args, side.env[0].value if side.env else None) == (["serve"], ["A1"], "the-pod")
    assert rendered.init_containers[0].args == ["run-1-data"]


@pytest.mark.parametrize(
    "volume, run, expected",
    [
        ({"name": "data", "size": "1Gi"}, "run-1", "run-1-data"),
        ({"name": "data", "size": "1Gi", "claimName": "shared"}, "run-1", "shared"),
        ({"name": "v" * 40, "size": "1Gi"}, "r" * 40, None),  # too long: shortened, a digest keeps it distinct
    ],
)
def test_claim_names(volume: dict[str, Any], run: str, expected: str | None) -> None:
    name = claim_name(run, models.PipelineVolume.model_validate(volume))
    if expected is not None:
        assert name == expected
    else:
        assert len(name) <= 63 and name[-1].isalnum()
        assert name != claim_name("r" * 39 + "s", models.PipelineVolume.model_validate(volume))


def test_volume_placeholders_resolve_in_arguments_conditions_and_outputs() -> None:
    document = pipeline(
        [
            task("t", arguments={"a": "{{volumes.data.name}}", "b": "{{volumes.data.size}}"}),
            task("u", arguments={"a": "kept"}, when="'{{volumes.data.size}}' == '2Gi'"),
        ],
        volumes=[{"name": "data", "size": "2Gi"}],
        outputs={"claim": "{{volumes.data.name}}"},
    )
    starts = {start.task: start for start in start_all(document)}
    assert starts["t"].inputs == {"a": "run-1-data", "b": "2Gi"}
    assert "u" in starts


def test_a_size_given_by_a_parameter_takes_the_runs_argument() -> None:
    document = pipeline(
        [task("t", arguments={"a": "{{volumes.data.size}}"})],
        volumes=[{"name": "data", "size": "{{params.size}}"}],
        params=[{"name": "size", "default": "1Gi"}],
    )
    plan = plan_of(document)
    started = decide(plan, {"size": "3Gi"}, RunState(started_at=0, identity={"name": "run-1"}), 0).start
    assert started[0].inputs == {"a": "3Gi"}
    with pytest.raises(ValueError, match=r"spec.volumes\[data\].size: parameter 'size' is 'huge', not a Kubernetes"):
        bind_arguments(plan, {"size": "huge"})  # refused before the run starts, on both backends


def start_all(document: dict[str, Any]) -> list[Any]:
    plan = plan_of(document)
    return decide(plan, {}, RunState(started_at=0, identity={"name": "run-1"}), 0).start
