"""kubeline's own container in a step pod: the data path between the artifact store and the user's command.

Run as ``python3 -m kubeline.backends.stepdata`` in the ``kubeline`` container, beside the user's ``main``
container (whose image needs nothing but a POSIX shell). The two share three emptyDir volumes:
``/kubeline/inputs`` (this container downloads the step's artifact inputs there), ``/kubeline/outputs``
(the command writes its outputs there) and ``/kubeline/run`` (the hand-over, below).

1. Inputs: when the step reads stored objects, this container downloads them, then says ``ok`` (or
   ``failed``) through the FIFO ``run/inputs``; main's wrapper blocks reading it before the command starts.
   A step without stored inputs starts at once: nothing is waited for.
2. The command runs in main, its output copied to ``run/log`` by ``tee``. Then main's wrapper, the container's
   first process, kills what the command left running, writes the exit code to ``run/exit`` and closes the FIFO
   ``run/alive``, which it has held open (read-write) from its first line. This container knows main is done
   when that FIFO has no writer left (polled every 20 ms, once main has said it started: ``run/started``), so
   nothing can change the outputs while they are read.
3. Outputs: artifacts are uploaded (content-addressed, stored once), value outputs are reported in this
   container's termination message, the largest ones moved to the store until the message fits in 4 KiB,
   the log is uploaded, and a cache record is written to the store (the one a local run reads too).
4. Main's wrapper waits to exit until this container's process has ended: it reads the FIFO ``run/done``,
   which this container holds open from its start and which reaches end-of-file when its process is gone
   (however it ends). The two containers then end within a millisecond, so the kubelet sees the pod finish
   in one relist (every second) rather than two.

The store's credentials live in this container's environment only (from a Secret), never in main's, and
what main leaves in the shared folders is never followed as a link: a link to /proc/self/environ would
otherwise hand this container's credentials to the step as an output or a log. Any failure to move data
fails the step with a message naming the store, bucket and key.
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

from kubeline.engine.outputs import MAX_VALUE_BYTES, split_values
from kubeline.store.base import ObjectStore, StoreError
from kubeline.store.layout import CacheRecord, ObjectRef, cache_record_key
from kubeline.store.objects import get_artifact, put_artifact, put_value
from kubeline.store.urls import open_store

INPUTS_DIR = "/kubeline/inputs"
OUTPUTS_DIR = "/kubeline/outputs"
RUN_DIR = "/kubeline/run"
STORE_ENV = "KUBELINE_STORE"  # the store's URL (no credentials)
STEP_ENV = "KUBELINE_STEP"  # this step's data plan, as JSON (StepData)
AWAIT_INPUTS_ENV = "KUBELINE_AWAIT_INPUTS"  # set in main's environment when it must wait for downloads
MESSAGE_LIMIT = 4096  # bytes a container's termination message may hold
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


def download_inputs(store: ObjectStore, plan: StepData) -> None:
    for path, text in plan.inputs.items():
        ref = ObjectRef.parse(text)
        if ref is None:
            raise StepDataFailed(f"input {path} names {text!r}, which is not an object of the artifact store")
        get_artifact(store, ref, Path(path))


def signal_inputs(run_dir: Path, ready: bool) -> None:
    """Tell main's wrapper, blocked reading the FIFO, whether its inputs are there (it may not be reading yet)."""
    fifo = run_dir / "inputs"
    try:
        os.mkfifo(fifo)
    except FileExistsError:
        pass
    while True:
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            if (run_dir / "exit").exists():
                return
            time.sleep(POLL_SECONDS)
            continue
        try:
            os.write(descriptor, b"ok\n" if ready else b"failed\n")
        finally:
            os.close(descriptor)
        return


def await_exit(run_dir: Path) -> int | None:
    """The user command's exit code once every process of main has ended; None when main ended without
    writing one (killed: its container's status says why)."""
    started, alive = run_dir / "started", run_dir / "alive"
    while not started.exists():
        time.sleep(POLL_SECONDS)
    descriptor = os.open(alive, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        if not stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            raise StepDataFailed(
                f"{alive} is not the FIFO main's wrapper made (was it replaced, or is mkfifo missing?)"
            )
        while True:
            try:
                if not os.read(descriptor, 64):
                    break  # no writer left: main's processes are gone
            except BlockingIOError:
                time.sleep(POLL_SECONDS)
    finally:
        os.close(descriptor)
    try:
        text = read_regular(run_dir / "exit", 64).decode().strip()
    except (OSError, StepDataFailed):
        return None
    return int(text) if text.lstrip("-").isdigit() else None


def read_regular(path: Path, limit: int) -> bytes:
    """A regular file main left, never through a link; at most ``limit`` bytes (StepDataFailed beyond)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise StepDataFailed(f"{path} is a symbolic link; outputs must be files or folders") from None
        raise
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise StepDataFailed(f"{path} is not a regular file")
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
        if path.is_symlink():
            raise StepDataFailed(f"artifact output {name!r} is a symbolic link: write the file or folder itself")
        report.outputs[name] = str(put_artifact(store, path))
    values: dict[str, bytes] = {}
    for name in plan.value_outputs:
        path = outputs_dir / name
        if not os.path.lexists(path):
            continue
        size = os.lstat(path).st_size
        if size > plan.max_value_bytes:
            raise StepDataFailed(
                f"value output {name!r} is {size:,} bytes, over the largest value allowed "
                f"({plan.max_value_bytes:,} bytes, the operator's maxValueBytes): declare it as an artifact "
                "(OutputPath in the SDK, type: artifact in a component)"
            )
        values[name] = read_regular(path, plan.max_value_bytes)
    texts = {name: data.decode(errors="replace") for name, data in values.items()}
    report.outputs.update(texts)
    stored = set(split_values(texts))  # the choice a local run makes too

    def fits() -> bool:
        placeholders = {name: f"sha256:{'0' * 64}" for name in stored}
        trial = Report({**report.outputs, **placeholders}, sorted(stored), report.log)
        return len(trial.encode().encode()) <= MESSAGE_LIMIT - 256

    while not fits() and len(stored) < len(texts):  # the artifacts' references take room too
        stored.add(max(sorted(set(texts) - stored), key=lambda n: len(values[n])))
    for name in sorted(stored):
        report.outputs[name] = str(put_value(store, values[name]))
    report.stored = sorted(stored)


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


def run(store: ObjectStore, plan: StepData, run_dir: Path, outputs_dir: Path) -> tuple[int, str]:
    """Move the step's data around its command; returns this container's exit code and termination message."""
    if plan.inputs:
        try:
            download_inputs(store, plan)
        except (StoreError, StepDataFailed, OSError) as problem:
            signal_inputs(run_dir, ready=False)
            return 1, f"downloading the step's inputs failed: {problem}"
        signal_inputs(run_dir, ready=True)
    try:
        code = await_exit(run_dir)
    except (StepDataFailed, OSError) as problem:
        return 1, f"waiting for the step's command failed: {problem}"
    report = Report()
    try:
        log = run_dir / "log"
        if log.is_file() and not log.is_symlink():
            store.put_file(plan.log_key, log)
            report.log = plan.log_key
        if code == 0:
            collect_outputs(store, plan, outputs_dir, report)
            remember(store, plan, report)
    except (StoreError, StepDataFailed, OSError, ValueError) as problem:
        return 1, f"uploading the step's outputs failed: {problem}"
    return 0, report.encode()


def hold_main(run_dir: Path) -> int:
    """Open ``run/done``, which main waits on until this process ends (the kernel then closes it)."""
    fifo = run_dir / "done"
    try:
        os.mkfifo(fifo)
    except FileExistsError:
        pass
    return os.open(fifo, os.O_RDWR)  # read-write: never blocks, and main's open for reading finds a writer


def main() -> int:
    run_dir = Path(RUN_DIR)
    hold_main(run_dir)
    try:
        plan = StepData.from_json(os.environ[STEP_ENV])
        store = open_store(os.environ[STORE_ENV])
    except (ValueError, TypeError, KeyError) as problem:
        code, message = 1, f"kubeline's container is misconfigured: {problem}"
    else:
        code, message = run(store, plan, run_dir, Path(OUTPUTS_DIR))
    Path(os.environ.get("KUBELINE_TERMINATION_LOG", TERMINATION_LOG)).write_text(message[:MESSAGE_LIMIT])
    if code:
        print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # at once: main is released when this process is gone, not after the interpreter's teardown
