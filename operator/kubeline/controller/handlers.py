"""kopf handlers: thin. A daemon per Run does the work; events only wake it.

    kubeline operator --namespace NS        (or: kopf run -m kubeline.controller.handlers)

Pod events for a Run's pods, a change of spec.cancel, or a new Pipeline wake the Run's daemon, which
waits a moment so that a burst of events becomes one reconcile and one status write.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import kopf

from kubeline.api.constants import GROUP, RUN_LABEL, VERSION
from kubeline.controller.config import OperatorConfig, load_config
from kubeline.controller.kube import Kube, connect
from kubeline.controller.reconciler import RunReconciler

_wakers: dict[tuple[str, str], asyncio.Event] = {}
_pods: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # a running Run's pods by name, from events
_shared: dict[str, Any] = {}


def _waker(namespace: str, name: str) -> asyncio.Event:
    return _wakers.setdefault((namespace, name), asyncio.Event())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: logging.Logger, **_: Any) -> None:
    config_file = os.environ.get("KUBELINE_CONFIG")
    _shared["config"] = load_config(Path(config_file) if config_file else None)
    _shared["kube"] = Kube(connect())
    # kopf's bookkeeping lives under kubeline's own group, in annotations (Run.status belongs to kubeline)
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.batching.worker_limit = 200
    logger.info("kubeline operator configured: %s", _shared["config"].to_dict())


@kopf.daemon(GROUP, VERSION, "runs", cancellation_timeout=5.0, initial_delay=0)
async def run_daemon(
    name: str, namespace: str, body: kopf.Body, stopped: kopf.DaemonStopped, logger: logging.Logger, **_: Any
) -> None:
    config: OperatorConfig = _shared["config"]
    pods = _pods.setdefault((namespace, name), {})
    reconciler = RunReconciler(_shared["kube"], config, namespace, name, pods)
    wake = _waker(namespace, name)
    try:
        while not stopped:
            wake.clear()
            try:
                due = await reconciler.reconcile(body)
            except Exception:
                logger.exception("reconcile of run %s/%s failed; retrying", namespace, name)
                due = 5.0
            if due is None:
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=due)
            except TimeoutError:
                pass
            await asyncio.sleep(config.batch_seconds)  # let the rest of a burst of events arrive
    finally:
        _wakers.pop((namespace, name), None)
        _pods.pop((namespace, name), None)


@kopf.on.event("", "v1", "pods", labels={RUN_LABEL: kopf.PRESENT})
def pod_changed(event: dict[str, Any], labels: dict[str, str], namespace: str, name: str, **_: Any) -> None:
    key = (namespace, labels[RUN_LABEL])
    pods = _pods.get(key)
    if pods is not None:
        if event.get("type") == "DELETED":
            pods.pop(name, None)
        else:
            pods[name] = event["object"]
    waker = _wakers.get(key)
    if waker is not None:
        waker.set()


@kopf.on.event(GROUP, VERSION, "runs", when=lambda spec, **_: bool(spec.get("cancel")))
def cancel_requested(name: str, namespace: str, **_: Any) -> None:
    event = _wakers.get((namespace, name))
    if event is not None:
        event.set()


@kopf.on.event(GROUP, VERSION, "pipelines")
def pipeline_changed(namespace: str, **_: Any) -> None:
    """Runs waiting for a Pipeline that did not exist look again."""
    for (run_namespace, _name), event in list(_wakers.items()):
        if run_namespace == namespace:
            event.set()
