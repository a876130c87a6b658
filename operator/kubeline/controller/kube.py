"""The one module that talks to the Kubernetes API (besides kopf's own watching).

The synchronous `kubernetes` client runs in worker threads so the operator's event loop never blocks.
Every write is idempotent: creating what exists, or deleting what is gone, counts as done. Calls pass a
client-side rate limit shared by every reconciler, and a call the API server turns away for now (429 from API
Priority and Fairness) is sent again when its Retry-After says (controller/throttle.py).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Literal, cast

import kopf
from kubernetes import client, config

# Imported with this module, not on first use (the client imports its API classes lazily): the first use is
# kopf's startup, after a standby takes the Lease, and importing an API class then costs seconds of the takeover.
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock
from urllib3.util.retry import Retry

from kubeline.api.constants import GROUP, RUN_LABEL, VERSION
from kubeline.controller import telemetry
from kubeline.controller.leader import (
    LeadershipHook,
    Refusals,
    Timings,
    Watchdog,
    may_take,
    overwritten,
    standby_message,
    taken_from,
)
from kubeline.controller.pods import cached_pod
from kubeline.controller.throttle import MAX_TRIES, TokenBucket, retry_delay

#: What a listing keeps of each item it reads.
Keep = Callable[[dict[str, Any]], dict[str, Any]]
#: Items a listing reads at a time (the API server's pages: see _listed).
LIST_PAGE = 500
#: The Kubernetes verb of the request being made (Kube._call sets it; the worker thread inherits it).
_VERB: ContextVar[str] = ContextVar("verb", default="other")
#: Kubernetes verbs by the client method's first word (read_namespaced_pod: get).
_VERBS = {"read": "get", "get": "get", "list": "list", "create": "create", "patch": "patch", "delete": "delete"}


def connect() -> client.ApiClient:
    """The reconcilers' client: the in-cluster configuration, else the kubeconfig's; each request counted in
    the metrics."""
    api = client.ApiClient(_configuration())
    _count_requests(api)
    return api


def _configuration() -> client.Configuration:
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
    configuration = client.Configuration.get_default_copy()
    # urllib3's own three retries, except that a GET answered 429 is no longer retried inside the worker thread
    # (uncounted, holding the thread for the Retry-After): Kube._call waits for it, counted, without a thread
    configuration.retries = Retry(total=3, respect_retry_after_header=False)
    return configuration


def _lease_client() -> client.ApiClient:
    """The elector's client: not counted in the metrics (they count the reconcilers' requests), and without
    urllib3's own retries (three by default, each waiting the full request timeout)."""
    configuration = _configuration()
    configuration.retries = False
    return client.ApiClient(configuration)


def _count_requests(api: client.ApiClient) -> None:
    """Every HTTP request ``api`` makes counted by verb and code (``error``: no answer) in the metrics."""
    rest: Any = api.rest_client  # the client's REST layer is not annotated
    request = rest.request

    def counted(*args: Any, **kwargs: Any) -> Any:
        verb = _VERB.get()
        try:
            response = request(*args, **kwargs)
        except ApiException as error:  # the REST layer's own failures (TLS, connection): status 0
            telemetry.api_requests.labels(verb, str(error.status or "error")).inc()
            raise
        except Exception:
            telemetry.api_requests.labels(verb, "error").inc()
            raise
        telemetry.api_requests.labels(verb, str(response.status)).inc()
        return response

    rest.request = counted


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


class RunRefused(RuntimeError):
    """The API server refused a Run a RecurringRun makes (its template's labels, a quota, an admission rule)."""


#: What the API server answers a document it will never take: malformed, forbidden, invalid.
REFUSED = (400, 403, 422)

#: Seconds to connect, and to wait for each read of an answer (a list of 10,000 pods takes a few seconds).
REQUEST_TIMEOUT = (5.0, 30.0)


class RunGone(RuntimeError):
    """The Run was deleted: its status cannot be written, and its daemon has nothing left to do."""


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


class CoreCalls:
    """The core/v1 calls the operator makes (pods, volume claims), named and called as CoreV1Api's, made through
    the client's own request path (its authentication, TLS, the counted REST layer). CoreV1Api itself, 400
    methods in 4.4 MB of source, costs 20 MiB of memory to import: a fifth of an idle operator's."""

    def __init__(self, api: client.ApiClient):
        self.api = api

    def list_namespaced_pod(self, namespace: str, **options: Any) -> Any:
        return self._request("GET", f"/api/v1/namespaces/{namespace}/pods", **options)

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any], **options: Any) -> Any:
        return self._request("POST", f"/api/v1/namespaces/{namespace}/pods", body=body, **options)

    def read_namespaced_pod(self, name: str, namespace: str, **options: Any) -> Any:
        return self._request("GET", f"/api/v1/namespaces/{namespace}/pods/{name}", **options)

    def delete_namespaced_pod(self, name: str, namespace: str, **options: Any) -> Any:
        return self._request("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", **options)

    def create_namespaced_persistent_volume_claim(self, namespace: str, body: dict[str, Any], **options: Any) -> Any:
        return self._request("POST", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", body=body, **options)

    def read_namespaced_persistent_volume_claim(self, name: str, namespace: str, **options: Any) -> Any:
        return self._request("GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}", **options)

    def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        _request_timeout: Any = None,
        _preload_content: bool = True,
        **query: Any,
    ) -> Any:
        """The answer's JSON (the raw response with ``_preload_content=False``, as the client's API classes
        give it); ApiException for any status but 2xx. ``query``: the API's parameters in snake case
        (``_continue`` is ``continue``)."""
        parameters = [(_camel(key.lstrip("_")), value) for key, value in query.items() if value is not None]
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = self.api.param_serialize(
            method, path, query_params=parameters, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response: Any = self.api.call_api(*request, _request_timeout=_request_timeout)  # the REST layer: untyped
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(response.data) if _preload_content else response


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


class Kube:
    """The controller's API calls. ``limit``: the client-side rate limit all of them share (None: none)."""

    def __init__(self, api: client.ApiClient, limit: TokenBucket | None = None):
        self.core = CoreCalls(api)
        self.custom = CustomObjectsApi(api)
        self.limit = limit

    async def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """One API call in a worker thread, bounded: the client waits forever by default, so a connection
        that went silent (a dead load balancer, a lost network path) would hang the Run's daemon for good.
        It waits its turn under the rate limit first; answered 429 (or 5xx with Retry-After) it is sent again
        after the seconds the server asks, up to MAX_TRIES times, and only then raises."""
        verb = _VERBS.get(function.__name__.split("_")[0], "other")
        _VERB.set(verb)
        tries = 0
        while True:
            tries += 1
            if self.limit is not None:
                turn = self.limit.reserve(time.monotonic())
                if turn > 0:
                    telemetry.api_waits.labels("client").inc(turn)
                    await asyncio.sleep(turn)
            try:
                return await asyncio.to_thread(_answered, function, *args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            except ApiException as error:
                asked = retry_delay(error.status, error.headers, time.time())
                if asked is None or tries >= MAX_TRIES:
                    raise
                telemetry.api_retries.labels(verb, str(error.status)).inc()
                telemetry.api_waits.labels("server").inc(asked)
                await asyncio.sleep(asked)

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

    async def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_custom("runs", namespace, name)

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

    async def get_run_record(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._get_custom("runrecords", namespace, name)

    async def write_run_record(self, namespace: str, body: dict[str, Any]) -> None:
        """Create the RunRecord, or replace one of its name: a pass that failed after writing it and before the
        Run's status named it wrote one the status never used."""
        try:
            await self._call(self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "runrecords", body)
            return
        except ApiException as error:
            if error.status != 409:
                raise
        name = body["metadata"]["name"]
        found = await self.get_run_record(namespace, name)
        replacement = {
            **body,
            "metadata": {
                **body["metadata"],
                "resourceVersion": (found or {}).get("metadata", {}).get("resourceVersion"),
            },
        }
        await self._call(
            self.custom.replace_namespaced_custom_object, GROUP, VERSION, namespace, "runrecords", name, replacement
        )

    async def write_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> str:
        """Replace the whole status in one write (a JSON patch), so fields dropped from it go too; returns the
        Run's resourceVersion after the write. RunGone when the Run was deleted."""
        try:
            return await self._write_status("runs", namespace, name, status)
        except ApiException as error:
            if error.status == 404:
                raise RunGone(f"Run {namespace}/{name} was deleted") from None
            raise

    async def write_recurring_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._write_status("recurringruns", namespace, name, status)

    async def _write_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> str:
        patch = [{"op": "add", "path": "/status", "value": status}]
        written: dict[str, Any] = await self._call(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            patch,
            _content_type="application/json-patch+json",
        )
        return str(written["metadata"]["resourceVersion"])

    async def create_run(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create the Run; False when one of its name exists (made by an earlier pass: a deterministic name makes
        the second creation a no-op). RunRefused, with the API server's words, when it will never take it."""
        try:
            await self._call(self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, "runs", body)
            return True
        except ApiException as error:
            if error.status in REFUSED:
                raise RunRefused(
                    f"the API server refused Run {body['metadata']['name']}: {_api_reason(error)}"
                ) from None
            if error.status != 409:
                raise
        return False

    async def runs_labelled(self, namespace: str, label: str, value: str) -> list[dict[str, Any]]:
        """The namespace's Runs whose ``label`` is ``value`` (whole documents)."""
        listing = await self._call(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "runs",
            label_selector=f"{label}={value}",
            _preload_content=False,
        )
        items: list[dict[str, Any]] = json.loads(listing.data)["items"]
        return items

    async def cancel_run(self, namespace: str, name: str) -> None:
        """Set spec.cancel (a merge patch: nothing else of the Run changes); a Run gone is cancelled enough."""
        try:
            await self._call(
                self.custom.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "runs",
                name,
                {"spec": {"cancel": True}},
            )
        except ApiException as error:
            if error.status != 404:
                raise

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

    async def _listed(
        self, function: Any, *args: Any, keep: Keep | None = None, **kwargs: Any
    ) -> tuple[list[dict[str, Any]], int]:
        """Every item of a listing, read LIST_PAGE at a time and each cut down by ``keep`` as its page is parsed,
        and the listing's resourceVersion: a namespace's 10,000 Runs are never held whole, nor parsed at once."""
        items: list[dict[str, Any]] = []
        token = None
        while True:
            page = await self._call(function, *args, limit=LIST_PAGE, _continue=token, _preload_content=False, **kwargs)
            document = json.loads(page.data)
            items.extend(map(keep, document["items"]) if keep is not None else document["items"])
            token = document["metadata"].get("continue")
            if not token:
                return items, int(document["metadata"].get("resourceVersion") or 0)

    async def list_runs(self, namespace: str) -> tuple[set[str], int]:
        """The names of the namespace's Runs, and the listing's resourceVersion."""
        items, version = await self._listed(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "runs",
            keep=lambda item: {"metadata": {"name": item["metadata"]["name"]}},
        )
        return {item["metadata"]["name"] for item in items}, version

    async def list_custom(self, namespace: str, plural: str, keep: Keep | None = None) -> list[dict[str, Any]]:
        """Every object of kubeline's kind ``plural`` in the namespace (only what ``keep`` keeps of each)."""
        items, _ = await self._listed(
            self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, plural, keep=keep
        )
        return items

    async def list_step_pods(self, namespace: str, keep: Keep | None = None) -> list[dict[str, Any]]:
        """The step pods of every Run in the namespace (only what ``keep`` keeps of each)."""
        items, _ = await self._listed(self.core.list_namespaced_pod, namespace, label_selector=RUN_LABEL, keep=keep)
        return items

    async def write_queue_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Replace the Queue's whole status (a JSON patch); a Queue deleted meanwhile needs none."""
        patch = [{"op": "add", "path": "/status", "value": status}]
        try:
            await self._call(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                "queues",
                name,
                patch,
                _content_type="application/json-patch+json",
            )
        except ApiException as error:
            if error.status != 404:
                raise

    async def list_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The Run's pods as its pod cache keeps them (pods.cached_pod)."""
        items, _ = await self._listed(
            self.core.list_namespaced_pod, namespace, label_selector=f"{RUN_LABEL}={run}", keep=cached_pod
        )
        return items

    async def create_pod(self, body: dict[str, Any]) -> bool:
        """Create the pod; False when a pod of that name belongs to an older Run of the same name
        (deleted, its pods not yet collected): that one is deleted, and the caller tries again later.
        PodNameTaken when it belongs to anything else: that pod is left alone."""
        metadata = body["metadata"]
        try:
            # the answer is not made into the client's V1Pod: that costs about 1 ms of CPU a pod, holding the GIL
            await self._call(self.core.create_namespaced_pod, metadata["namespace"], body, _preload_content=False)
            return True
        except ApiException as error:
            if error.status in REFUSED:
                raise PodRefused(f"the API server refused the step's pod: {_api_reason(error)}") from None
            if error.status != 409:
                raise
        existing = await self._call(self.core.read_namespaced_pod, metadata["name"], metadata["namespace"])
        holders = [
            {"uid": ref.get("uid"), "kind": ref.get("kind"), "name": ref.get("name")}
            for ref in existing["metadata"].get("ownerReferences") or []
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


def _answered(function: Any, *args: Any, **kwargs: Any) -> Any:
    """The call's answer; one asked for unread (_preload_content=False) is read here, in the worker thread, so
    that its connection goes back to the pool at once. Read later, when the event loop gets to it, a burst of
    answers holds more connections than the pool keeps (urllib3: "Connection pool is full, discarding
    connection"), and each discarded one costs a new TLS handshake."""
    answer = function(*args, **kwargs)
    if kwargs.get("_preload_content") is False:
        answer.data  # noqa: B018 - the read is the point: urllib3 keeps the body and gives the connection back
    return answer


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


log = logging.getLogger("kubeline.leader")


class _TimedLeases(client.CoordinationV1Api):
    """The Lease calls the elector makes, each with a timeout (the library sets none: a hung request would
    hang a standby for good), each answer reported to ``answered`` (the library turns error answers into a
    silent False)."""

    def __init__(self, api: client.ApiClient, timeout: float, answered: Callable[[str, int | None], None]):
        super().__init__(api)
        self.timeout, self.answered = timeout, answered

    def _timed(self, verb: str, call: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            result = call(*args, **{**kwargs, "_request_timeout": self.timeout})
        except ApiException as error:
            self.answered(verb, error.status)
            raise
        self.answered(verb, None)
        return result

    def read_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("get", super().read_namespaced_lease, args, kwargs)

    def create_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("create", super().create_namespaced_lease, args, kwargs)

    def replace_namespaced_lease(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("replace", super().replace_namespaced_lease, args, kwargs)


class _GuardedLease(LeaseLock):
    """The library's LeaseLock, writing over another holder's record only once it has not changed for the
    longer of this replica's lease duration and the Lease's own, on the monotonic clock (the library measures
    with its own duration on the wall clock)."""

    def __init__(
        self, name: str, namespace: str, me: str, lease_duration: int, clock: Callable[[], float] = time.monotonic
    ):
        super().__init__(name, namespace, me)  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated
        self.lease_duration, self.clock = lease_duration, clock
        self.seen: dict[str, Any] | None = None
        self.seen_change = clock()

    def get(self, name: str, namespace: str) -> Any:
        found, record = super().get(name, namespace)  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated
        if found and record.__dict__ != self.seen:
            self.seen, self.seen_change = dict(record.__dict__), self.clock()
        return found, record

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        holder = (self.seen or {}).get("holder_identity")
        written = int((self.seen or {}).get("lease_duration") or 0)
        if not may_take(self.identity, holder, (self.lease_duration, written), self.seen_change, self.clock()):
            return False
        return bool(super().update(name, namespace, updated_record))  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated


class _Elector(leaderelection.LeaderElection):
    """The client library's elector, reporting when each try began, whether it succeeded, and the holder it saw.
    An error other than the API server's answer (a timeout, a refused connection) counts as a failed try
    instead of ending the elector's thread; after ``release`` it never writes again."""

    def __init__(
        self,
        election: electionconfig.Config,
        tried: Callable[[float, bool], None],
        seen: Callable[[str | None], None],
    ):
        super().__init__(election)  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated
        self.tried, self.seen = tried, seen
        self.writing = threading.Lock()  # held by a try, and by the release: never both at once
        self.released = False
        self.unreachable = False  # said once when requests start failing, once when they work again

    def try_acquire_or_renew(self) -> bool:
        started = time.monotonic()
        with self.writing:
            if self.released:
                return False
            try:
                succeeded = bool(super().try_acquire_or_renew())  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated
                if self.unreachable:
                    log.info("Lease requests get answers again")
                self.unreachable = False
            except Exception as error:  # noqa: BLE001 - any failure of one try is a failed try, retried
                if not self.unreachable:
                    log.warning(
                        "Lease request failed (retried each %d s): %s", self.election_config.retry_period, error
                    )
                self.unreachable = True
                succeeded = False
        self.tried(started, succeeded)
        self.seen(self.observed_record.holder_identity if self.observed_record else None)
        return succeeded


def _dead(thread: threading.Thread) -> str | None:
    return None if thread.is_alive() else f"thread {thread.name} has ended: restart this replica"


class LeaseElection:
    """Leader election on a coordination.k8s.io Lease with the client library's elector, made safe where it is
    not (see controller/leader.py for the timings): requests time out, a Watchdog ends the process when the
    leader has not renewed within the renew deadline or sees another holder, and the library's INFO lines
    every retry period give way to one line per transition.

    The elector and the watchdog run in threads of their own, so a busy event loop delays neither."""

    def __init__(self, namespace: str, name: str, me: str, timings: Timings, on_change: LeadershipHook | None = None):
        logging.getLogger("leaderelection").setLevel(logging.WARNING)
        self.namespace, self.name, self.me, self.timings = namespace, name, me, timings
        self.on_change = on_change or (lambda leading: None)
        self.leading = threading.Event()
        self._won: Callable[[], object] = lambda: None
        self.holder: str | None = None
        self.lock = _GuardedLease(name, namespace, me, timings.lease_duration)
        # the elector retries each retry period itself
        self.lock.api_instance = _TimedLeases(_lease_client(), timings.request_timeout, self._answered)
        self.refusals = Refusals(f"{namespace}/{name}")
        election = electionconfig.Config(  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated
            self.lock,
            timings.lease_duration,
            timings.renew_deadline,
            timings.retry_period,
            onstarted_leading=self._started,
            onstopped_leading=lambda: self._stop_acting("could not renew the lease"),
        )
        self.elector = _Elector(election, self._tried, self._seen)
        self.watchdog = Watchdog(
            timings.renew_deadline,
            lambda since: self._stop_acting(
                f"no renewal for {since:.1f} s (renew deadline {timings.renew_deadline} s)"
            ),
        )

    async def lead(self) -> None:
        """Stand for the Lease; returns once this replica leads (a standby waits here, for good if need be)."""
        loop = asyncio.get_running_loop()
        won = asyncio.Event()
        self._won = lambda: loop.call_soon_threadsafe(won.set)
        self.on_change(False)
        log.info("candidate %s for Lease %s/%s", self.me, self.namespace, self.name)
        threads = [
            threading.Thread(target=self.watchdog.watch, name="lease-watchdog", daemon=True),
            threading.Thread(target=self.elector.run, name="lease-elector", daemon=True),
        ]
        for thread in threads:
            thread.start()
            telemetry.health_checks.append(functools.partial(_dead, thread))
        await won.wait()

    def release(self) -> None:
        """Give the Lease up after a graceful stop (kopf no longer acts): a standby takes it at its next try
        instead of a lease duration later. Only the version just read, still ours, is written over."""
        with self.elector.writing:
            self.elector.released = True
            self.watchdog.disarm()
            if not self.leading.is_set():
                return
            try:
                self._write_release()
            except Exception as error:  # noqa: BLE001 - the standby takes the lease when it expires instead
                log.warning("could not release Lease %s/%s: %s", self.namespace, self.name, error)
        self.on_change(False)

    def _write_release(self) -> None:
        found, record = self.lock.get(self.name, self.namespace)
        if found and record.holder_identity == self.me:
            now = str(datetime.datetime.now())
            empty = LeaderElectionRecord("", "1", now, now)  # type: ignore[no-untyped-call]  # kubernetes.leaderelection is not annotated
            if self.lock.update(self.name, self.namespace, empty):
                log.info("released Lease %s/%s", self.namespace, self.name)

    def _tried(self, started: float, succeeded: bool) -> None:
        if succeeded:
            self.watchdog.renewed(started)
        elif self.leading.is_set():
            log.warning(
                "could not renew Lease %s/%s: this replica stops acting %d s after its last renewal began",
                self.namespace,
                self.name,
                self.timings.renew_deadline,
            )

    def _answered(self, verb: str, status: int | None) -> None:
        if overwritten(self.leading.is_set(), verb, status):
            self._stop_acting(f"another replica wrote Lease {self.namespace}/{self.name} ({verb}: 409 Conflict)")
        line = self.refusals.answered(verb, status)
        if line:
            log.log(logging.INFO if status is None else logging.WARNING, "%s", line)

    def _started(self) -> None:
        log.info("became leader (Lease %s/%s, as %s)", self.namespace, self.name, self.me)
        self.on_change(True)
        self.leading.set()
        self._won()

    def _seen(self, holder: str | None) -> None:
        leading = self.leading.is_set()
        if taken_from(self.me, leading, holder):
            self._stop_acting(f"the Lease is held by {holder} now")
        message = standby_message(self.me, leading, self.holder, holder)
        if message:
            log.info("%s (it must renew its Lease %s/%s)", message, self.namespace, self.name)
        self.holder = holder

    def _stop_acting(self, reason: str) -> None:
        """controller-runtime's way: a leader that may have lost its lease exits at once, and is restarted as a
        standby; nothing of it acts a moment longer (after a release, nothing is left to stop)."""
        if self.elector.released:
            return
        # nothing here may block before the exit: not a log handler's lock, not a full stderr pipe
        threading.Timer(0.2, os._exit, (1,)).start()
        os.write(2, f"CRITICAL kubeline.leader: lost the lease: {reason}; exiting, to restart as a standby\n".encode())
        os._exit(1)
