"""The one module that talks to the Kubernetes API (besides kopf's own watching).

The synchronous `kubernetes` client runs in worker threads so the operator's event loop never blocks.
Every write is idempotent: creating what exists, or deleting what is gone, counts as done.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kubeline.api.constants import GROUP, RUN_LABEL, VERSION


def connect() -> client.ApiClient:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
    return client.ApiClient()


class PodNameTaken(RuntimeError):
    """A step's pod name is held by a pod kubeline must not delete (another Run's, or a user's)."""


def pod_name_holder(
    name: str, owner: Mapping[str, Any], holders: Sequence[Mapping[str, Any]]
) -> Literal["this run", "an older run"]:
    """Who holds a pod name being created by ``owner``, from the existing pod's owner references:
    this Run (it created the pod before a restart: counts as created), or an older Run of the same name
    (deleted, its pods not yet collected: delete the pod and create it again later).
    PodNameTaken when anything else holds it: that pod is left alone."""
    if any(ref["uid"] == owner["uid"] for ref in holders):
        return "this run"
    if not any(ref["kind"] == owner["kind"] and ref["name"] == owner["name"] for ref in holders):
        held_by = ", ".join(f"{ref['kind']} {ref['name']}" for ref in holders) or "no owner"
        raise PodNameTaken(
            f"pod name {name} is taken by a pod of {held_by}; rename this run (or that pod) and run it again"
        )
    return "an older run"


class PodRefused(RuntimeError):
    """The API server refused a step's pod (invalid, or forbidden by an admission rule): sending it again would
    not help, so the step fails with the API server's own words."""


#: What the API server answers a document it will never take: malformed, forbidden, invalid.
REFUSED = (400, 403, 422)

#: Seconds to connect, and to wait for each read of an answer (a list of 10,000 pods takes a few seconds).
REQUEST_TIMEOUT = (5.0, 30.0)


class ClaimNotCreated(RuntimeError):
    """The API server refused a PersistentVolumeClaim, or its name is another's: the message says which and why."""


def claim_holder_problem(body: Mapping[str, Any], existing: Mapping[str, Any]) -> str | None:
    """Why the existing claim of ``body``'s name is not this Run's own (``existing``: its metadata), or None.
    A claim the Run owns was made by an earlier pass: it is used as it is."""
    metadata = body["metadata"]
    owner = metadata["ownerReferences"][0]
    run = (existing.get("labels") or {}).get(RUN_LABEL)
    owners = existing.get("ownerReferences") or []
    if run == metadata["labels"][RUN_LABEL] and any(ref.get("uid") == owner["uid"] for ref in owners):
        return None
    held_by = ", ".join(f"{ref.get('kind')} {ref.get('name')}" for ref in owners) or "no Run (a claim made by hand?)"
    leaving = " and is being deleted" if existing.get("deletionTimestamp") else ""
    return (
        f"the claim {metadata['name']} exists and belongs to {held_by}{leaving}; rename this run or the "
        "pipeline's volume (or delete that claim)"
    )


class Kube:
    def __init__(self, api: client.ApiClient):
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    async def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """One API call in a worker thread, bounded: the client waits forever by default, so a connection
        that went silent (a dead load balancer, a lost network path) would hang the Run's daemon for good."""
        return await asyncio.to_thread(function, *args, _request_timeout=REQUEST_TIMEOUT, **kwargs)

    async def _get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._call(
                self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
            )
            return found
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def get_pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_custom("pipelines", namespace, name)

    async def get_cache_entry(self, namespace: str, key: str) -> dict[str, Any] | None:
        return await self._get_custom("cacheentries", namespace, key)

    async def create_cache_entry(self, namespace: str, body: dict[str, Any]) -> None:
        try:
            await self._call(
                self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "cacheentries", body
            )
        except ApiException as error:
            if error.status != 409:
                raise

    async def write_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Replace the whole status in one write (a JSON patch), so fields dropped from it go too."""
        patch = [{"op": "add", "path": "/status", "value": status}]
        await self._call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            "runs",
            name,
            patch,
            _content_type="application/json-patch+json",
        )

    async def delete_run(self, namespace: str, name: str) -> None:
        try:
            await self._call(
                self.custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "runs",
                name,
                propagation_policy="Background",
            )
        except ApiException as error:
            if error.status != 404:
                raise

    async def list_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        pods = await self._call(
            self.core.list_namespaced_pod, namespace, label_selector=f"{RUN_LABEL}={run}", _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(pods.data)["items"]
        return items

    async def create_pod(self, body: dict[str, Any]) -> bool:
        """Create the pod; False when a pod of that name belongs to an older Run of the same name
        (deleted, its pods not yet collected): that one is deleted, and the caller tries again later.
        PodNameTaken when it belongs to anything else: that pod is left alone."""
        metadata = body["metadata"]
        try:
            await self._call(self.core.create_namespaced_pod, metadata["namespace"], body)
            return True
        except ApiException as error:
            if error.status in REFUSED:
                raise PodRefused(f"the API server refused the step's pod: {_api_reason(error)}") from None
            if error.status != 409:
                raise
        existing = await self._call(self.core.read_namespaced_pod, metadata["name"], metadata["namespace"])
        holders = [
            {"uid": ref.uid, "kind": ref.kind, "name": ref.name} for ref in existing.metadata.owner_references or []
        ]
        if pod_name_holder(metadata["name"], metadata["ownerReferences"][0], holders) == "this run":
            return True
        await self.delete_pod(metadata["namespace"], metadata["name"])
        return False

    async def delete_pod(self, namespace: str, name: str) -> None:
        try:
            await self._call(self.core.delete_namespaced_pod, name, namespace, grace_period_seconds=5)
        except ApiException as error:
            if error.status != 404:
                raise

    async def ensure_volume_claim(self, body: dict[str, Any]) -> None:
        """Create the claim; one that exists already is used as it is when kept (a fixed name, shared by runs)
        or when this Run owns it (made by an earlier pass). ClaimNotCreated when the API server refuses it
        (quota, permissions, an invalid storage class…) or the name is another's."""
        metadata = body["metadata"]
        try:
            await self._call(self.core.create_namespaced_persistent_volume_claim, metadata["namespace"], body)
            return
        except ApiException as error:
            if error.status != 409:
                raise ClaimNotCreated(
                    f"PersistentVolumeClaim {metadata['name']} could not be created: {_api_reason(error)}"
                ) from None
        if not metadata.get("ownerReferences"):
            return
        existing = await self._call(
            self.core.read_namespaced_persistent_volume_claim,
            metadata["name"],
            metadata["namespace"],
            _preload_content=False,
        )
        problem = claim_holder_problem(body, json.loads(existing.data)["metadata"])
        if problem:
            raise ClaimNotCreated(problem)

    async def volume_claim_exists(self, namespace: str, name: str) -> bool:
        try:
            await self._call(self.core.read_namespaced_persistent_volume_claim, name, namespace)
            return True
        except ApiException as error:
            if error.status == 404:
                return False
            raise


def _api_reason(error: ApiException) -> str:
    """The API server's own message (the Status body's), else its HTTP reason."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or f"{error.status} {error.reason}")


def event(run: Mapping[str, Any], kind: str, reason: str, message: str) -> None:
    """An Event on the Run, posted by kopf in the background (never blocks a reconcile)."""
    # kopf reads only apiVersion, kind and metadata: any mapping of a Run will do, kopf's Body or a dict
    kopf.event(cast(kopf.Body, run), type=kind, reason=reason, message=message[:1000])
