"""kubeline's own container in a step pod: the data path between the artifact store and the user's command.

Run as ``python3 -m kubeline.backends.stepdata`` in the ``kubeline`` container, beside the user's ``main``
container (whose image needs a POSIX shell and coreutils). They share four emptyDir volumes:
``/kubeline/inputs`` (this container downloads the step's stored inputs there), ``/kubeline/outputs`` (the
command writes its outputs there), ``/kubeline/run`` (main's log and exit code) and ``/kubeline/control``,
where this container makes three FIFOs at its start and which main mounts read-only, so the step cannot
replace them:

- ``alive``: main's wrapper opens it on its first lines (every process of main inherits it) and writes one
  byte; this container holds the reading end. End-of-file after that byte means every process of main is
  gone, so nothing can change the outputs while they are read (polled every 20 ms).
- ``inputs``: when the step reads stored objects, main's wrapper blocks reading it until this container has
  downloaded them and writes ``ok`` (or ``failed``). A step without stored inputs starts at once.
- ``done``: main's wrapper waits, once its command has ended, for end-of-file on it, which comes when this
  container's process is gone, however it ends. The two containers end within a millisecond, so the
  kubelet sees the pod finish in one relist (every second) rather than two.

Main's wrapper opens all three before anything else, and this container never ends before it has (the
byte on ``alive``): an open of a FIFO whose other end is gone would block main for ever.

After the command: artifacts are uploaded (content-addressed, stored once), the values that do not fit in
the termination message go to the store (the largest first, as a local run decides), the log is uploaded,
a cache record is written to the store (the one a local run reads too), and the outputs are reported in
this container's termination message.

The store's credentials live in this container's environment only (from a Secret), never in main's, and
what main leaves is read through descriptors opened without following links, after checking what they
are: a link to /proc/self/environ would otherwise hand this container's credentials to the step as an
output or a log, and a FIFO would hang it. Any failure to move data fails the step with a message naming
the store, bucket and key.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeline.engine.outputs import MAX_VALUE_BYTES, VALUE_OUTPUTS_LIMIT, split_values, too_large
from kubeline.store.base import ObjectStore, StoreError
from kubeline.store.layout import CacheRecord, ObjectRef, cache_record_key
from kubeline.store.objects import get_artifact, put_artifact, put_value
from kubeline.store.urls import open_store

INPUTS_DIR = "/kubeline/inputs"
OUTPUTS_DIR = "/kubeline/outputs"
RUN_DIR = "/kubeline/run"
CONTROL_DIR = "/kubeline/control"
STORE_ENV = "KUBELINE_STORE"  # the store's URL (no credentials)
STEP_ENV = "KUBELINE_STEP"  # this step's data plan, as JSON (StepData)
AWAIT_INPUTS_ENV = "KUBELINE_AWAIT_INPUTS"  # set in main's environment when it must wait for downloads
MESSAGE_LIMIT = VALUE_OUTPUTS_LIMIT  # bytes a container's termination message may hold
POLL_SECONDS = 0.02
TERMINATION_LOG = "/dev/termination-log"


@dataclass
class StepData:
    """What this container moves for one attempt of one step (rendered by the controller's pods module)."""

    inputs: dict[str, str] = field(default_factory=dict)  # path in the pod -> object reference text
    artifact_outputs: list[str] = field(default_factory=list)
    value_outputs: list[str] = field(default_factory=list)
    log_key: str = ""
    cache_key: str | None = None  # set when the result may be cached
    component: str = ""
    max_value_bytes: int = MAX_VALUE_BYTES

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StepData:
        return cls(**json.loads(text))


class StepDataFailed(Exception):
    """The step's data could not be moved: the message says what, where, and what to do."""


@dataclass
class Report:
    """This container's termination message: what the controller records for the step."""

    outputs: dict[str, str] = field(default_factory=dict)
    stored: list[str] = field(default_factory=list)
    log: str | None = None

    def encode(self) -> str:
        document: dict[str, Any] = {"outputs": self.outputs}
        if self.stored:
            document["stored"] = self.stored
        if self.log:
            document["log"] = self.log
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, text: str) -> Report:
        document = json.loads(text)
        return cls(dict(document.get("outputs") or {}), list(document.get("stored") or []), document.get("log"))


class Control:
    """The FIFOs this container shares with main's wrapper, made and opened before main can use them."""

    def __init__(self, directory: Path):
        for name in ("alive", "inputs", "done"):  # done last: main's wrapper waits for it to exist
            try:
                os.mkfifo(directory / name)
            except FileExistsError:
                pass
            os.chmod(directory / name, 0o666)  # main may run as another user when pods are not restricted
        # read-write ends never block, and give main's opens a writer at once
        self.done = os.open(directory / "done", os.O_RDWR)
        self.inputs = os.open(directory / "inputs", os.O_RDWR)
        self.alive = os.open(directory / "alive", os.O_RDONLY | os.O_NONBLOCK)
        self.started = False

    def signal_inputs(self, ready: bool) -> None:
        """Tell main's wrapper, blocked (or soon) reading ``inputs``, whether its inputs are there."""
        os.write(self.inputs, b"ok\n" if ready else b"failed\n")

    def await_start(self) -> None:
        """Return once main's wrapper has opened its ends of the FIFOs (it then never blocks on them, even
        after this process has gone: so this container never ends before that)."""
        while not self.started:
            self._poll()

    def await_main(self) -> None:
        """Return once main has started and every process of it has ended."""
        while not (self._poll() == b"" and self.started):
            pass

    def _poll(self) -> bytes | None:
        """What ``alive`` holds: data (main started), b"" (no writer), None (writers, no data: main runs)."""
        try:
            data = os.read(self.alive, 64)
        except BlockingIOError:
            data = None
        self.started = self.started or bool(data)
        if not data:
            time.sleep(POLL_SECONDS)
        return data

    def close(self) -> None:
        for descriptor in (self.alive, self.inputs, self.done):
            os.close(descriptor)


def download_inputs(store: ObjectStore, plan: StepData) -> None:
    for path, text in plan.inputs.items():
        ref = ObjectRef.parse(text)
        if ref is None:
            raise StepDataFailed(f"input {path} names {text!r}, which is not an object of the artifact store")
        get_artifact(store, ref, Path(path))


def exit_code(run_dir: Path) -> int | None:
    """The user command's exit code as main's wrapper left it; None when it left none (killed: its
    container's status says why)."""
    try:
        text = read_regular(run_dir / "exit", 64).decode().strip()
    except (OSError, StepDataFailed):
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def open_left(path: Path) -> int:
    """A descriptor on a file or folder main left, opened without following a link and without blocking;
    StepDataFailed for a link or anything else (a FIFO would hang the read, a device never end it)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise StepDataFailed(f"{path} is a symbolic link; outputs must be files or folders") from None
        raise
    mode = os.fstat(descriptor).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        os.close(descriptor)
        raise StepDataFailed(f"{path} is neither a regular file nor a folder")
    return descriptor


def put_left(store: ObjectStore, path: Path) -> ObjectRef:
    """Store what main left at ``path``, read through the descriptor checked by open_left."""
    descriptor = open_left(path)
    try:
        return put_artifact(store, Path(f"/proc/self/fd/{descriptor}"))  # the opened file, whatever path says now
    finally:
        os.close(descriptor)


def read_regular(path: Path, limit: int) -> bytes:
    """A regular file main left, never through a link; at most ``limit`` bytes (StepDataFailed beyond)."""
    with os.fdopen(open_left(path), "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise StepDataFailed(f"{path} is a folder, not a file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise StepDataFailed(f"{path} holds more than {limit:,} bytes")
    return data


def collect_outputs(store: ObjectStore, plan: StepData, outputs_dir: Path, report: Report) -> None:
    """Upload the artifacts, then report the values, moving the largest to the store until the message fits."""
    for name in plan.artifact_outputs:
        path = outputs_dir / name
        if not os.path.lexists(path):
            raise StepDataFailed(
                f"the step succeeded but did not write its artifact output {name!r} (expected at {path})"
            )
        report.outputs[name] = str(put_left(store, path))
    values: dict[str, bytes] = {}
    for name in plan.value_outputs:
        path = outputs_dir / name
        if not os.path.lexists(path):
            continue
        size = os.lstat(path).st_size
        if size > plan.max_value_bytes:
            raise StepDataFailed(str(too_large(name, size, plan.max_value_bytes)))
        values[name] = read_regular(path, plan.max_value_bytes)
    texts = {name: data.decode(errors="replace") for name, data in values.items()}
    stored = set(split_values(texts))  # as a local run decides
    report.outputs.update(texts)

    def report_size() -> int:
        placeholders = {name: f"sha256:{'0' * 64}" for name in stored}
        return len(Report({**report.outputs, **placeholders}, sorted(stored), report.log).encode().encode())

    # the artifacts' references and the log's key take room too (only here: the local runner has no message)
    while report_size() > MESSAGE_LIMIT and len(stored) < len(texts):
        stored.add(max(sorted(set(texts) - stored), key=lambda n: len(values[n])))
    for name in sorted(stored):
        report.outputs[name] = str(put_value(store, values[name]))
    report.stored = sorted(stored)
    if report_size() > MESSAGE_LIMIT:
        raise StepDataFailed(
            f"the step's outputs take {report_size():,} bytes to report, more than the {MESSAGE_LIMIT:,} of a "
            "termination message: give its outputs shorter names"
        )


def remember(store: ObjectStore, plan: StepData, report: Report) -> None:
    """The cache record of this result in the store: what a later run, local or on a cluster, may reuse."""
    if plan.cache_key is None:
        return
    record = CacheRecord(
        cache_key=plan.cache_key,
        component=plan.component,
        outputs=report.outputs,
        large_values=report.stored,
        created_at=time.time(),
    )
    store.put_bytes(cache_record_key(plan.cache_key), record.to_json().encode())


def run(store: ObjectStore, plan: StepData, control: Control, run_dir: Path, outputs_dir: Path) -> tuple[int, str]:
    """Move the step's data around its command; returns this container's exit code and termination message."""
    if plan.inputs:
        try:
            download_inputs(store, plan)
        except (StoreError, StepDataFailed, OSError) as problem:
            control.signal_inputs(ready=False)
            control.await_start()
            return 1, f"downloading the step's inputs failed: {problem}"
        control.signal_inputs(ready=True)
    control.await_main()
    code = exit_code(run_dir)
    report = Report()
    try:
        if os.path.lexists(run_dir / "log"):
            descriptor = open_left(run_dir / "log")
            try:
                store.put_file(plan.log_key, Path(f"/proc/self/fd/{descriptor}"))
            finally:
                os.close(descriptor)
            report.log = plan.log_key
        if code == 0:
            collect_outputs(store, plan, outputs_dir, report)
            remember(store, plan, report)
    except (StoreError, StepDataFailed, OSError, ValueError) as problem:
        return 1, f"uploading the step's outputs failed: {problem}"
    return 0, report.encode()


def main() -> int:
    control = Control(Path(CONTROL_DIR))  # first: main's wrapper waits for these FIFOs
    try:
        plan = StepData.from_json(os.environ[STEP_ENV])
        store = open_store(os.environ[STORE_ENV])
    except (ValueError, TypeError, KeyError) as problem:
        control.await_start()
        code, message = 1, f"kubeline's container is misconfigured: {problem}"
    else:
        code, message = run(store, plan, control, Path(RUN_DIR), Path(OUTPUTS_DIR))
    encoded = message.encode()[:MESSAGE_LIMIT].decode(errors="ignore")
    Path(os.environ.get("KUBELINE_TERMINATION_LOG", TERMINATION_LOG)).write_text(encoded)
    if code:
        print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # at once: main is released when this process is gone, not after the interpreter's teardown
