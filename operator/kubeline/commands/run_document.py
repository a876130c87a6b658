"""A local run's Run resource, kept current in its folder (``run.yaml``) for `kubeline ui --local`.

The document has the shape of the cluster's Run (apiVersion, kind, metadata, spec, status built by the
controller's own ``status_document``), so every page of the UI reads local and cluster runs alike. It is
written as JSON, a subset of YAML, because JSON is several times quicker to write and to read back for a run
of thousands of steps. Writes are atomic (a temporary file, then os.replace). Building, serializing and
writing the status costs time in proportion to the run's steps, so it happens at most every WRITE_INTERVAL
seconds, and never more often than keeps its cost under 1/WRITE_COST_SHARE of the time: a 10,000-step run's
status takes about a second to build, and building it on every change made a run's cost grow with the
square of its steps.
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
#: The time between writes is at least this many times what the last write took.
WRITE_COST_SHARE = 10


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class RunDocumentWriter:
    """Writes the run's document on start, on changes (throttled) and at the end. ``update`` is the runner's
    ``on_change``, called from the runner's thread after every decision and at least every second while the
    run waits: it only keeps the latest decision until a write is due, then builds the status from it and
    the runner's state as it is then (a later state than the decision's is fine: status_document shows steps
    started since as running)."""

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
        self._latest: tuple[Decision, RunState] | None = None  # not written yet
        self._write(json.dumps(self.document))
        self._write_due_at = time.time() + WRITE_INTERVAL

    def update(self, decision: Decision, state: RunState) -> None:
        self._latest = (decision, state)
        if time.time() >= self._write_due_at:
            self._flush()

    def finish(self) -> None:
        """The last state written now, whatever the throttle says."""
        self._flush()

    def _flush(self) -> None:
        """Builds and writes the status of the latest decision, if not written yet."""
        if self._latest is None:
            return
        (decision, state), self._latest = self._latest, None
        now = time.time()
        if self.base.started_at is None and state.started_at is not None:
            self.base.started_at = timestamp(state.started_at)
        status = status_document(self.plan, decision, state, self.base, now)
        self.base.conditions = status.conditions
        if decision.finished and self.base.finished_at is None and status.finished_at is not None:
            self.base.finished_at = status.finished_at
        status_json = status.model_dump(by_alias=True, exclude_none=True)
        self._write(json.dumps({**self.document, "status": status_json}))
        self._write_due_at = now + max(WRITE_INTERVAL, WRITE_COST_SHARE * (time.time() - now))

    def _write(self, text: str) -> None:
        try:
            write_atomically(self.path, text)
        except OSError as error:  # the run goes on; the UI shows the last document written
            if self.warn is not None and not self._warned:
                self._warned = True
                self.warn(f"cannot write {self.path} for `kubeline ui --local`: {error.strerror or error}")
