"""The local runner and what a step's pod would have: volumes as folders, variables read from the pod, and a
warning for what a machine has no equivalent of (Secrets, ConfigMaps, sidecars, init containers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeline.backends.local import LocalRunner, RunResult
from kubeline.backends.local.pod import ClaimFolders, LocalPod
from kubeline.engine.run import bind_arguments
from tests.unit.simulate import plan_of


def sh(name: str, script: str, mounts: dict[str, str] | None = None, **component: Any) -> dict[str, Any]:
    """A component running ``script`` with sh, its output ``out`` at $0, mounting claim {{inputs.pvc}} at each
    of ``mounts`` (mount path -> sub path, '' for the volume's root)."""
    mounts = mounts or {}
    container: dict[str, Any] = {"image": "busybox", "command": ["sh", "-c", script, "{{outputs.out.path}}"]}
    if mounts:
        container["volumeMounts"] = [
            {"name": "data", "mountPath": path, **({"subPath": sub} if sub else {})} for path, sub in mounts.items()
        ]
    return {
        "name": name,
        "inputs": [{"name": "pvc"}] if mounts else [],
        "outputs": [{"name": "out"}],
        "container": {**container, **component.pop("container", {})},
        **({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "{{inputs.pvc}}"}}]} if mounts else {}),
        **component,
    }


def run(tmp_path: Path, name: str, spec: dict[str, Any], warnings: list[str] | None = None) -> RunResult:
    plan = plan_of({"spec": spec})
    runner = LocalRunner(
        plan,
        bind_arguments(plan, {}),
        name,
        run_dir=tmp_path / "runs" / name,
        cache=None,
        shared_volumes=tmp_path / "shared",
        warn=(warnings if warnings is not None else []).append,
    )
    return runner.run()


def producer_consumer(volume: dict[str, Any]) -> dict[str, Any]:
    return {
        "components": [
            sh("produce", "echo 42 > /mnt/data/model; echo made > $0", {"/mnt/data": ""}),
            sh("consume", "cat /mnt/shared/model > $0", {"/mnt/shared": ""}),
        ],
        "tasks": [
            {"name": "p", "component": "produce", "arguments": {"pvc": "{{volumes.v.name}}"}},
            {"name": "c", "component": "consume", "arguments": {"pvc": "{{volumes.v.name}}"}, "after": ["p"]},
        ],
        "volumes": [volume],
    }


def test_steps_share_a_pipeline_volume_as_a_folder_of_the_run(tmp_path: Path) -> None:
    result = run(tmp_path, "r1", producer_consumer({"name": "v", "size": "1Gi"}))
    assert result.decision.phase == "Succeeded", result.decision.message
    assert result.state.steps["c"].outputs == {"out": "42"}
    folder = tmp_path / "runs" / "r1" / "volumes" / "r1-v"
    assert (folder / "model").read_text() == "42\n"
    assert f"kubeline (local): volume data: /mnt/data is the folder {folder}\n" in result.logs["p"].read_text()
    assert not (tmp_path / "shared").exists()


def test_a_fixed_claim_name_is_one_folder_for_every_run(tmp_path: Path) -> None:
    spec = producer_consumer({"name": "v", "size": "1Gi", "claimName": "team-data"})
    run(tmp_path, "r1", spec)
    reader = {**spec, "tasks": [{**spec["tasks"][1], "after": []}]}
    second = run(tmp_path, "r2", reader)
    assert second.state.steps["c"].outputs == {"out": "42"}
    assert (tmp_path / "shared" / "team-data" / "model").is_file()


def test_mount_paths_are_replaced_at_a_path_boundary_and_sub_paths_are_folders_inside(tmp_path: Path) -> None:
    script = "echo x > /mnt/d/f; echo /mnt/database /mnt/d /mnt/d/f x/mnt/d > $0"
    spec = {
        "components": [sh("w", script, {"/mnt/d": "part", "/mnt/d/inner": ""})],
        "tasks": [{"name": "w", "component": "w", "arguments": {"pvc": "shared-claim"}}],
    }
    result = run(tmp_path, "r1", spec)
    folder = tmp_path / "shared" / "shared-claim"
    assert result.state.steps["w"].outputs == {"out": f"/mnt/database {folder}/part {folder}/part/f x/mnt/d"}
    assert (folder / "part" / "f").read_text() == "x\n"


@pytest.mark.parametrize("claim", ["", "Bad_Name", "../x"])
def test_a_claim_name_that_is_no_name_fails_the_step_and_touches_no_shared_volume(tmp_path: Path, claim: str) -> None:
    (tmp_path / "shared" / "other-run-data").mkdir(parents=True)
    (tmp_path / "shared" / "other-run-data" / "secret").write_text("theirs")
    spec = {
        "components": [sh("w", "ls /mnt/d > $0", {"/mnt/d": ""})],
        "tasks": [{"name": "w", "component": "w", "arguments": {"pvc": claim}}],
    }
    result = run(tmp_path, "r1", spec)
    assert result.decision.phase == "Failed"
    message = result.decision.views["w"].message
    assert "volumes[data].persistentVolumeClaim.claimName '{{inputs.pvc}}'" in message, message
    assert "pass the name of an existing PersistentVolumeClaim" in message
    assert "w" not in result.state.steps  # the step never ran
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["other-run-data"]


def test_the_shared_volumes_root_is_no_claims_folder(tmp_path: Path) -> None:
    claims = ClaimFolders(tmp_path / "run", tmp_path / "shared", set())
    with pytest.raises(ValueError, match="claim name is empty"):
        claims.folder("")
    assert claims.folder("data") == tmp_path / "shared" / "data"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("/mnt/data", "/F"),
        ("/mnt/data/x/y", "/F/x/y"),
        ("--out=/mnt/data/x", "--out=/F/x"),
        ("'/mnt/data'", "'/F'"),
        ("/mnt/database", "/mnt/database"),
        ("/mnt/data.old", "/mnt/data.old"),
        ("/other/mnt/data", "/other/mnt/data"),
        ("/mnt/data/deep/z", "/G/z"),  # the longest mount path wins
    ],
)
def test_replacing_mount_paths(text: str, expected: str) -> None:
    pod = LocalPod(folders={"/mnt/data": Path("/F"), "/mnt/data/deep/": Path("/G")})
    assert pod.replace_paths(text) == expected


def test_pod_variables_empty_dirs_and_what_has_no_local_equivalent(tmp_path: Path) -> None:
    component = {
        "name": "env",
        "outputs": [{"name": "out"}],
        "container": {
            "image": "busybox",
            "command": ["sh", "-c", 'echo "$KFP_POD_NAME $KFP_NAMESPACE ${TOKEN-unset}" > $0; ls /scratch > /dev/null'],
            "args": ["{{outputs.out.path}}"],
            "env": [
                {"name": "KFP_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "KFP_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            ],
            "envFrom": [{"configMapRef": {"name": "settings"}}],
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}, {"name": "keys", "mountPath": "/keys"}],
        },
        "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "keys", "secret": {"secretName": "keys"}}],
        "sidecars": [{"name": "proxy", "image": "envoy"}],
        "initContainers": [{"name": "prepare", "image": "busybox"}],
    }
    spec = {"components": [component], "tasks": [{"name": "t", "component": "env", "forEach": [1, 2]}]}
    warnings: list[str] = []
    result = run(tmp_path, "r1", spec, warnings)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert result.state.steps["t[0]"].outputs == {"out": "r1-t-0-a1 local unset"}
    assert (result.logs["t[0]"].parent / "volumes" / "scratch").is_dir()  # an emptyDir: the attempt's own folder
    expected = [
        "step t[0]: volume keys is an empty folder: the local runner has no Secrets",
        "step t[0]: variable TOKEN is left unset: it comes from Secret creds, and the local runner has no Secrets",
        "step t[0]: the variables of ConfigMap settings are left unset: the local runner has no ConfigMaps",
        "step t[0]: sidecar proxy, init container prepare not run: the local runner runs the step's main "
        "container only",
    ]
    assert sorted(warnings) == sorted(expected)  # once for the task, not once per iteration
    assert "kubeline (local): variable TOKEN is left unset" in result.logs["t[1]"].read_text()
