"""An in-memory API server behind the methods of `kubeline.controller.kube.Kube`, for reconciler tests.

It keeps Kube's contract: creating what exists or deleting what is gone is a no-op, a pod name held by an
older Run of the same name is freed (and creation reported as not done), one held by anything else raises
PodNameTaken: the rule is Kube's own, `kube.pod_name_holder`. Pod events are played into the dictionaries `watch` hands out, as kopf's handlers do.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubeline.api.constants import RUN_LABEL
from kubeline.controller.kube import ClaimNotCreated, Keep, RunGone, RunRefused, claim_holder_problem, pod_name_holder
from kubeline.controller.pods import cached_pod
from tests.helpers import pipeline, task

#: The Run the reconciler and handler tests drive, and its two-step pipeline (b reads a's output).
NS, RUN, UID = "team", "r", "uid-1"
CHAIN = pipeline([task("a", arguments={"a": "x"}), task("b", arguments={"a": "{{tasks.a.outputs.out}}"})])["spec"]

Key = tuple[str, str]  # namespace, name


class FakeKube:
    def __init__(self) -> None:
        self.pipelines: dict[Key, dict[str, Any]] = {}
        self.runs: dict[Key, dict[str, Any]] = {}
        self.pods: dict[Key, dict[str, Any]] = {}
        self.cache_entries: dict[Key, dict[str, Any]] = {}
        self.run_records: dict[Key, dict[str, Any]] = {}
        self.volume_claims: dict[Key, dict[str, Any]] = {}
        self.queues: dict[Key, dict[str, Any]] = {}
        self.queue_status_writes: list[tuple[str, dict[str, Any]]] = []
        self.recurring_statuses: dict[Key, dict[str, Any]] = {}
        self.refuse_runs = ""  # the API server's words when it refuses every Run created (empty: it takes them)
        self.created_pods: list[str] = []
        self.deleted_pods: list[str] = []
        self._watched: dict[Key, dict[str, dict[str, Any]]] = {}  # (namespace, run) -> pods by name
        self._revision = 0

    # -- for tests --------------------------------------------------------------------------------

    def add_run(self, namespace: str, name: str, uid: str, spec: dict[str, Any]) -> dict[str, Any]:
        run = {"metadata": {"name": name, "namespace": namespace, "uid": uid}, "spec": spec}
        self.runs[namespace, name] = run
        return run

    def watch(self, namespace: str, run: str) -> dict[str, dict[str, Any]]:
        """The Run's pods by name, kept current by pod events (what the operator hands its reconciler)."""
        return self._watched.setdefault((namespace, run), {})

    def put_pod(self, pod: dict[str, Any]) -> None:
        """Store a pod (created, or changed by the kubelet) and send its event."""
        self._revision += 1
        pod = copy.deepcopy(pod)
        pod["metadata"]["resourceVersion"] = str(self._revision)
        metadata = pod["metadata"]
        self.pods[metadata["namespace"], metadata["name"]] = pod
        watched = self._watched.get((metadata["namespace"], (metadata.get("labels") or {}).get(RUN_LABEL, "")))
        if watched is not None:
            watched[metadata["name"]] = copy.deepcopy(pod)

    def set_pod_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        pod = copy.deepcopy(self.pods[namespace, name])
        pod["status"] = status
        self.put_pod(pod)

    # -- Kube --------------------------------------------------------------------------------------

    async def get_pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.pipelines.get((namespace, name)))

    async def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.runs.get((namespace, name)))

    async def get_cache_entry(self, namespace: str, key: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.cache_entries.get((namespace, key)))

    async def create_cache_entry(self, namespace: str, body: dict[str, Any]) -> None:
        self.cache_entries.setdefault((namespace, body["metadata"]["name"]), _as_sent(body))

    async def get_run_record(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.run_records.get((namespace, name)))

    async def write_run_record(self, namespace: str, body: dict[str, Any]) -> None:
        self.run_records[namespace, body["metadata"]["name"]] = _as_sent(body)

    def write_status_as_someone_else(self, namespace: str, name: str, fields: dict[str, Any]) -> None:
        """Another client's merge patch of the Run's status (kubectl patch --subresource=status)."""
        run = self.runs[namespace, name]
        run["status"] = {**(run.get("status") or {}), **copy.deepcopy(fields)}
        self._revision += 1
        run["metadata"]["resourceVersion"] = str(self._revision)

    async def write_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> str:
        if (namespace, name) not in self.runs:
            raise RunGone(f"Run {namespace}/{name} was deleted")
        run = self.runs[namespace, name]
        run["status"] = _as_sent(status)
        self._revision += 1
        run["metadata"]["resourceVersion"] = str(self._revision)
        return str(self._revision)

    async def delete_run(self, namespace: str, name: str) -> None:
        self.runs.pop((namespace, name), None)

    async def list_custom(self, namespace: str, plural: str, keep: Keep | None = None) -> list[dict[str, Any]]:
        stored = {"runs": self.runs, "queues": self.queues}[plural]
        kept = keep or copy.deepcopy
        return [kept(item) for (item_namespace, _), item in stored.items() if item_namespace == namespace]

    async def list_step_pods(self, namespace: str, keep: Keep | None = None) -> list[dict[str, Any]]:
        kept = keep or copy.deepcopy
        return [
            kept(pod)
            for (pod_namespace, _), pod in self.pods.items()
            if pod_namespace == namespace and RUN_LABEL in pod["metadata"].get("labels", {})
        ]

    async def write_queue_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.queues[namespace, name]["status"] = _as_sent(status)
        self.queue_status_writes.append((name, _as_sent(status)))

    async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        if self.refuse_runs:
            raise RunRefused(f"the API server refused Run {body['metadata']['name']}: {self.refuse_runs}")
        key = (namespace, body["metadata"]["name"])
        if key in self.runs:
            return False
        self.runs[key] = _as_sent({**body, "metadata": {**body["metadata"], "namespace": namespace}})
        return True

    async def runs_labelled(self, namespace: str, label: str, value: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(run)
            for (run_namespace, _), run in self.runs.items()
            if run_namespace == namespace and (run["metadata"].get("labels") or {}).get(label) == value
        ]

    async def cancel_run(self, namespace: str, name: str) -> None:
        if (namespace, name) in self.runs:
            self.runs[namespace, name]["spec"]["cancel"] = True

    async def write_recurring_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.recurring_statuses[namespace, name] = _as_sent(status)

    async def list_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """As Kube's: cut down to what the Run's pod cache keeps, so the tests run on what the reconciler holds."""
        return [
            cached_pod(copy.deepcopy(pod))
            for (pod_namespace, _), pod in self.pods.items()
            if pod_namespace == namespace and pod["metadata"].get("labels", {}).get(RUN_LABEL) == run
        ]

    async def create_pod(self, body: dict[str, Any]) -> bool:
        metadata = body["metadata"]
        existing = self.pods.get((metadata["namespace"], metadata["name"]))
        if existing is None:
            self.put_pod({**_as_sent(body), "status": {"phase": "Pending"}})
            self.created_pods.append(metadata["name"])
            return True
        holders = existing["metadata"].get("ownerReferences") or []
        if pod_name_holder(metadata["name"], metadata["ownerReferences"][0], holders) == "this run":
            return True
        await self.delete_pod(metadata["namespace"], metadata["name"])
        return False

    async def delete_pod(self, namespace: str, name: str) -> None:
        pod = self.pods.pop((namespace, name), None)
        if pod is None:
            return
        self.deleted_pods.append(name)
        watched = self._watched.get((namespace, pod["metadata"].get("labels", {}).get(RUN_LABEL, "")))
        if watched is not None:
            watched.pop(name, None)

    async def ensure_volume_claim(self, body: dict[str, Any]) -> None:
        metadata = body["metadata"]
        existing = self.volume_claims.setdefault((metadata["namespace"], metadata["name"]), _as_sent(body))
        problem = claim_holder_problem(body, existing["metadata"]) if metadata.get("ownerReferences") else None
        if problem:
            raise ClaimNotCreated(problem)

    async def volume_claim_exists(self, namespace: str, name: str) -> bool:
        return (namespace, name) in self.volume_claims


def _as_sent(document: dict[str, Any]) -> dict[str, Any]:
    """What the API server stores: JSON, not the Python objects the caller still holds."""
    return json.loads(json.dumps(document))
