"""A step's attempt: its folder, the command it runs on this host, and the outputs it leaves there.

The folder is ``steps/STEP/attempt-N`` in the run's folder, new for every attempt: input values are
written to ``inputs/`` and input artifacts downloaded there from the store; the step writes ``outputs/``
and its ``log``. After the step succeeds its artifacts are put into the store, and its outputs record
them as ObjectRef texts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kubeline.backends.local.files import artifact_problem, inside, read_capped
from kubeline.backends.local.pod import ClaimFolders, LocalPod, local_pod
from kubeline.engine.container import render_container
from kubeline.engine.outputs import MAX_VALUE_BYTES, OutputError, check_values, split_values, too_large
from kubeline.engine.state import StartStep
from kubeline.engine.stepid import folder_name, pod_name
from kubeline.engine.values import FILE_OUTPUT_TYPES
from kubeline.store import ObjectRef, ObjectStore, StoreError, get_artifact, put_artifact, put_value
from kubeline.store.objects import ArtifactError


class StartProblem(Exception):
    """Why a step's command cannot be started: the step fails with this message (and is retried when
    ``retryable``, as when the store could not be reached)."""

    def __init__(self, message: str, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def make_attempt_dir(run_dir: Path, start: StartStep) -> Path:
    """A new folder for this attempt: an existing one is never deleted nor reused."""
    attempt_dir = inside(run_dir, f"steps/{folder_name(start.id)}/attempt-{start.attempt}")
    attempt_dir.parent.mkdir(parents=True, exist_ok=True)
    attempt_dir.mkdir()
    (attempt_dir / "outputs").mkdir()
    return attempt_dir


def step_command(
    start: StartStep, attempt_dir: Path, store: ObjectStore, run_name: str, claims: ClaimFolders
) -> tuple[list[str], dict[str, str], LocalPod]:
    """The command and environment the step runs with, its input values written to files and its input
    artifacts downloaded first, its volumes made folders (what the step's log should say about them too)."""

    def input_path(name: str) -> str:
        path = attempt_dir / "inputs" / name
        if name in start.artifacts:
            _download(store, name, start.artifacts[name], path)
            return str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(start.inputs.get(name, ""), encoding="utf-8")
        return str(path)

    def output_path(name: str) -> str:
        return str(attempt_dir / "outputs" / name)

    name = pod_name(run_name, start.id, start.attempt)  # the name the step's pod would have on a cluster
    try:
        rendered = render_container(start, input_path, output_path, name)
    except (OSError, ValueError) as error:
        raise StartProblem(f"cannot write the step's inputs: {error}") from None
    try:
        pod = local_pod(rendered, claims, attempt_dir, name)
    except (OSError, ValueError) as error:
        raise StartProblem(f"cannot make the step's volume folders: {error}") from None
    parts = [pod.replace_paths(part) for part in rendered.command + rendered.args]
    argv = [_host_program(part) if i == 0 else part for i, part in enumerate(parts)]
    env = {**{k: pod.replace_paths(v) for k, v in rendered.env.items()}, **pod.env}
    problem = _launch_problem(argv, env)
    if problem:
        raise StartProblem(problem)
    return argv, {**os.environ, **env, "KUBELINE_STEP": start.id, "PYTHONUNBUFFERED": "1"}, pod


def _download(store: ObjectStore, name: str, location: str, path: Path) -> None:
    ref = ObjectRef.parse(location)
    if ref is None:
        raise StartProblem(f"input artifact {name!r} was recorded as {location[:200]!r}, not as an object in the store")
    try:
        get_artifact(store, ref, path)
    except ArtifactError as error:
        raise StartProblem(f"cannot download input artifact {name!r}: {error}") from None
    except StoreError as error:
        raise StartProblem(f"cannot download input artifact {name!r}: {error}", retryable=True) from None


def put_objects(
    start: StartStep, outputs: dict[str, str], large_values: frozenset[str], store: ObjectStore
) -> dict[str, str]:
    """The outputs with each artifact's path, and each large value, replaced by the ref of its object, put
    into the store. ArtifactError for an artifact that cannot be stored as it is; StoreError when the store fails."""
    stored = dict(outputs)
    for output in start.component.outputs or []:
        if output.type in FILE_OUTPUT_TYPES:
            try:
                stored[output.name] = str(put_artifact(store, Path(outputs[output.name])))
            except ArtifactError as error:
                raise ArtifactError(f"artifact {output.name!r} cannot be stored: {error}") from None
        elif output.name in large_values:
            stored[output.name] = str(put_value(store, outputs[output.name].encode()))
    return stored


def _host_program(program: str) -> str:
    """``python``/``python3`` in a step means this interpreter: the host may have no ``python``."""
    return sys.executable if program in ("python", "python3") else program


def _launch_problem(argv: list[str], env: dict[str, str]) -> str | None:
    """What no process can be started with: checked here so the step fails with a reason."""
    if not argv:
        return "cannot start an empty command: the component's container has no command"
    for index, part in enumerate(argv):
        if "\0" in part:
            which = "the program name" if index == 0 else f"argument {index} of the command"
            return (
                f"{which} holds a NUL byte, which no process argument can carry; pass such data in a file (an artifact)"
            )
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            return (
                f"environment variable name {name!r} is not valid: a name must not be empty nor hold '=' or a NUL byte"
            )
        if "\0" in value:
            return f"environment variable {name} holds a NUL byte, which no environment value can carry"
    return None


def step_outputs(start: StartStep, attempt_dir: Path) -> tuple[dict[str, str], frozenset[str]]:
    """The outputs of a step that succeeded: values read (capped) and checked, artifacts by path; and the
    values too large to pass inline, which go to the store as a cluster's would (else OutputError)."""
    component = start.component
    directory = attempt_dir / "outputs"
    values, artifacts = {}, {}
    for output in component.outputs or []:
        path = directory / output.name
        if output.type in FILE_OUTPUT_TYPES:
            artifacts[output.name] = _artifact_output(output.name, path)
            continue
        value = _value_output(output.name, path)
        if value is not None:
            values[output.name] = value
    stored = split_values(values)
    return {**check_values(component, values, stored), **artifacts}, stored


def _artifact_output(name: str, path: Path) -> str:
    if not os.path.lexists(path):
        raise OutputError(f"the step wrote no artifact {name!r} (to {{{{outputs.{name}.path}}}})")
    problem = artifact_problem(path)
    if problem:
        raise OutputError(f"artifact {name!r} {problem}")
    return str(path)


def _value_output(name: str, path: Path) -> str | None:
    """The value the step wrote, or None when it wrote none (check_values names the missing output)."""
    try:
        data, size = read_capped(path, MAX_VALUE_BYTES)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise OutputError(f"output {name!r} cannot be read: {error}") from None
    if size > MAX_VALUE_BYTES:
        raise too_large(name, size)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise OutputError(
            f"output {name!r} is not UTF-8 text; write bytes of any kind as an artifact (type: artifact)"
        ) from None
