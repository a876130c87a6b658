"""`kfp.Client` for kubeline: runs on the cluster of the current kube context, as Pipeline and Run resources.

Experiments are a label (`kubeline.dev/experiment`) on Runs: `kubectl get runs -l kubeline.dev/experiment=NAME`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client import ApiException

from kubeline.api import yamlio
from kubeline.api.constants import (
    API_VERSION,
    EXPERIMENT_LABEL,
    GROUP,
    PIPELINE_LABEL,
    RUN_LABEL,
    STEP_ANNOTATION,
    TASK_LABEL,
    VERSION,
)
from kubeline.engine import stepid
from kubeline.engine.documents import pipeline_from_documents
from kubeline.store.base import StoreError
from kubeline.store.urls import open_store

FINISHED = ("Succeeded", "Failed", "Cancelled")


@dataclass
class RunInfo:
    name: str
    namespace: str
    phase: str | None
    progress: str | None
    outputs: dict[str, str]
    status: dict[str, Any]
    experiment: str | None = None

    @property
    def run_id(self) -> str:  # what KFP code reads
        return self.name


class Client:
    def __init__(self, namespace: str | None = None, kubeconfig: str | None = None):
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
            default_namespace = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
        except (config.ConfigException, OSError):
            config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]  # not annotated
            _, context = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]  # not annotated
            default_namespace = (context or {}).get("context", {}).get("namespace") or "default"
        self.namespace = namespace or default_namespace
        api = client.ApiClient()
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    # -- creating runs --------------------------------------------------------------------------------------

    def create_run_from_pipeline_func(
        self,
        pipeline_func: Callable[..., Any],
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        pipeline_conf: Any = None,
    ) -> RunInfo:
        from kubeline.sdk.compiler import compile_pipeline

        document = compile_pipeline(pipeline_func, pipeline_conf)
        return self.create_run_from_pipeline_document(document, arguments, run_name, experiment_name, namespace)

    def create_run_from_pipeline_package(
        self,
        pipeline_file: str,
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
    ) -> RunInfo:
        path = Path(pipeline_file)
        loaded = pipeline_from_documents(_pipeline_file_documents(path), str(path), path.stem)
        document = {
            "apiVersion": API_VERSION,
            "kind": "Pipeline",
            "metadata": {"name": loaded.name},
            "spec": loaded.spec.to_dict(),
        }
        return self.create_run_from_pipeline_document(document, arguments, run_name, experiment_name, namespace)

    def create_run_from_pipeline_document(
        self,
        document: dict[str, Any],
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
    ) -> RunInfo:
        namespace = namespace or self.namespace
        name = document["metadata"]["name"]
        self._apply_pipeline(namespace, name, document)
        run_name = run_name or f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        labels = {PIPELINE_LABEL: name[:63]}
        if experiment_name:
            labels[EXPERIMENT_LABEL] = experiment_name
        run = {
            "apiVersion": API_VERSION,
            "kind": "Run",
            "metadata": {"name": run_name, "labels": labels},
            "spec": {"pipelineRef": {"name": name}, "arguments": dict(arguments or {})},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "runs", run)
        return self.get_run(run_name, namespace)

    def _apply_pipeline(self, namespace: str, name: str, document: dict[str, Any]) -> None:
        body = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": {"name": name}, "spec": document["spec"]}
        try:
            existing = _resource(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", name))
        except ApiException as error:
            if error.status != 404:
                raise
            self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", body)
            return
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        self.custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", name, body)

    # -- following runs ---------------------------------------------------------------------------------------

    def get_run(self, run_id: str, namespace: str | None = None) -> RunInfo:
        namespace = namespace or self.namespace
        return _info(_resource(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "runs", run_id)))

    def list_runs(self, experiment_name: str | None = None, namespace: str | None = None) -> list[RunInfo]:
        selector = f"{EXPERIMENT_LABEL}={experiment_name}" if experiment_name else ""
        items = _resource(
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, "runs", label_selector=selector
            )
        )["items"]
        return [_info(item) for item in sorted(items, key=lambda i: i["metadata"]["creationTimestamp"])]

    def wait_for_run_completion(self, run_id: str, timeout: float = 3600, namespace: str | None = None) -> RunInfo:
        deadline = time.time() + timeout
        while True:
            info = self.get_run(run_id, namespace)
            if info.phase in FINISHED:
                return info
            if time.time() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f}s (phase {info.phase})")
            time.sleep(1)

    def recorded_outputs(self, all_namespaces: bool = False) -> tuple[set[str], dict[str, set[str]]]:
        """Every output text the Runs and CacheEntries of this namespace (or of all) record, object references
        among them, and the names of the Runs by namespace: what `kubeline gc` keeps in the artifact store."""

        def listed(plural: str) -> list[dict[str, Any]]:
            if all_namespaces:
                body = self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
            else:
                body = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, plural)
            items: list[dict[str, Any]] = _resource(body)["items"]
            return items

        runs, texts = listed("runs"), set[str]()
        names: dict[str, set[str]] = {} if all_namespaces else {self.namespace: set()}
        for run in runs:
            names.setdefault(run["metadata"]["namespace"], set()).add(run["metadata"]["name"])
            for task in ((run.get("status") or {}).get("tasks") or {}).values():
                texts.update((task.get("outputs") or {}).values())
        for entry in listed("cacheentries"):
            texts.update(((entry.get("spec") or {}).get("outputs") or {}).values())
        return texts, names

    def logs(
        self,
        run_id: str,
        task: str | None = None,
        namespace: str | None = None,
        follow: bool = False,
        artifact_store: str | None = None,
    ) -> dict[str, str]:
        """The logs of the run's steps (latest attempt of each step), by step id: from the pod while it is
        there, then from the artifact store (``artifact_store`` overrides the URL the Run recorded, e.g.
        for a port-forward; the credentials are the usual AWS ones of this environment). ``task`` is a task
        name (all its steps) or a step id such as ``loop[2].train`` (that step only)."""
        namespace = namespace or self.namespace
        logs, unread = self._pod_logs(run_id, task, namespace, follow)
        status = self.get_run(run_id, namespace).status
        store_url = artifact_store or status.get("artifactStore")
        for step, recorded in sorted((status.get("tasks") or {}).items()):
            key = recorded.get("log")
            if key and stepid.selected(step, task) and (step not in logs or step in unread):
                logs[step] = _stored_log(store_url, key)
        return dict(sorted(logs.items()))

    def _pod_logs(self, run_id: str, task: str | None, namespace: str, follow: bool) -> tuple[dict[str, str], set[str]]:
        """The logs of the run's pods by step id, and the steps whose pod could not give one."""
        task_name = stepid.task_name(task) if task else None
        selector = f"{RUN_LABEL}={run_id}" + (f",{TASK_LABEL}={task_name}" if task_name else "")
        pods = self.core.list_namespaced_pod(namespace, label_selector=selector).items
        named = [(p.metadata.name, p.metadata.annotations or {}) for p in pods if p.metadata and p.metadata.name]
        logs, unread = {}, set()
        for pod_name, pod_annotations in sorted(named, key=lambda pair: pair[0]):
            step = pod_annotations.get(STEP_ANNOTATION, pod_name)
            if not stepid.selected(step, task):
                continue
            try:
                logs[step] = self.core.read_namespaced_pod_log(pod_name, namespace, container="main", follow=follow)
            except ApiException as error:
                logs[step] = f"(no log: {error.reason})"
                unread.add(step)
        return logs, unread


def _stored_log(store_url: str | None, key: str) -> str:
    """A finished step's log from the artifact store (its pod may be gone)."""
    if not store_url:
        return "(no log: the pod is gone and the run recorded no artifact store)"
    try:
        return open_store(store_url).get_bytes(key).decode(errors="replace")
    except (StoreError, ValueError) as problem:
        return f"(no log: {problem})"


def _resource(body: object) -> dict[str, Any]:
    """What the custom-objects API returns (typed `object`): a resource, or a list of them, as JSON."""
    if not isinstance(body, dict):
        raise TypeError(f"the Kubernetes API returned {type(body).__name__}, not a resource")
    return body


def _info(body: dict[str, Any]) -> RunInfo:
    status = body.get("status") or {}
    labels = body["metadata"].get("labels") or {}
    return RunInfo(
        body["metadata"]["name"],
        body["metadata"]["namespace"],
        status.get("phase"),
        status.get("progressText"),
        dict(status.get("outputs") or {}),
        status,
        labels.get(EXPERIMENT_LABEL),
    )


def _pipeline_file_documents(path: Path) -> list[Any]:
    """A Python pipeline file compiled, or the documents of a YAML one; a file that cannot be read is PipelineInvalid."""
    if path.suffix == ".py":
        from kubeline.sdk.loader import pipeline_document_from_python

        return [pipeline_document_from_python(path, None)]
    return yamlio.read_documents(path)
