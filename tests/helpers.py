"""What several test modules use: the `kubeline` command in a subprocess, pipeline builders, cluster helpers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from kubeline.api.constants import API_VERSION, RUN_LABEL, STEP_ANNOTATION
from kubeline.api.yamlio import dump_all
from kubeline.controller.pods import encode_outputs

if TYPE_CHECKING:
    from tests.control_plane import Operator

ROOT = Path(__file__).resolve().parents[1]


def kubeline(
    *args: str, home: Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`kubeline ARGS` run to its end, with $KUBELINE_HOME at ``home`` (and ``env`` added to the environment)."""
    return subprocess.run(
        [sys.executable, "-m", "kubeline", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "KUBELINE_HOME": str(home), **(env or {})},
        timeout=timeout,
    )


# -- pipeline specs for the engine's tests -----------------------------------------------------------------

COMPONENTS = [
    {
        "name": "op",
        "inputs": [
            {"name": "a", "type": "string", "optional": True},
            {"name": "b", "type": "string", "optional": True},
        ],
        "outputs": [{"name": "out", "type": "string"}],
        "container": {"image": "python:3.11", "command": ["op"], "args": ["{{inputs.a}}", "{{outputs.out.path}}"]},
    },
    {
        "name": "num",
        "inputs": [{"name": "x", "type": "integer", "optional": True}],
        "outputs": [{"name": "n", "type": "integer"}, {"name": "items", "type": "list"}],
        "container": {
            "image": "python:3.11",
            "command": ["num"],
            "args": ["{{outputs.n.path}}", "{{outputs.items.path}}"],
        },
    },
]


KFP_V1_PROGRAMS = Path(__file__).resolve().parent / "kfp_v1_programs"


def migrated(name: str, tmp_path: Path) -> Path:
    """A KFP v1 test program with its kfp imports replaced by kubeline: the whole migration."""
    import re

    path = tmp_path / name
    path.write_text(re.sub(r"\bkfp\b", "kubeline", (KFP_V1_PROGRAMS / name).read_text()))
    return path


def bound_volume(namespace: str, claim: str, folder: Path, storage_class: str = "") -> dict[str, Any]:
    """A hostPath PersistentVolume waiting for the claim ``claim`` (the test clusters have no provisioner), on
    ``folder``, made writable for steps, which run as an unprivileged user."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"kubeline-test-{uuid.uuid4().hex[:8]}"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteOnce", "ReadWriteMany"],
            "storageClassName": storage_class,
            "claimRef": {"namespace": namespace, "name": claim},
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(folder)},
        },
    }


def pipeline(tasks: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"spec": {"components": COMPONENTS, "tasks": tasks, **spec}}


def task(name: str, component: str = "op", **fields: Any) -> dict[str, Any]:
    return {"name": name, "component": component, **fields}


# -- real `kubeline run` processes, and the processes of their steps -------------------------------------

#: A step leaving three kinds of background processes: in its group, in a new session, and double-forked.
ESCAPERS = "sleep 300 & setsid sleep 300 & sh -c 'sleep 300 &' ;"


def pipeline_file(tmp_path: Path, tasks: list[dict], components: list[dict], **spec: Any) -> Path:
    document = {
        "apiVersion": API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": "lifetime"},
        "spec": {"components": components, "tasks": tasks, **spec},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def shell(name: str, script: str, outputs: list[str] = (), inputs: list[str] = ()) -> dict:
    """A component running ``script`` with $1.. = its inputs, then its output paths."""
    args = [f"{{{{inputs.{i}}}}}" for i in inputs] + [f"{{{{outputs.{o}.path}}}}" for o in outputs]
    return {
        "name": name,
        "inputs": [{"name": i} for i in inputs],
        "outputs": [{"name": o} for o in outputs],
        "container": {"image": "x", "command": ["sh", "-c", script, name, *args]},
    }


class Kubeline:
    """`kubeline run` in a subprocess, with a marker in its environment that every step inherits."""

    def __init__(self, tmp_path: Path, file: Path, *extra: str):
        self.marker = uuid.uuid4().hex
        env = {
            **os.environ,
            "KUBELINE_HOME": str(tmp_path / "home"),
            "LIFETIME_MARKER": self.marker,
            "PYTHONPATH": str(ROOT / "operator"),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kubeline", "run", str(file), "--no-cache", *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def marked(self, program: bytes = b"") -> list[int]:
        """Live processes carrying the marker (whose command starts with ``program``), kubeline included."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if (
                    self.marker.encode() in (entry / "environ").read_bytes()
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
                    and (entry / "cmdline").read_bytes().replace(b"\0", b" ").startswith(program)
                ):
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        return found

    def await_processes(self, program: bytes, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.marked(program)) < count:
            assert time.monotonic() < deadline, f"the steps did not start {count} {program!r} processes"
            time.sleep(0.05)

    def finish(self, timeout: float = 15) -> tuple[int, str, str]:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            pytest.fail(f"kubeline still running after {timeout}s\n{err.decode()}")
        return self.process.returncode, out.decode(), err.decode()

    def cleanup(self) -> list[int]:
        """Kill what is left (so a failing test leaves nothing behind) and say what that was."""
        left = [pid for pid in self.marked() if pid != self.process.pid]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        return left


def start(kubelines: list[Kubeline], *args: Any) -> Kubeline:
    """A `kubeline run` started and kept in ``kubelines`` (the fixture of that name stops what is left)."""
    kubeline = Kubeline(*args)
    kubelines.append(kubeline)
    return kubeline


# -- Runs on the test cluster (the `operator_namespace` fixture's cluster, namespace and operator) --------


def fake(
    name: str,
    inputs: list[str] = (),
    outputs: dict[str, str] | None = None,
    exit_code: int = 0,
    duration: str | None = None,
    output_types: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A component whose pod, on a kwok node, ends as told."""
    env = [
        {"name": "KWOK_TERMINATION_MESSAGE", "value": encode_outputs(outputs or {})},
        {"name": "KWOK_EXIT_CODE", "value": str(exit_code)},
    ]
    if duration:
        env.append({"name": "KWOK_DURATION", "value": duration})
    return {
        "name": name,
        "inputs": [{"name": i, "type": "string"} for i in inputs],
        "outputs": [{"name": o, "type": (output_types or {}).get(o, "string")} for o in outputs or {}],
        "container": {
            "image": "python:3.11-slim",
            "command": ["python3", "-c", "pass"],
            "args": [f"{{{{inputs.{i}}}}}" for i in inputs],
            "env": env,
        },
    }


ARITHMETIC = {
    "params": [
        {"name": "value_1", "type": "integer", "default": 7},
        {"name": "value_2", "type": "integer", "default": 3},
    ],
    "components": [
        fake("add", ["a", "b"], {"result": "10"}),
        fake("subtract", ["a", "b"], {"result": "4"}),
        fake("multiply", ["a", "b"], {"result": "40"}),
    ],
    "tasks": [
        {"name": "add", "component": "add", "arguments": {"a": "{{params.value_1}}", "b": "{{params.value_2}}"}},
        {
            "name": "subtract",
            "component": "subtract",
            "arguments": {"a": "{{params.value_1}}", "b": "{{params.value_2}}"},
        },
        {
            "name": "multiply",
            "component": "multiply",
            "arguments": {"a": "{{tasks.add.outputs.result}}", "b": "{{tasks.subtract.outputs.result}}"},
        },
    ],
    "outputs": {"product": "{{tasks.multiply.outputs.result}}"},
    "defaults": {"caching": {"enabled": False}},
}


def submit(
    ctx: tuple[Any, str, Operator],
    spec: dict[str, Any],
    arguments: dict[str, Any] | None = None,
    name: str | None = None,
) -> str:
    cluster, namespace, _ = ctx
    run = name or f"r-{uuid.uuid4().hex[:6]}"
    pipeline = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": run}, "spec": spec}
    run_doc = {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": run},
        "spec": {"pipelineRef": {"name": run}, "arguments": arguments or {}},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all([pipeline, run_doc]))
    return run


def wait_run(
    ctx: tuple[Any, str, Operator],
    run: str,
    phases: tuple[str, ...] = ("Succeeded", "Failed", "Cancelled"),
    timeout: float = 60,
) -> dict[str, Any]:
    cluster, namespace, _ = ctx
    deadline = time.time() + timeout
    status: dict[str, Any] = {}
    while time.time() < deadline:
        status = cluster.kubectl_json("get", "run", run, "-n", namespace).get("status") or {}
        if status.get("phase") in phases:
            return status
        time.sleep(0.3)
    raise AssertionError(
        f"run {run} did not reach {phases}: {json.dumps({k: v for k, v in status.items() if k != 'pipelineSpec'})}"
    )


def pods_of(ctx: tuple[Any, str, Operator], run: str) -> list[dict[str, Any]]:
    cluster, namespace, _ = ctx
    return cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"{RUN_LABEL}={run}")["items"]


def by_step(pods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["annotations"][STEP_ANNOTATION]: p for p in pods}


def python_component(name: str, code: str, inputs: list[dict] | None = None, outputs: list[dict] | None = None) -> dict:
    """A component running ``code`` with sys.argv[1:] = its inputs then its output paths."""
    args = [f"{{{{inputs.{i['name']}{'.path' if i.get('type') == 'artifact' else ''}}}}}" for i in inputs or []]
    args += [f"{{{{outputs.{o['name']}.path}}}}" for o in outputs or []]
    return {
        "name": name,
        "inputs": inputs or [],
        "outputs": outputs or [],
        "container": {"image": "python:3.11", "command": ["python3", "-c", code], "args": args},
    }


WRITE = python_component(
    "write", "import sys; open(sys.argv[2], 'w').write(sys.argv[1])", [{"name": "text"}], [{"name": "out"}]
)


# -- the corpus of malformed Pipelines and Runs (tests/chaos/malformed) ----------------------------------------

MALFORMED = ROOT / "tests" / "chaos" / "malformed"
_MALFORMED_HEADER = re.compile(r"# (?P<what>.+) => (?P<outcome>rejected|failed|pending): (?P<message>.+)\n")


@dataclass(frozen=True)
class Malformed:
    """One file of the corpus: what is wrong with it, and what a user sees: refused by the API server
    (``rejected``), or taken and its Run Failed (or Pending) by the operator, with ``message`` in the reason."""

    path: Path
    what: str
    outcome: str
    message: str
    documents: list[dict[str, Any]]

    @property
    def run(self) -> str:
        """The name of the file's Run (every file the operator fails has one)."""
        return next(d["metadata"]["name"] for d in self.documents if d.get("kind") == "Run")

    @property
    def names(self) -> set[tuple[str, str]]:
        return {(d["kind"], d["metadata"]["name"]) for d in self.documents}


def malformed_corpus() -> list[Malformed]:
    cases = []
    for path in sorted(MALFORMED.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        header = _MALFORMED_HEADER.match(text)
        assert header, f"{path.name}: the first line must be '# WHAT => rejected|failed|pending: MESSAGE'"
        documents = [d for d in yaml.safe_load_all(text) if d]
        cases.append(Malformed(path, header["what"], header["outcome"], header["message"], documents))
    return cases
