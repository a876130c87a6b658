"""`kfp.Client` for kubeline: runs on the cluster of the current kube context, as Pipeline and Run resources.

The methods and argument names are kfp.Client's (create_experiment, upload_pipeline, run_pipeline,
create_run_from_pipeline_func, get_run, list_runs, wait_for_run_completion...), and so are the results' fields
(see results.py). Ids are the resources' uids, UUIDs as KFP's; every method taking an id takes the resource's
name too, so `kubectl get run NAME` and the Client agree.

Experiments: a ConfigMap each, named `kubeline-experiment-KEY` and labelled `kubeline.dev/experiment=KEY` (KEY:
the experiment's name as a DNS label); the experiment's Runs carry the same label, so
`kubectl get runs -l kubeline.dev/experiment=KEY` lists them. A ConfigMap because an experiment exists before
(and without) any run, as KFP's do, and a namespace's users can already create ConfigMaps: no resource kind
and no permission to add. Its uid is the experiment's id; its data keep the name as written and the description.

Pipeline versions: a Pipeline resource each (`PIPELINE-VERSION`, labelled `kubeline.dev/pipeline=PIPELINE`);
the newest version is also written to the Pipeline itself, its default version, as KFP makes the newest
version the default. A Run freezes the pipeline it started with, so a new version never changes a Run in flight.

Recurring runs (KFP's jobs): a RecurringRun resource each, written and checked by sdk/recurring.py (the same
code as `kubeline schedule create`); the operator makes their Runs. As KFP's jobs, they keep the pipeline they
were created with: a package's spec inline, a pipeline's current version by its own resource.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client import ApiException

from kubeline.api import yamlio
from kubeline.api.constants import (
    API_VERSION,
    DESCRIPTION_ANNOTATION,
    DISPLAY_NAME_ANNOTATION,
    EXPERIMENT_LABEL,
    GROUP,
    PIPELINE_LABEL,
    RUN_LABEL,
    STEP_ANNOTATION,
    TASK_LABEL,
    VERSION,
)
from kubeline.api.models import RunStatus
from kubeline.api.names import MAX_LABEL, experiment_key, name_problem, to_dns_label
from kubeline.api.problems import Issue, PipelineInvalid
from kubeline.api.records import with_records
from kubeline.engine import retry, stepid
from kubeline.engine.documents import pipeline_from_documents
from kubeline.engine.plan import build, load_spec
from kubeline.sdk.recurring import (
    KFP_ARGUMENTS,
    RecurringRunInfo,
    check_recurring_run,
    is_version,
    recurring_run_document,
    recurring_run_info,
    run_source,
)
from kubeline.sdk.results import (
    Experiment,
    Page,
    PipelineInfo,
    PipelineVersion,
    RunDetail,
    RunInfo,
    page,
    parse_time,
    pipeline_info,
    pipeline_version,
    run_detail,
    run_info,
    sort,
)
from kubeline.store.base import StoreError
from kubeline.store.urls import open_store

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EXPERIMENT_PREFIX = "kubeline-experiment-"
#: What a listing of the namespace (runs, RecurringRuns) gives, paged alike.
Listed = TypeVar("Listed")
#: How often wait_for_run_completion reads the Run.
_POLL_SECONDS = 1.0


class RunPipelineResult:
    """What create_run_from_pipeline_func/_package return, as in KFP: run_id, run_info, wait_for_run_completion."""

    def __init__(self, client: Client, run_info: RunInfo):
        self._client = client
        self.run_info = run_info
        self.run_id = run_info.id

    def wait_for_run_completion(self, timeout: float | None = None) -> RunDetail:
        """The run once finished; with no timeout, however long that takes (as KFP)."""
        return self._client.wait_for_run_completion(self.run_id, timeout if timeout is not None else float("inf"))

    def __repr__(self) -> str:
        return f"RunPipelineResult(run_id={self.run_id})"


class Client:
    def __init__(self, namespace: str | None = None, kubeconfig: str | None = None):
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]  # kubernetes.config is not annotated
            default_namespace = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip()
        except (config.ConfigException, OSError):
            context = kube_context(kubeconfig)
            default_namespace = (context or {}).get("context", {}).get("namespace") or "default"
        self.namespace = namespace or default_namespace
        self.api = client.ApiClient()
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def get_user_namespace(self) -> str:
        return self.namespace

    # -- experiments ------------------------------------------------------------------------------------------

    def create_experiment(self, name: str, description: str | None = None, namespace: str | None = None) -> Experiment:
        """The experiment called ``name``, created unless it exists (as KFP's client does)."""
        namespace = namespace or self.namespace
        key = experiment_key(name)
        body: dict[str, Any] = {
            "metadata": {
                "name": _EXPERIMENT_PREFIX + key,
                "labels": {EXPERIMENT_LABEL: key},
                "annotations": {DISPLAY_NAME_ANNOTATION: name},
            },
            "data": {"name": name, **({"description": description} if description else {})},
        }
        try:
            created = self.core.create_namespaced_config_map(namespace, body)  # type: ignore[arg-type]  # a dict serves as V1ConfigMap
        except ApiException as error:
            if error.status != 409:
                raise
            return self.get_experiment(experiment_name=name, namespace=namespace)
        return _experiment(self._json(created))

    def get_experiment(
        self, experiment_id: str | None = None, experiment_name: str | None = None, namespace: str | None = None
    ) -> Experiment:
        namespace = namespace or self.namespace
        if experiment_id is None and experiment_name is None:
            raise ValueError("get_experiment: give experiment_id or experiment_name")
        if experiment_name is not None:
            try:
                found = self.core.read_namespaced_config_map(
                    _EXPERIMENT_PREFIX + experiment_key(experiment_name), namespace
                )
            except ApiException as error:
                if error.status != 404:
                    raise
                raise ValueError(
                    f"no experiment named {experiment_name!r} in namespace {namespace!r}: create it with "
                    "create_experiment()"
                ) from None
            return _experiment(self._json(found))
        for experiment in self._experiments(namespace):
            if experiment.id == experiment_id or experiment.resource_name == experiment_id:
                return experiment
        raise ValueError(f"no experiment with id {experiment_id!r} in namespace {namespace!r}: see list_experiments()")

    def list_experiments(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        namespace: str | None = None,
        filter: str | None = None,
    ) -> Page[Experiment]:
        _no_filter(filter)
        return page(sort(self._experiments(namespace or self.namespace), sort_by), page_token, page_size)

    def delete_experiment(self, experiment_id: str, namespace: str | None = None) -> None:
        """Deletes the experiment, not its runs (they keep their label)."""
        experiment = self.get_experiment(experiment_id=experiment_id, namespace=namespace)
        self.core.delete_namespaced_config_map(experiment.resource_name, namespace or self.namespace)

    def _json(self, model: Any) -> dict[str, Any]:
        """A kubernetes client model (a ConfigMap...) as the JSON the API server sent."""
        return _resource(self.api.sanitize_for_serialization(model))  # type: ignore[no-untyped-call]  # not annotated

    def _experiments(self, namespace: str) -> list[Experiment]:
        listed = self.core.list_namespaced_config_map(namespace, label_selector=EXPERIMENT_LABEL)
        items = self._json(listed)["items"]
        return [_experiment(item) for item in items if item["metadata"]["name"].startswith(_EXPERIMENT_PREFIX)]

    # -- pipelines ----------------------------------------------------------------------------------------------

    def upload_pipeline(
        self,
        pipeline_package_path: str,
        pipeline_name: str | None = None,
        description: str | None = None,
        namespace: str | None = None,
    ) -> PipelineInfo:
        """A Pipeline resource from a package (kubeline Pipeline YAML, or a Python file with a @dsl.pipeline);
        a pipeline of that name must not exist yet: add versions with upload_pipeline_version()."""
        namespace = namespace or self.namespace
        document = _package_document(pipeline_package_path, pipeline_name, description)
        name = document["metadata"]["name"]
        try:
            created = self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", document)
        except ApiException as error:
            if error.status != 409:
                raise
            raise ValueError(
                f"a pipeline named {name!r} exists in namespace {namespace!r}: upload a new version of it with "
                "upload_pipeline_version(), or choose another pipeline_name"
            ) from None
        return pipeline_info(_resource(created))

    def upload_pipeline_version(
        self,
        pipeline_package_path: str,
        pipeline_version_name: str,
        pipeline_id: str | None = None,
        pipeline_name: str | None = None,
        description: str | None = None,
        namespace: str | None = None,
    ) -> PipelineVersion:
        """A new version of a pipeline: a Pipeline resource PIPELINE-VERSION, and the pipeline's default."""
        namespace = namespace or self.namespace
        if (pipeline_id is None) == (pipeline_name is None):
            raise ValueError("upload_pipeline_version: give exactly one of pipeline_id and pipeline_name")
        parent = self._pipeline(pipeline_id or self._pipeline_id_or_fail(str(pipeline_name), namespace), namespace)
        parent_name = parent["metadata"]["name"]
        version_name = to_dns_label(f"{parent_name}-{pipeline_version_name}")
        document = _package_document(pipeline_package_path, None, description)
        annotations = {**document["metadata"].get("annotations", {}), DISPLAY_NAME_ANNOTATION: pipeline_version_name}
        document["metadata"] = {
            "name": version_name,
            "labels": {PIPELINE_LABEL: parent_name},
            "annotations": annotations,
        }
        try:
            created = self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", document)
        except ApiException as error:
            if error.status != 409:
                raise
            raise ValueError(self._version_taken(namespace, parent_name, pipeline_version_name, version_name)) from None
        default = {**parent, "spec": document["spec"]}
        self.custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", parent_name, default)
        return pipeline_version(_resource(created), str(parent["metadata"].get("uid")))

    def _version_taken(self, namespace: str, parent: str, version: str, resource: str) -> str:
        """Why a version's Pipeline name is taken, truly: this version exists, or another version (or pipeline)
        whose name becomes the same Kubernetes name (v1.0 and v1-0 both become PIPELINE-v1-0)."""
        existing = _resource(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", resource))
        metadata = existing.get("metadata") or {}
        holder = (metadata.get("annotations") or {}).get(DISPLAY_NAME_ANNOTATION, resource)
        if holder == version and (metadata.get("labels") or {}).get(PIPELINE_LABEL) == parent:
            return f"pipeline {parent!r} has a version {version!r} already (Pipeline {resource!r}): choose another pipeline_version_name"
        return (
            f"version {version!r} of pipeline {parent!r} would be the Pipeline {resource!r}, which {holder!r} already "
            "is: names that differ only in what a Kubernetes name cannot hold (case, '.', '_', spaces) collide; "
            "choose a pipeline_version_name that differs in letters or digits"
        )

    def get_pipeline(self, pipeline_id: str, namespace: str | None = None) -> PipelineInfo:
        return pipeline_info(self._pipeline(pipeline_id, namespace or self.namespace))

    def get_pipeline_document(self, pipeline_id: str, namespace: str | None = None) -> dict[str, Any]:
        """The Pipeline resource itself (its spec drawn by `kubeline graph`), by id or name; ValueError if none."""
        return self._pipeline(pipeline_id, namespace or self.namespace)

    def get_pipeline_id(self, name: str, namespace: str | None = None) -> str | None:
        """The id of the pipeline called ``name`` (as uploaded, or its resource name), or None."""
        for pipeline in self.pipelines(namespace or self.namespace):
            if name in (pipeline.name, pipeline.resource_name):
                return pipeline.id
        return None

    def list_pipelines(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        filter: str | None = None,
        namespace: str | None = None,
    ) -> Page[PipelineInfo]:
        """The namespace's pipelines (their versions left out, as KFP lists them)."""
        _no_filter(filter)
        return page(sort(self.pipelines(namespace or self.namespace), sort_by), page_token, page_size)

    def delete_pipeline(self, pipeline_id: str, namespace: str | None = None) -> None:
        namespace = namespace or self.namespace
        name = self._pipeline(pipeline_id, namespace)["metadata"]["name"]
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", name)

    def pipelines(self, namespace: str | None = None) -> list[PipelineInfo]:
        """Every pipeline of the namespace, oldest first, without their versions: what `kubeline get --pipelines` lists."""
        listed = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace or self.namespace, "pipelines")
        items = sorted(_resource(listed)["items"], key=lambda item: item["metadata"]["creationTimestamp"])
        return [pipeline_info(item) for item in items if not is_version(item)]

    def _pipeline(self, pipeline_id: str, namespace: str) -> dict[str, Any]:
        return self._by_id("pipelines", pipeline_id, namespace)

    def _pipeline_id_or_fail(self, name: str, namespace: str) -> str:
        found = self.get_pipeline_id(name, namespace)
        if found is None:
            raise ValueError(f"no pipeline named {name!r} in namespace {namespace!r}: upload it with upload_pipeline()")
        return found

    # -- creating runs ------------------------------------------------------------------------------------------

    def run_pipeline(
        self,
        experiment_id: str | None = None,
        job_name: str | None = None,
        pipeline_package_path: str | None = None,
        params: dict[str, Any] | None = None,
        pipeline_id: str | None = None,
        version_id: str | None = None,
        pipeline_root: str | None = None,
        enable_caching: bool | None = None,
        service_account: str | None = None,
        namespace: str | None = None,
    ) -> RunInfo:
        """A Run of a package (its Pipeline applied first), of an uploaded pipeline, or of one of its versions."""
        namespace = namespace or self.namespace
        _no_pipeline_root(pipeline_root)
        if sum(x is not None for x in (pipeline_package_path, pipeline_id, version_id)) != 1:
            raise ValueError("run_pipeline: give one of pipeline_package_path, pipeline_id and version_id")
        experiment = self.get_experiment(experiment_id=experiment_id, namespace=namespace) if experiment_id else None
        if pipeline_package_path is not None:
            document = _package_document(pipeline_package_path, None, None)
            self._apply_pipeline(namespace, document)
        else:
            document = self._pipeline(str(version_id or pipeline_id), namespace)
        return self._create_run(
            namespace,
            document,
            params,
            experiment.name if experiment else None,
            _defaults(enable_caching, service_account),
            display_name=job_name,
        )

    def create_run_from_pipeline_func(
        self,
        pipeline_func: Callable[..., Any],
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        pipeline_conf: Any = None,
        namespace: str | None = None,
        pipeline_root: str | None = None,
        enable_caching: bool | None = None,
        service_account: str | None = None,
    ) -> RunPipelineResult:
        from kubeline.sdk.compiler import compile_pipeline

        _no_pipeline_root(pipeline_root)
        document = compile_pipeline(pipeline_func, pipeline_conf)
        return self._run_result(
            document, arguments, run_name, experiment_name, namespace, enable_caching, service_account
        )

    def create_run_from_pipeline_package(
        self,
        pipeline_file: str,
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
        pipeline_root: str | None = None,
        enable_caching: bool | None = None,
        service_account: str | None = None,
    ) -> RunPipelineResult:
        _no_pipeline_root(pipeline_root)
        document = _package_document(pipeline_file, None, None)
        return self._run_result(
            document, arguments, run_name, experiment_name, namespace, enable_caching, service_account
        )

    def _run_result(
        self,
        document: dict[str, Any],
        arguments: dict[str, Any] | None,
        run_name: str | None,
        experiment_name: str | None,
        namespace: str | None,
        enable_caching: bool | None,
        service_account: str | None,
    ) -> RunPipelineResult:
        """KFP's create_run_from_*: the Pipeline applied, a Run of it named after ``run_name`` (a KFP run name)."""
        namespace = namespace or self.namespace
        self._apply_pipeline(namespace, document)
        defaults = _defaults(enable_caching, service_account)
        run = self._create_run(namespace, document, arguments, experiment_name, defaults, display_name=run_name)
        return RunPipelineResult(self, run)

    def create_run_from_pipeline_document(
        self,
        document: dict[str, Any],
        arguments: dict[str, Any] | None = None,
        run_name: str | None = None,
        experiment_name: str | None = None,
        namespace: str | None = None,
    ) -> RunInfo:
        """The Pipeline applied (created or replaced, its display name and description kept), then a Run of it
        named ``run_name`` exactly (`kubeline submit --name`)."""
        namespace = namespace or self.namespace
        self._apply_pipeline(namespace, document)
        return self._create_run(namespace, document, arguments, experiment_name, None, run_name=run_name)

    def _create_run(
        self,
        namespace: str,
        pipeline: dict[str, Any],
        arguments: dict[str, Any] | None,
        experiment_name: str | None,
        defaults: dict[str, Any] | None,
        run_name: str | None = None,
        display_name: str | None = None,
    ) -> RunInfo:
        """A Run of ``pipeline``: by reference, or with its own copy when the run changes the pipeline's
        defaults (KFP's enable_caching, service_account) so the Pipeline itself stays as it is. ``run_name``
        is the Run's exact name; ``display_name`` a KFP job name, which may hold spaces and repeat: the Run is
        named after it, made unique when taken, and keeps it as an annotation."""
        pipeline_name = pipeline["metadata"]["name"]
        labels = {PIPELINE_LABEL: pipeline_name}
        if experiment_name:
            self.create_experiment(experiment_name, namespace=namespace)
            labels[EXPERIMENT_LABEL] = experiment_key(experiment_name)
        spec: dict[str, Any] = {"arguments": dict(arguments or {}), **run_source(pipeline, defaults)}
        metadata: dict[str, Any] = {"name": run_name or _generated_name(pipeline_name), "labels": labels}
        if display_name:
            metadata["name"] = to_dns_label(display_name)
            if display_name != metadata["name"]:
                metadata["annotations"] = {DISPLAY_NAME_ANNOTATION: display_name}
        run = {"apiVersion": API_VERSION, "kind": "Run", "metadata": metadata, "spec": spec}
        return run_info(self._create_named(namespace, "runs", run, display_name))

    def _create_named(
        self, namespace: str, plural: str, body: dict[str, Any], display_name: str | None
    ) -> dict[str, Any]:
        """The resource created; named after a KFP job name (``display_name``), which need not be unique while
        a resource's name must: when taken, a name of its own, the display name kept as an annotation."""
        try:
            return _resource(self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body))
        except ApiException as error:
            if error.status != 409 or not display_name:
                raise  # a name given exactly stays exact: its clash is the caller's to see
        metadata = body["metadata"]
        metadata["name"] = _generated_name(metadata["name"])
        metadata["annotations"] = {**(metadata.get("annotations") or {}), DISPLAY_NAME_ANNOTATION: display_name}
        return _resource(self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body))

    def _apply_pipeline(self, namespace: str, document: dict[str, Any]) -> None:
        name = document["metadata"]["name"]
        metadata = {key: document["metadata"][key] for key in ("name", "annotations") if key in document["metadata"]}
        body = {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": metadata, "spec": document["spec"]}
        try:
            existing = _resource(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", name))
        except ApiException as error:
            if error.status != 404:
                raise
            self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", body)
            return
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        self.custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, "pipelines", name, body)

    # -- following runs -----------------------------------------------------------------------------------------

    def get_run(self, run_id: str, namespace: str | None = None) -> RunDetail:
        """The Run by id (its uid) or name: get_run(id).run.status as in KFP; ``run_status["tasks"]`` has every
        step, those a large run keeps in its RunRecords included."""
        namespace = namespace or self.namespace
        return run_detail(self._with_records(self._by_id("runs", run_id, namespace), namespace))

    def _with_records(self, run: dict[str, Any], namespace: str) -> dict[str, Any]:
        """The Run with its RunRecords' steps merged into status.tasks."""

        def read(name: str) -> dict[str, Any] | None:
            try:
                return _resource(
                    self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "runrecords", name)
                )
            except ApiException as error:
                if error.status != 404:
                    raise
                return None

        return with_records(run, read)

    def list_runs(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        experiment_id: str | None = None,
        namespace: str | None = None,
        filter: str | None = None,
    ) -> Page[RunInfo]:
        """A page of the namespace's runs (of one experiment), oldest first unless ``sort_by`` says otherwise."""
        return self._experiment_page(self.runs, page_token, page_size, sort_by, experiment_id, namespace, filter)

    def _experiment_page(
        self,
        listing: Callable[[str | None, str], list[Listed]],
        page_token: str,
        page_size: int,
        sort_by: str,
        experiment_id: str | None,
        namespace: str | None,
        filter: str | None,
    ) -> Page[Listed]:
        """KFP's list_runs and list_recurring_runs: a page of what ``listing`` (experiment name, namespace) gives."""
        _no_filter(filter)
        namespace = namespace or self.namespace
        experiment = self.get_experiment(experiment_id=experiment_id, namespace=namespace) if experiment_id else None
        return page(sort(listing(experiment.name if experiment else None, namespace), sort_by), page_token, page_size)

    def runs(self, experiment_name: str | None = None, namespace: str | None = None) -> list[RunInfo]:
        """Every run of the namespace (of one experiment), oldest first: what `kubeline get` lists."""
        selector = f"{EXPERIMENT_LABEL}={experiment_key(experiment_name)}" if experiment_name else ""
        items = _resource(
            self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, "runs", label_selector=selector
            )
        )["items"]
        return [run_info(item) for item in sorted(items, key=lambda i: i["metadata"]["creationTimestamp"])]

    def wait_for_run_completion(self, run_id: str, timeout: float = 3600, namespace: str | None = None) -> RunDetail:
        """The Run once it finished (Succeeded, Failed, or cancelled: Failed to KFP); TimeoutError after ``timeout`` s."""
        namespace = namespace or self.namespace
        resource = self._by_id("runs", run_id, namespace)
        name, deadline = resource["metadata"]["name"], time.monotonic() + timeout
        while True:
            detail = run_detail(resource)
            if detail.run.finished:
                return run_detail(self._with_records(resource, namespace))
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {name} did not finish within {timeout:.0f}s (status {detail.run.status})")
            time.sleep(_POLL_SECONDS)
            resource = _resource(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "runs", name))

    def terminate_run(self, run_id: str, namespace: str | None = None) -> None:
        """Cancels the run: its running steps are stopped, then its exit handler runs (spec.cancel)."""
        namespace = namespace or self.namespace
        name = self._by_id("runs", run_id, namespace)["metadata"]["name"]
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "runs", name, {"spec": {"cancel": True}})

    def delete_run(self, run_id: str, namespace: str | None = None) -> None:
        """Deletes the Run; its pods go with it (they are the Run's)."""
        namespace = namespace or self.namespace
        name = self._by_id("runs", run_id, namespace)["metadata"]["name"]
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "runs", name)

    def retry_run(
        self,
        run_id: str,
        from_steps: Sequence[str] | None = None,
        run_name: str | None = None,
        namespace: str | None = None,
    ) -> RunInfo:
        """A new Run retrying a finished one (KFP's runs.retry_run, which reruns in place; here the original
        stays as it was): its frozen pipeline and arguments, the steps that succeeded reused, the rest run
        again, and ``from_steps`` (task names or step ids) with everything downstream of them. ValueError
        says why a run cannot be retried (not found, not finished, never started, an unknown step); a
        PipelineInvalid why the new Run cannot be made (``run_name`` invalid or taken; the API server's words)."""
        if run_name is not None and (problem := name_problem(run_name)):
            raise PipelineInvalid([Issue("run_name", problem)])
        namespace = namespace or self.namespace
        original = self._with_records(self._by_id("runs", run_id, namespace), namespace)
        name = original["metadata"]["name"]
        status = RunStatus.model_validate(original.get("status") or {})
        problem = retry.source_problem(name, status)
        if problem is not None:
            raise ValueError(problem)
        if from_steps:
            plan = build(load_spec(status.pipeline_spec, "status.pipelineSpec"))
            retry.check_from_steps(plan, from_steps, status.tasks or {})
        document = retry.retry_document(original, from_steps or (), run_name)
        try:
            created = self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "runs", document)
        except ApiException as error:
            if error.status not in (409, 422):
                raise
            if error.status == 409:
                taken = f"a Run named {run_name!r} exists in namespace {namespace!r}: choose another name"
                raise PipelineInvalid([Issue("run_name", taken)]) from None
            raise PipelineInvalid([Issue(f"the retry of Run {name}", _api_message(error))]) from None
        return run_info(_resource(created))

    def _by_id(self, plural: str, id_or_name: str, namespace: str) -> dict[str, Any]:
        """A Run or Pipeline by uid (KFP's id) or by name; ValueError naming what was looked for."""
        if _UUID.match(id_or_name):
            items = _resource(self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural))["items"]
            found = next((item for item in items if item["metadata"].get("uid") == id_or_name), None)
            if isinstance(found, dict):
                return found
        try:
            return _resource(self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, id_or_name))
        except ApiException as error:
            if error.status != 404:
                raise
        kind = plural[:-1]
        raise ValueError(
            f"no {kind} with id or name {id_or_name!r} in namespace {namespace!r}: `kubectl get {plural} -n "
            f"{namespace}` lists them"
        )

    # -- recurring runs -----------------------------------------------------------------------------------------

    def create_recurring_run(
        self,
        experiment_id: str | None,
        job_name: str,
        description: str | None = None,
        start_time: str | datetime | None = None,
        end_time: str | datetime | None = None,
        interval_second: int | None = None,
        cron_expression: str | None = None,
        max_concurrency: int | None = 1,
        no_catchup: bool | None = None,
        params: dict[str, Any] | None = None,
        pipeline_package_path: str | None = None,
        pipeline_id: str | None = None,
        version_id: str | None = None,
        enabled: bool = True,
        enable_caching: bool | None = None,
        service_account: str | None = None,
        namespace: str | None = None,
    ) -> RecurringRunInfo:
        """A RecurringRun (KFP's job): Runs of a package (its spec kept in the RecurringRun, no Pipeline made),
        of an uploaded pipeline (its current version) or of a version (version_id wins over pipeline_id, as in
        KFP), each kept as it was when scheduled: later uploads change no RecurringRun. On a cron schedule (5
        fields, or 6 with seconds first as KFP writes them) or every ``interval_second``. Checked before anything is created: a problem
        is a PipelineInvalid (a ValueError) naming the argument and the fix."""
        namespace = namespace or self.namespace
        if (interval_second is None) == (cron_expression is None):
            raise PipelineInvalid(
                [
                    Issue(
                        "cron_expression, interval_second",
                        "give exactly one: e.g. cron_expression='0 0 2 * * *' (02:00 every day) or interval_second=3600",
                    )
                ]
            )
        if interval_second is not None and (
            isinstance(interval_second, bool) or not isinstance(interval_second, int) or interval_second < 1
        ):
            raise PipelineInvalid(
                [Issue("interval_second", f"must be a whole number of seconds, 1 or more, not {interval_second!r}")]
            )
        if (pipeline_package_path is None) == (pipeline_id is None and version_id is None):
            raise ValueError("create_recurring_run: give pipeline_package_path, or pipeline_id and/or version_id")
        if pipeline_package_path:
            pipeline, inline = _package_document(pipeline_package_path, None, None), True
        else:
            pipeline, inline = self._kept_version(str(version_id or pipeline_id), namespace)
        experiment = self.get_experiment(experiment_id=experiment_id, namespace=namespace) if experiment_id else None
        document = recurring_run_document(
            to_dns_label(job_name),
            pipeline,
            defaults=_defaults(enable_caching, service_account),
            inline=inline,
            cron=cron_expression,
            interval=f"{interval_second}s" if interval_second is not None else None,
            start_time=start_time,
            end_time=end_time,
            arguments=params,
            experiment=experiment_key(experiment.name) if experiment else None,
            max_concurrency=max_concurrency,
            catch_up=not no_catchup,
            suspend=not enabled,
            display=job_name,
            description=description,
        )
        check_recurring_run(document, KFP_ARGUMENTS, load_spec(pipeline["spec"]))
        return self.create_recurring_run_document(document, display_name=job_name, namespace=namespace)

    def _kept_version(self, pipeline_id: str, namespace: str) -> tuple[dict[str, Any], bool]:
        """The Pipeline a RecurringRun of ``pipeline_id`` refers to, and whether to copy its spec instead: KFP's
        job keeps the workflow of the version it was created with, and later uploads leave it be. A version
        is kept as it is (never rewritten); a pipeline (which upload_pipeline_version rewrites) by its version
        of the same spec, its current one, or else (no such version: uploaded alone, or applied since) by a
        copy of its spec."""
        pipeline = self._pipeline(pipeline_id, namespace)
        if is_version(pipeline):
            return pipeline, False
        name = pipeline["metadata"]["name"]
        listed = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "pipelines", label_selector=f"{PIPELINE_LABEL}={name}"
        )
        current = [
            version
            for version in _resource(listed)["items"]
            if is_version(version) and version.get("spec") == pipeline.get("spec")
        ]
        if not current:
            return pipeline, True
        return max(current, key=lambda version: str(version["metadata"].get("creationTimestamp", ""))), False

    def create_recurring_run_document(
        self, document: dict[str, Any], display_name: str | None = None, namespace: str | None = None
    ) -> RecurringRunInfo:
        """The RecurringRun ``document`` created: named exactly, unless ``display_name`` is a KFP job name (made
        unique when taken). A name taken, or a document the API server refuses, is a PipelineInvalid with the
        server's reason."""
        namespace = namespace or self.namespace
        try:
            created = self._create_named(namespace, "recurringruns", document, display_name)
        except ApiException as error:
            if error.status not in (409, 422):
                raise
            name = document["metadata"]["name"]
            reason = _api_message(error)
            if error.status == 409:
                reason = f"exists in namespace {namespace!r}: choose another name, or delete it (kubeline schedule delete {name})"
            raise PipelineInvalid([Issue(f"RecurringRun {name}", reason)]) from None
        return recurring_run_info(created)

    def get_recurring_run(self, job_id: str, namespace: str | None = None) -> RecurringRunInfo:
        """The RecurringRun by id (its uid) or name."""
        return recurring_run_info(self._by_id("recurringruns", job_id, namespace or self.namespace))

    def list_recurring_runs(
        self,
        page_token: str = "",
        page_size: int = 10,
        sort_by: str = "",
        experiment_id: str | None = None,
        namespace: str | None = None,
        filter: str | None = None,
    ) -> Page[RecurringRunInfo]:
        """A page of the namespace's RecurringRuns (of one experiment): ``.jobs`` as in KFP."""
        return self._experiment_page(
            self.recurring_runs, page_token, page_size, sort_by, experiment_id, namespace, filter
        )

    def recurring_runs(
        self, experiment_name: str | None = None, namespace: str | None = None, all_namespaces: bool = False
    ) -> list[RecurringRunInfo]:
        """Every RecurringRun of the namespace (or of all), of one experiment when named, oldest first."""
        if all_namespaces:
            body = self.custom.list_cluster_custom_object(GROUP, VERSION, "recurringruns")
        else:
            body = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace or self.namespace, "recurringruns"
            )
        items = sorted(_resource(body)["items"], key=lambda item: item["metadata"]["creationTimestamp"])
        jobs = [recurring_run_info(item) for item in items]
        key = experiment_key(experiment_name) if experiment_name else None
        return [job for job in jobs if key is None or job.experiment == key]

    def disable_job(self, job_id: str, namespace: str | None = None) -> None:
        """Suspends the RecurringRun: no Run is made until enable_job (Runs made go on)."""
        self._suspend(job_id, True, namespace or self.namespace)

    def enable_job(self, job_id: str, namespace: str | None = None) -> None:
        """Resumes the RecurringRun; the triggers missed meanwhile are made when it catches up (no_catchup: the latest)."""
        self._suspend(job_id, False, namespace or self.namespace)

    def delete_job(self, job_id: str, namespace: str | None = None, delete_runs: bool = False) -> None:
        """Deletes the RecurringRun: no more Runs are made. The Runs it made stay (KFP keeps a job's runs: they
        are the experiment's history), unless ``delete_runs``. (`kubectl delete` deletes them, as a CronJob's Jobs:
        they are owned by it.)"""
        namespace = namespace or self.namespace
        name = self._by_id("recurringruns", job_id, namespace)["metadata"]["name"]
        policy = "Background" if delete_runs else "Orphan"
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "recurringruns", name, propagation_policy=policy
        )

    def _suspend(self, job_id: str, suspend: bool, namespace: str) -> None:
        name = self._by_id("recurringruns", job_id, namespace)["metadata"]["name"]
        patch = {"spec": {"suspend": suspend}}
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "recurringruns", name, patch)

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
        for record in listed("runrecords"):  # the finished steps of large runs
            for task in ((record.get("spec") or {}).get("tasks") or {}).values():
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
        status = self.get_run(run_id, namespace).run.run_status
        store_url = artifact_store or status.get("artifactStore")
        for step, recorded in sorted((status.get("tasks") or {}).items()):
            if not stepid.selected(step, task) or (step in logs and step not in unread):
                continue
            if recorded.get("log"):
                logs[step] = stored_log(store_url, recorded["log"])
            elif recorded.get("reusedFrom") and recorded.get("pod"):  # a retry's step: the pod of the Run it ran in
                logs[step] = self._pod_log(recorded["pod"], namespace, follow=False)[0]
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
            logs[step], read = self._pod_log(pod_name, namespace, follow)
            if not read:
                unread.add(step)
        return logs, unread

    def _pod_log(self, pod: str, namespace: str, follow: bool) -> tuple[str, bool]:
        """The log of the pod's main container and True, or why there is none and False."""
        try:
            return self.core.read_namespaced_pod_log(pod, namespace, container="main", follow=follow), True
        except ApiException as error:
            return f"(no log: {error.reason})", False


def stored_log(store_url: str | None, key: str) -> str:
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


def kube_context(kubeconfig: str | None = None) -> dict[str, Any]:
    """Loads the kube context (KUBECONFIG or ~/.kube/config) and returns it; with none, an error that says what
    to set rather than the client's bare ConfigException."""
    try:
        config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]  # not annotated
        _, context = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]  # not annotated
    except config.ConfigException as error:
        raise PipelineInvalid(
            [
                Issue(
                    "KUBECONFIG",
                    f"no cluster to talk to ({error}): set KUBECONFIG or write ~/.kube/config; for this machine's "
                    "runs use `kubeline run`, `kubeline logs RUN` and `kubeline ui --local`",
                )
            ]
        ) from None
    return dict(context or {})


def _experiment(config_map: dict[str, Any]) -> Experiment:
    metadata, data = config_map["metadata"], config_map.get("data") or {}
    return Experiment(
        id=str(metadata.get("uid") or ""),
        name=data.get("name") or metadata["name"][len(_EXPERIMENT_PREFIX) :],
        description=data.get("description"),
        created_at=parse_time(metadata.get("creationTimestamp")),
        resource_name=metadata["name"],
    )


def _generated_name(base: str) -> str:
    """BASE-TIMESTAMP-RANDOM, shortened to a valid name."""
    suffix = f"-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    return base[: MAX_LABEL - len(suffix)].rstrip("-") + suffix


def _defaults(enable_caching: bool | None, service_account: str | None) -> dict[str, Any]:
    """KFP's per-run enable_caching and service_account, as the pipeline defaults they become."""
    defaults: dict[str, Any] = {}
    if enable_caching is not None:
        defaults["caching"] = {"enabled": bool(enable_caching)}
    if service_account:
        defaults["serviceAccountName"] = service_account
    return defaults


def _api_message(error: ApiException) -> str:
    """What the API server said when it refused a resource (its Status message: the CEL rule's words)."""
    try:
        message = json.loads(error.body or "{}").get("message")
    except ValueError:
        message = None
    return str(message or error.reason)


def _no_filter(filter: str | None) -> None:
    if filter:
        raise ValueError(
            "filter=... is not supported: list without it and select in Python, or use the experiment_id argument"
        )


def _no_pipeline_root(pipeline_root: str | None) -> None:
    if pipeline_root is not None:
        raise ValueError(
            "pipeline_root=... is not supported: kubeline keeps artifacts in the operator's artifact store; leave it out"
        )


def _package_document(path_text: str, display: str | None, description: str | None) -> dict[str, Any]:
    """The Pipeline document of a package (Pipeline YAML, or a Python file compiled), validated, named after
    ``display`` when given (its DNS form, the name as written kept as an annotation, with the description)."""
    path = Path(path_text)
    loaded = pipeline_from_documents(_pipeline_file_documents(path), str(path), path.stem)
    given = loaded.document.get("metadata")
    annotations = dict((given.get("annotations") if isinstance(given, dict) else None) or {})
    name = loaded.name
    if display:
        name = to_dns_label(display)
        annotations.pop(DISPLAY_NAME_ANNOTATION, None)
        if display != name:
            annotations[DISPLAY_NAME_ANNOTATION] = display
    if description:
        annotations[DESCRIPTION_ANNOTATION] = description
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    return {"apiVersion": API_VERSION, "kind": "Pipeline", "metadata": metadata, "spec": loaded.spec.to_dict()}


def _pipeline_file_documents(path: Path) -> list[Any]:
    """A Python pipeline file compiled, or the documents of a YAML one; a file that cannot be read is PipelineInvalid."""
    if path.suffix == ".py":
        from kubeline.sdk.loader import pipeline_document_from_python

        return [pipeline_document_from_python(path, None)]
    return yamlio.read_documents(path)
