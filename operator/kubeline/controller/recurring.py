"""One RecurringRun's pass: list the Runs it made, ask engine.recurring, act, write the status once.

Level-based like the Runs' reconciler: every pass starts from the Runs that exist (by RECURRING_RUN_LABEL and
owned by this RecurringRun), so a pass interrupted anywhere is completed by the next one. A Run's name is
deterministic (the RecurringRun's name and the trigger's second): an operator restarted at the moment of a
trigger creates it again, gets 409, finds it is its own, and counts it as made; no duplicate, no gap.

Only the leader runs kopf (commands/operator.py starts kopf once it holds the Lease, and a leader that may
have lost it exits at once), so only the leader's daemons reach this code and create Runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kubeline.api.constants import (
    API_VERSION,
    EXPERIMENT_LABEL,
    PIPELINE_LABEL,
    RECURRING_RUN_LABEL,
    SCHEDULED_TIME_ANNOTATION,
)
from kubeline.api.models import Condition, RecurringRunSpec, RecurringRunStatus
from kubeline.api.names import experiment_key
from kubeline.controller import telemetry
from kubeline.controller.kube import Kube, RunRefused
from kubeline.engine.recurring import MadeRun, NewRun, decide, parse_time, rfc3339

#: The longest sleep between passes, whatever the schedule: a lost event or a stepped clock costs at most this.
RESYNC_SECONDS = 300.0
#: After a refused Run or an unreadable spec: look again this much later (an edit wakes the daemon sooner).
RETRY_SECONDS = 30.0

log = logging.getLogger("kubeline.recurring")


class RecurringRunReconciler:
    def __init__(self, kube: Kube, namespace: str, name: str, runs: dict[str, MadeRun] | None = None):
        self.kube, self.namespace, self.name = kube, namespace, name
        #: The status this reconciler wrote last: the watch's copy may not have caught up with it yet.
        self.written: dict[str, Any] | None = None
        #: The Runs it made, by name: listed on the first pass and every RESYNC_SECONDS, kept current in between
        #: by the Runs' watch events (handlers) and by what this reconciler does: a trigger costs no listing.
        self.runs = runs if runs is not None else {}
        self.listed_at: float | None = None  # time.monotonic() of the last listing

    async def reconcile(self, body: Mapping[str, Any], now: datetime | None = None) -> float:
        """One pass over the RecurringRun (kopf's live view); returns seconds until the next pass is due."""
        now = now or datetime.now(UTC)
        metadata = body["metadata"]
        if self.written is None:
            self.written = dict(body.get("status") or {})
        before = self.written
        try:
            spec = RecurringRunSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            problem = "; ".join(f"spec.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            await self._write(_not_ready(before, "InvalidSpec", problem, now))
            return RETRY_SECONDS
        if self.listed_at is None or time.monotonic() - self.listed_at >= RESYNC_SECONDS:
            await self._list(metadata["uid"])
        created = parse_time(metadata.get("creationTimestamp")) or now
        status = RecurringRunStatus.model_validate(before)
        decision = decide(self.name, spec, status, created, now, list(self.runs.values()))
        for new in decision.create:
            try:
                made = await self._create(run_body(body, spec, new))
            except RunRefused as refused:
                await self._write(_not_ready(before, "RunRefused", str(refused), now))
                return RETRY_SECONDS
            self.runs.setdefault(new.name, MadeRun(new.name, None, new.scheduled))
            if made:
                telemetry.schedule_lag.observe(max(0.0, (datetime.now(UTC) - new.scheduled).total_seconds()))
                log.info("RecurringRun %s/%s made Run %s", self.namespace, self.name, new.name)
        # Replace cancels only once the new Run is made: a template the API server refuses leaves the active one
        for name in decision.cancel:
            await self.kube.cancel_run(self.namespace, name)
            if name in self.runs:  # else deleted while it was cancelled (its watch event came in between)
                self.runs[name] = replace(self.runs[name], cancelling=True)
        for name in decision.delete:
            await self.kube.delete_run(self.namespace, name)
            self.runs.pop(name, None)
        await self._write(decision.status.to_dict())
        if decision.wake_at is None:
            return RESYNC_SECONDS
        return min(RESYNC_SECONDS, max(0.0, (decision.wake_at - datetime.now(UTC)).total_seconds()) + 0.01)

    async def _create(self, run: dict[str, Any]) -> bool:
        """Create the Run; False when this RecurringRun made it already (a 409 from an earlier pass). RunRefused
        when the API server refuses it or when the name is taken by a Run this RecurringRun did not make (made by
        hand, or by a deleted namesake): counting that as made would lose the trigger without a word."""
        if await self.kube.create_run(self.namespace, run):
            return True
        name, uid = run["metadata"]["name"], run["metadata"]["ownerReferences"][0]["uid"]
        existing = await self.kube.get_run(self.namespace, name)
        if existing is None or owned_by(existing, uid):
            return False  # made by an earlier pass (and maybe deleted since, by a history limit)
        owners = ", ".join(
            f"{ref.get('kind')} {ref.get('name')}" for ref in existing["metadata"].get("ownerReferences") or []
        )
        raise RunRefused(
            f"Run {name} exists and was not made by this RecurringRun (owned by {owners or 'nothing: made by hand?'});"
            f" delete or rename that Run so that the trigger at {run['metadata']['annotations'][SCHEDULED_TIME_ANNOTATION]}"
            " can make its own"
        )

    async def _list(self, uid: str) -> None:
        items = await self.kube.runs_labelled(self.namespace, RECURRING_RUN_LABEL, self.name)
        self.runs.clear()
        self.runs.update({item["metadata"]["name"]: made_run(item) for item in items if owned_by(item, uid)})
        self.listed_at = time.monotonic()

    async def _write(self, status: dict[str, Any]) -> None:
        """Write the status when it changed (a pass that changes nothing writes nothing)."""
        if status != self.written:
            await self.kube.write_recurring_run_status(self.namespace, self.name, status)
        self.written = status


def made_run(item: Mapping[str, Any]) -> MadeRun:
    """A Run as the engine reads it: its phase, scheduled time (annotation) and end."""
    metadata, status = item["metadata"], item.get("status") or {}
    return MadeRun(
        name=metadata["name"],
        phase=status.get("phase"),
        scheduled=parse_time((metadata.get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION)),
        finished=parse_time(status.get("finishedAt")),
        cancelling=bool((item.get("spec") or {}).get("cancel")),
    )


def run_body(recurring: Mapping[str, Any], spec: RecurringRunSpec, new: NewRun) -> dict[str, Any]:
    """The Run a trigger makes: the template's spec, labels linking it to the RecurringRun, its pipeline and its
    experiment, the scheduled time, and an owner reference (deleting the RecurringRun deletes its Runs, as a
    CronJob's Jobs go with it)."""
    metadata, template = recurring["metadata"], spec.template
    labels = {
        **((template.metadata.labels if template.metadata else None) or {}),
        RECURRING_RUN_LABEL: metadata["name"],
    }
    pipeline = (metadata.get("labels") or {}).get(PIPELINE_LABEL)  # an inline pipeline's name, as the SDK labels it
    if template.spec.pipeline_ref is not None:
        pipeline = template.spec.pipeline_ref.name
    if pipeline:
        labels[PIPELINE_LABEL] = pipeline
    if spec.experiment:
        labels[EXPERIMENT_LABEL] = experiment_key(spec.experiment)
    annotations = {
        **((template.metadata.annotations if template.metadata else None) or {}),
        SCHEDULED_TIME_ANNOTATION: rfc3339(new.scheduled),
    }
    owner = {
        "apiVersion": API_VERSION,
        "kind": "RecurringRun",
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": new.name, "labels": labels, "annotations": annotations, "ownerReferences": [owner]},
        "spec": template.spec.to_dict(),
    }


def owned_by(item: Mapping[str, Any], uid: str) -> bool:
    """Whether this RecurringRun made the Run (not one of a deleted namesake's, nor one labelled by hand)."""
    return any(ref.get("uid") == uid for ref in item["metadata"].get("ownerReferences") or [])


def _not_ready(before: Mapping[str, Any], reason: str, message: str, now: datetime) -> dict[str, Any]:
    """The status as it was, with Ready=False saying why nothing is made (since when: kept while it was False
    already, so a RecurringRun refused again every RETRY_SECONDS does not rewrite its status each time)."""
    status = RecurringRunStatus.model_validate(before)
    previous = next((c for c in status.conditions or [] if c.type == "Ready"), None)
    since = previous.last_transition_time if previous is not None and previous.status == "False" else None
    status.message = message
    status.conditions = [
        Condition(
            type="Ready", status="False", reason=reason, message=message, last_transition_time=since or rfc3339(now)
        )
    ]
    return status.to_dict()
