"""A cluster's Runs and Pipelines as a Source, read with the user's kube context (or the pod's service account).

One list+watch per resource kind: the list is paged (LIST_PAGE items a request), the watch starts from the
list's resourceVersion, a 410 Gone relists, a broken connection reconnects after a growing pause. The watches
run in threads (the Kubernetes client blocks) and hand every event to the asyncio loop, which alone changes
the rows. Only RunRows are kept for Runs (10,000 Runs with their frozen pipelines would not fit); a run page
GETs its Run once, then follows the documents the watch delivers. Nothing here polls the API server.

Every refusal of the API server becomes an ActionRefused naming what is missing (e.g. the RBAC verb), shown
to the user as a page, never as a traceback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client import ApiException

from kubeline.api.constants import API_VERSION, GROUP, VERSION
from kubeline.api.records import with_records
from kubeline.engine.retry import retry_document
from kubeline.sdk.client import kube_context, stored_log
from kubeline.ui.rows import RunRow, run_row
from kubeline.ui.sources import ActionRefused, Change, ChangeKind, ChangeType, Hub, read_artifact

log = logging.getLogger("kubeline.ui")

LIST_PAGE = 500
#: Seconds the API server keeps one watch request open; the client's own timeout is a little longer.
WATCH_SECONDS = 240
REQUEST_TIMEOUT = 30
MAX_BACKOFF = 30.0
#: Seconds a log-reading thread waits for room in the reader's queue before it checks whether to stop.
LOG_PUT_SECONDS = 0.5
#: Pods whose events a page asks for (one request each), and events kept of each object.
MAX_EVENT_PODS = 20
MAX_EVENTS = 200
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def refused(error: ApiException, verb: str, what: str, namespace: str) -> ActionRefused:
    """The user's message for an API error: for 403, the permission to ask for."""
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    if error.status == 403:
        return ActionRefused(
            f"forbidden: your Kubernetes identity may not {verb} {what} {where} "
            f"(RBAC: the '{verb}' verb on {what}); ask your cluster admin, or use a context that may"
        )
    if error.status == 404:
        return ActionRefused(f"not found: {what} {where}", 404)
    if error.status in (409, 422):
        return ActionRefused(f"the API server refused to {verb} {what}: {error.reason}: {_message(error)}", 422)
    return ActionRefused(f"the API server failed to {verb} {what} {where}: {error.status} {error.reason}", 502)


def _message(error: ApiException) -> str:
    import json

    try:
        return str(json.loads(error.body or "{}").get("message", ""))
    except ValueError:
        return ""


class _Watcher:
    """List+watch of one custom resource kind in a thread; each event is handed to ``deliver`` on the loop."""

    def __init__(self, source: ClusterSource, plural: str, kind: ChangeKind):
        self.source, self.plural, self.kind = source, plural, kind
        self.stopping = threading.Event()
        self.listed = threading.Event()
        self.error: str | None = None
        #: Whether the current watch request delivered events (a healthy connection that then dropped).
        self.delivered = False
        self.watch: watch.Watch | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"kubeline-ui-watch-{plural}")

    def _list_function(self) -> Callable[..., Any]:
        custom = self.source.custom
        if self.source.namespace is None:
            return lambda **kw: custom.list_cluster_custom_object(GROUP, VERSION, self.plural, **kw)
        namespace = self.source.namespace
        return lambda **kw: custom.list_namespaced_custom_object(GROUP, VERSION, namespace, self.plural, **kw)

    def _list(self) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        token, version = "", ""
        while True:
            body = self._list_function()(limit=LIST_PAGE, _continue=token or None, _request_timeout=REQUEST_TIMEOUT)
            items.extend(body.get("items") or [])
            metadata = body.get("metadata") or {}
            version = metadata.get("resourceVersion", version)
            token = metadata.get("continue") or ""
            if not token:
                return items, version

    def _run(self) -> None:
        backoff, version = 1.0, ""
        while not self.stopping.is_set():
            self.delivered = False
            try:
                if not version:
                    items, version = self._list()
                    self.source.call(self.source.replace_all, self.kind, items)
                    self.listed.set()
                    self.error = None
                    backoff = 1.0
                version = self._watch(version)
                backoff = 1.0  # the server ended the watch as asked: healthy
            except ApiException as error:
                if error.status == 410:
                    version = ""  # too old: list again
                    continue
                self.error = str(
                    refused(error, "list and watch", f"{self.plural}.{GROUP}", self.source.namespace or "")
                )
                log.warning("%s", self.error)
                self.listed.set()
                backoff = self._pause(backoff)
            except Exception as error:  # noqa: BLE001 - a broken connection: reconnect after a pause
                log.warning("watching %s: %s; reconnecting", self.plural, error)
                backoff = self._pause(backoff)

    def _pause(self, backoff: float) -> float:
        """Waits before reconnecting; the pause grows while reconnecting fails, and starts over after a
        watch that delivered events (a dropped connection, not a broken server). The next pause."""
        if self.delivered:
            backoff = 1.0
        self.stopping.wait(backoff)
        return min(MAX_BACKOFF, backoff * 2)

    def _watch(self, version: str) -> str:
        """Watches from ``version`` until the server ends the request; the last version seen ('' for 410)."""
        self.watch = watch.Watch()  # type: ignore[no-untyped-call]  # kubernetes is not annotated
        stream = self.watch.stream(  # type: ignore[no-untyped-call]
            self._list_function(),
            resource_version=version,
            timeout_seconds=WATCH_SECONDS,
            allow_watch_bookmarks=True,
            _request_timeout=WATCH_SECONDS + 15,
        )
        for event in stream:
            if self.stopping.is_set():
                break
            kind, item = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if item.get("code") == 410:
                    return ""
                raise RuntimeError(item.get("message", "watch error"))
            version = (item.get("metadata") or {}).get("resourceVersion", version)
            self.delivered = True
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self.source.call(self.source.apply, self.kind, kind, item)
        return version

    def stop(self) -> None:
        self.stopping.set()
        if self.watch is not None:
            self.watch.stop()  # type: ignore[no-untyped-call]


class ClusterSource:
    def __init__(
        self,
        *,
        namespace: str | None = None,
        all_namespaces: bool = False,
        in_cluster: bool = False,
        read_only: bool = False,
        api_client: Any = None,
    ):
        context_name = "in-cluster"
        if api_client is None:
            if in_cluster:
                config.load_incluster_config()  # type: ignore[no-untyped-call]  # not annotated
                default_namespace = _SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
            else:
                context = kube_context()
                context_name = (context or {}).get("name", "?")
                default_namespace = (context or {}).get("context", {}).get("namespace") or "default"
            api_client = client.ApiClient()
        else:
            default_namespace = namespace or "default"
        #: None: every namespace.
        self.namespace: str | None = None if all_namespaces else (namespace or default_namespace)
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.writable = not read_only
        scope = "all namespaces" if self.namespace is None else f"namespace {self.namespace}"
        self.label = f"cluster {context_name}, {scope}"
        self.hub = Hub()
        self._rows: dict[tuple[str, str], RunRow] = {}
        self._pipelines: dict[tuple[str, str], dict[str, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers = [_Watcher(self, "runs", "Run"), _Watcher(self, "pipelines", "Pipeline")]

    # -- the watches ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for watcher in self._watchers:
            watcher.thread.start()
        await asyncio.to_thread(lambda: [w.listed.wait(REQUEST_TIMEOUT * 2) for w in self._watchers])

    async def stop(self) -> None:
        for watcher in self._watchers:
            watcher.stop()

    def call(self, function: Callable[..., None], *args: Any) -> None:
        """Runs ``function`` on the loop (from a watch thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(function, *args)

    def replace_all(self, kind: ChangeKind, items: list[dict[str, Any]]) -> None:
        """A (re)list: everything known of the kind replaced; the differences published."""
        if kind == "Run":
            documents = {_key(item): item for item in items}
            rows = {key: run_row(item) for key, item in documents.items()}
            for key in set(self._rows) - set(rows):
                self.hub.publish(Change("Run", "DELETED", *key))
            for key, row in rows.items():
                if self._rows.get(key) != row:
                    event: ChangeType = "MODIFIED" if key in self._rows else "ADDED"
                    self.hub.publish(Change("Run", event, *key, documents[key]))
            self._rows = rows
        else:
            self._pipelines = {_key(item): item for item in items}

    def apply(self, kind: ChangeKind, event: ChangeType, item: dict[str, Any]) -> None:
        """One watch event; published with the watched object, so an open run page needs no GET per change."""
        key = _key(item)
        if kind == "Run":
            if event == "DELETED":
                self._rows.pop(key, None)
            else:
                self._rows[key] = run_row(item)
        elif event == "DELETED":
            self._pipelines.pop(key, None)
        else:
            self._pipelines[key] = item
        self.hub.publish(Change(kind, event, key[0], key[1], None if event == "DELETED" else item))

    def problems(self) -> list[str]:
        """Why some runs or pipelines may be missing (e.g. RBAC forbids listing them)."""
        return [w.error for w in self._watchers if w.error]

    # -- reads ------------------------------------------------------------------------------------------

    def rows(self) -> Sequence[RunRow]:
        return list(self._rows.values())

    def row(self, namespace: str, name: str) -> RunRow | None:
        return self._rows.get((namespace, name))

    def in_scope(self, namespace: str) -> bool:
        """Whether ``namespace`` is one this UI shows (`-n NS` shows NS only, even to a user who may read more)."""
        return self.namespace is None or namespace == self.namespace

    def _check_scope(self, namespace: str) -> None:
        if not self.in_scope(namespace):
            raise ActionRefused(f"this UI shows namespace {self.namespace} only, not {namespace}", 404)

    async def _get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        if not self.in_scope(namespace):
            return None

        def get() -> dict[str, Any] | None:
            try:
                body = self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as error:
                if error.status == 404:
                    return None
                raise refused(error, "get", f"{plural}.{GROUP}", namespace) from None
            return body if isinstance(body, dict) else None

        return await asyncio.to_thread(get)

    async def run(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Run, with the steps a large run keeps in its RunRecords merged into status.tasks."""
        found = await self._get("runs", namespace, name)
        if found is None or not (found.get("status") or {}).get("records"):
            return found
        records = {record: await self._get("runrecords", namespace, record) for record in found["status"]["records"]}
        return with_records(found, records.get)

    def pipelines(self) -> Sequence[dict[str, Any]]:
        return list(self._pipelines.values())

    async def pipeline(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._pipelines.get((namespace, name)) or await self._get("pipelines", namespace, name)

    async def log(self, namespace: str, run: dict[str, Any], step: str, follow: bool) -> AsyncIterator[str]:
        """The pod's log while the pod exists (followed while it runs, with ``follow``), else the stored copy."""
        status = run.get("status") or {}
        task = (status.get("tasks") or {}).get(step) or {}
        pod = task.get("pod")
        if pod and not task.get("cached"):
            found = False
            async for chunk in self._pod_log(namespace, pod, follow and task.get("phase") == "Running"):
                found = True
                yield chunk
            if found:
                return
        if task.get("log"):
            yield await asyncio.to_thread(stored_log, status.get("artifactStore"), task["log"])
        else:
            yield "(no log: the step's pod is gone and no copy was stored)" if pod else "(no log: no pod ran)"

    async def _pod_log(self, namespace: str, pod: str, follow: bool) -> AsyncIterator[str]:
        """Chunks of the pod's main container's log; nothing when the pod is gone.

        A thread reads the HTTP response (the client blocks) into a bounded queue. When the reader goes away
        (the browser left), the response is shut down, which wakes a read waiting for data, and the thread,
        waiting for room in the queue at most LOG_PUT_SECONDS at a time, sees ``stop`` and ends."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue(256)
        stop = threading.Event()
        opened: list[Any] = []

        def put(item: str | None) -> bool:
            """Hands ``item`` to the reader; False once the reader stopped (or the loop closed)."""
            while not stop.is_set():
                try:
                    future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
                except RuntimeError:  # the loop closed
                    return False
                try:
                    future.result(LOG_PUT_SECONDS)
                    return True
                except concurrent.futures.TimeoutError:
                    future.cancel()
            return False

        def read() -> None:
            try:
                response: Any = self.core.read_namespaced_pod_log(
                    pod,
                    namespace,
                    container="main",
                    follow=follow,
                    _preload_content=False,
                    _request_timeout=None if follow else REQUEST_TIMEOUT,
                )
                opened.append(response)
                if stop.is_set():
                    return
                for data in response.stream(16384):
                    if stop.is_set() or not put(data.decode(errors="replace")):
                        break
            except ApiException as error:
                if error.status is not None and error.status >= 500:
                    # the API server asked the pod's node (its kubelet) and got nothing: say so, not "500"
                    put(f"(no log: the pod's node did not serve it: {_message(error) or error.reason})")
                elif error.status not in (400, 404):
                    put(f"(no log: {refused(error, 'get', 'pods/log', namespace)})")
            except Exception as error:  # noqa: BLE001 - a broken stream ends the log, with a note
                if not stop.is_set():
                    put(f"\n(log stream ended: {error})")
            finally:
                _close(opened)
                put(None)

        thread = threading.Thread(target=read, daemon=True, name=f"kubeline-ui-log-{pod}")
        thread.start()
        try:
            while (chunk := await queue.get()) is not None:
                yield chunk
        finally:
            stop.set()
            _close(opened)

    async def events(self, namespace: str, run_name: str, pods: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Events of the Run and of the named pods (at most MAX_EVENT_PODS), each asked of the API server by a
        field selector (equality only: pod names cannot be matched by prefix), oldest first."""

        def query(kind: str, name: str) -> list[Any]:
            try:
                return list(
                    self.core.list_namespaced_event(
                        namespace,
                        field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
                        limit=MAX_EVENTS,
                        _request_timeout=REQUEST_TIMEOUT,
                    ).items
                )
            except ApiException as error:
                raise refused(error, "list", "events", namespace) from None

        def listed() -> list[dict[str, Any]]:
            items = query("Run", run_name)
            for pod in list(dict.fromkeys(pods))[:MAX_EVENT_PODS]:
                items.extend(query("Pod", pod))
            found = [self.core.api_client.sanitize_for_serialization(event) for event in items]
            return sorted(found, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

        return await asyncio.to_thread(listed)

    async def artifact(self, run: dict[str, Any], key: str, limit: int) -> tuple[bytes, int | None]:
        return await read_artifact(run, key, limit)

    # -- actions ----------------------------------------------------------------------------------------

    async def create_run(
        self,
        namespace: str,
        pipeline_ref_or_spec: str | dict[str, Any],
        arguments: dict[str, Any],
        *,
        generate_name: str,
        labels: dict[str, str],
    ) -> str:
        pipeline = (
            {"pipelineRef": {"name": pipeline_ref_or_spec}}
            if isinstance(pipeline_ref_or_spec, str)
            else {"pipelineSpec": pipeline_ref_or_spec}
        )
        body = {
            "apiVersion": API_VERSION,
            "kind": "Run",
            "metadata": {"generateName": generate_name, "namespace": namespace, "labels": labels},
            "spec": {**pipeline, "arguments": arguments},
        }
        return await self._create_run(namespace, body)

    async def retry(self, namespace: str, original: dict[str, Any]) -> str:
        return await self._create_run(namespace, retry_document(original))

    async def _create_run(self, namespace: str, body: dict[str, Any]) -> str:
        self._check_scope(namespace)

        def create() -> str:
            try:
                made = self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "runs", body, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as error:
                raise refused(error, "create", f"runs.{GROUP}", namespace) from None
            return str(made["metadata"]["name"])  # type: ignore[index]  # a dict: the API returns JSON

        return await asyncio.to_thread(create)

    async def cancel(self, namespace: str, name: str) -> None:
        self._check_scope(namespace)

        def patch() -> None:
            try:
                self.custom.patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    "runs",
                    name,
                    {"spec": {"cancel": True}},
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as error:
                raise refused(error, "patch", f"runs.{GROUP}", namespace) from None

        await asyncio.to_thread(patch)

    async def delete(self, namespace: str, name: str) -> None:
        self._check_scope(namespace)

        def delete() -> None:
            try:
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, "runs", name, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as error:
                raise refused(error, "delete", f"runs.{GROUP}", namespace) from None

        await asyncio.to_thread(delete)


def _close(opened: list[Any]) -> None:
    """Ends a streamed HTTP response from any thread: shutdown wakes a read blocked waiting for data."""
    for response in opened:
        try:
            shutdown = getattr(response, "shutdown", None)
            if shutdown is not None:
                shutdown()
            response.close()
        except Exception:  # noqa: BLE001 - closing what may already be closed
            pass


def _key(item: dict[str, Any]) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))
