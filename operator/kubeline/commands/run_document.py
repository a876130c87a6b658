"""A local run's Run resource, kept current in its folder (``run.yaml``) for `kubeline ui --local`.

The document has the shape of the cluster's Run (apiVersion, kind, metadata, spec, status built by the
controller's own ``status_document``), so every page of the UI reads local and cluster runs alike. It is
written as JSON, a subset of YAML, because JSON is several times quicker to write and to read back for a run
of thousands of steps. Writes are atomic (a temporary file, then os.replace) and at most every
WRITE_INTERVAL seconds; a change that arrives sooner is written by a timer when the interval has passed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubeline.api.constants import API_VERSION, PIPELINE_LABEL
from kubeline.api.models import RunStatus
from kubeline.backends.local.pod import LOCAL_NAMESPACE
from kubeline.controller.status import status_document, timestamp
from kubeline.engine.plan import Plan
from kubeline.engine.state import Decision, RunState
from kubeline.ui.local import RUN_DOCUMENT

WRITE_INTERVAL = 0.5


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class RunDocumentWriter:
    """Writes the run's document on start, on changes (throttled) and at the end. ``update`` is the runner's
    ``on_change``: it builds the status at once (the runner changes its state afterwards) and leaves the
    serializing and writing of the latest status to the throttle (a 2,000-step run changes thousands of
    times; serializing each change would cost quadratic time)."""

    def __init__(
        self,
        run_dir: Path,
        name: str,
        pipeline: str,
        pipeline_spec: dict[str, Any],
        arguments: dict[str, Any],
        bound: dict[str, Any],
        store_url: str,
        plan: Plan,
        labels: dict[str, str] | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self.warn, self._warned = warn, False
        self.path = run_dir / RUN_DOCUMENT
        self.plan = plan
        # as the operator records a Run: the spec holds what was asked, the status the values bound (defaults too)
        self.base = RunStatus(pipeline_spec=pipeline_spec, arguments=bound, artifact_store=store_url)
        now = time.time()
        self.document: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "Run",
            "metadata": {
                "name": name,
                "namespace": LOCAL_NAMESPACE,
                "uid": name,
                "creationTimestamp": timestamp(now),
                "labels": {PIPELINE_LABEL: pipeline, **(labels or {})},
            },
            "spec": {"pipelineSpec": pipeline_spec, "arguments": arguments},
            "status": {"phase": "Pending", "pipelineSpec": pipeline_spec, "arguments": bound},
        }
        self._lock = threading.Lock()
        self._pending: RunStatus | None = None
        self._written_at = 0.0
        self._timer: threading.Timer | None = None
        self._write(json.dumps(self.document))

    def update(self, decision: Decision, state: RunState) -> None:
        now = time.time()
        if self.base.started_at is None and state.started_at is not None:
            self.base.started_at = timestamp(state.started_at)
        status = status_document(self.plan, decision, state, self.base, now)
        self.base.conditions = status.conditions
        if decision.finished and self.base.finished_at is None and status.finished_at is not None:
            self.base.finished_at = status.finished_at
        with self._lock:
            self._pending = status
            due = now - self._written_at >= WRITE_INTERVAL
            if not due and self._timer is None:
                self._timer = threading.Timer(WRITE_INTERVAL - (now - self._written_at), self._flush)
                self._timer.daemon = True
                self._timer.start()
        if due:
            self._flush()

    def finish(self) -> None:
        """The last state written now, whatever the throttle says."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._flush()

    def _flush(self) -> None:
        """Writes the latest status, if not written yet; under the lock, so writes never overlap or reorder."""
        with self._lock:
            self._timer = None
            status, self._pending = self._pending, None
            if status is not None:
                status_json = status.model_dump(by_alias=True, exclude_none=True)
                self._write(json.dumps({**self.document, "status": status_json}))

    def _write(self, text: str) -> None:
        try:
            write_atomically(self.path, text)
        except OSError as error:  # the run goes on; the UI shows the last document written
            if self.warn is not None and not self._warned:
                self._warned = True
                self.warn(f"cannot write {self.path} for `kubeline ui --local`: {error.strerror or error}")
        self._written_at = time.time()
