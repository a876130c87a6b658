"""The operator's own settings: what a platform engineer sets once for every pipeline (Helm values).

Scheduling defaults sit under a pipeline's ``defaults``, which sit under a task's own settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field

from kubeline.api.models import LocalObjectReference, Model, Toleration
from kubeline.engine.queueing import Limits


class ArtifactStorage(Model):
    """The volume a run's steps share for artifacts (files): one PersistentVolumeClaim per run."""

    size: str = Field(default="1Gi", description="Size of each run's artifact volume.")
    storage_class_name: str | None = Field(default=None, description="Storage class; the cluster's default when empty.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] = Field(
        default="ReadWriteOnce", description="ReadWriteMany lets steps of one run share the volume across nodes."
    )


class StoreCredentials(Model):
    """Static keys for the store, read from a Secret in the Run's namespace by kubeline's own container only."""

    secret_name: str = Field(..., description="Secret in each Run's namespace holding the keys.")
    access_key_id_key: str = Field(default="AWS_ACCESS_KEY_ID", description="The Secret's key of the access key id.")
    secret_access_key_key: str = Field(
        default="AWS_SECRET_ACCESS_KEY", description="The Secret's key of the secret access key."
    )


class StoreLocation(Model):
    """Where a namespace's artifacts, large values and logs go: any field set here overrides the default store."""

    bucket: str | None = Field(default=None, description="Bucket; the object store is used when one is set.")
    prefix: str | None = Field(default=None, description="Key prefix inside the bucket (e.g. a team's folder).")
    endpoint: str | None = Field(
        default=None,
        description="S3 endpoint URL: empty for AWS; http://minio.minio:9000 for MinIO; "
        "https://storage.googleapis.com for GCS (HMAC keys).",
    )
    region: str | None = Field(default=None, description="Region (AWS); MinIO and GCS accept any.")
    path_style: bool | None = Field(default=None, description="bucket in the path, not the host name (MinIO, Ceph).")
    insecure_skip_tls_verify: bool | None = Field(default=None, description="Accept any TLS certificate (tests only).")
    ca_config_map: str | None = Field(
        default=None, description="ConfigMap in the Run's namespace whose ca.crt signs the endpoint's certificate."
    )
    credentials_secret: StoreCredentials | None = Field(
        default=None,
        description="Static keys; without them the pod's cloud identity is used (IRSA, GKE workload identity, "
        "instance profile).",
    )


class ArtifactStore(StoreLocation):
    """The S3-compatible object store of step artifacts, large values, cache records and logs."""

    namespaces: dict[str, StoreLocation] = Field(
        default_factory=dict, description="Overrides by namespace: each team's own bucket, prefix or credentials."
    )

    def for_namespace(self, namespace: str) -> StoreLocation | None:
        """The store a namespace's Runs use (None: no store, the run's volume holds the files)."""
        override = self.namespaces.get(namespace)
        fields = self.model_dump(exclude={"namespaces"}, exclude_unset=True)
        if override is not None:
            fields.update(override.model_dump(exclude_unset=True))
        location = StoreLocation.model_validate(fields)
        return location if location.bucket else None


class DataContainer(Model):
    """kubeline's own container in each step pod when a store is set: it moves the step's data."""

    image: str = Field(default="docker.io/library/kubeline:0.1.0", description="Image with kubeline (the operator's).")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(default="IfNotPresent")
    resources: dict[str, Any] = Field(
        default_factory=lambda: {"requests": {"cpu": "10m", "memory": "64Mi"}},
        description="Requests and limits of the container (added to each step pod's own).",
    )


class Limit(Model):
    """How much of the cluster one namespace's Runs may use at once (empty: no limit)."""

    runs: int | None = Field(default=None, ge=1, description="Most Runs running at once; the rest wait, Pending.")
    step_pods: int | None = Field(
        default=None, ge=1, description="Most step pods running at once across the namespace's Runs."
    )


class NamespaceLimits(Limit):
    """Limits of every namespace's Runs, set by the platform (tenants cannot raise them): these defaults, and
    overrides by namespace."""

    namespaces: dict[str, Limit] = Field(
        default_factory=dict, description="Overrides by namespace: a field set here replaces the default."
    )

    def for_namespace(self, namespace: str) -> Limits:
        fields = self.model_dump(exclude={"namespaces"})
        override = self.namespaces.get(namespace)
        if override is not None:
            fields.update(override.model_dump(exclude_unset=True))
        return Limits(runs=fields["runs"], step_pods=fields["step_pods"])


#: The operator's default client-side rate limit: above what it asks of the test control plane at its fastest
#: (a 1,000-step fan-out: about 150 calls a second, README), so that the API server and its priority and fairness,
#: not this limit, set the pace; low enough to stop a runaway loop from sending thousands a second.
API_QPS = 200.0
API_BURST = 400


class OperatorConfig(Model):
    node_selector: dict[str, str] | None = Field(default=None, description="Node labels every step pod requires.")
    tolerations: list[Toleration] | None = Field(default=None, description="Taints every step pod tolerates.")
    affinity: dict[str, Any] | None = Field(
        default=None, description="Affinity of step pods, unless a pipeline sets one."
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Default pull policy of steps."
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, description="Pull secrets every step pod gets."
    )
    allowed_service_accounts: list[str] = Field(
        default_factory=lambda: ["default"],
        description="Service accounts a pipeline may run its steps as; the namespace's default only, unless widened.",
    )
    restricted_step_pods: bool = Field(
        default=True,
        description="Step pods run with the restricted Pod Security profile (non-root, no privilege escalation).",
    )
    step_user_id: int = Field(default=65532, description="User id of step containers when restricted.")
    artifacts: ArtifactStorage = Field(default_factory=ArtifactStorage)
    artifact_store: ArtifactStore = Field(default_factory=ArtifactStore)
    data_container: DataContainer = Field(default_factory=DataContainer)
    max_value_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest value output; values over the termination message's 4 KiB go to the store.",
    )
    pod_gc: Literal["KeepAll", "DeleteOnSuccess", "DeleteOnCompletion"] = Field(
        default="KeepAll",
        alias="podGC",
        description="Delete finished steps' pods once their outcome and stored log are recorded (runs with an "
        "artifactStore only: elsewhere the pod holds the only log).",
    )
    namespace_limits: NamespaceLimits = Field(default_factory=NamespaceLimits)
    resync_seconds: float = Field(
        default=30, description="Look at every running Run at least this often, events or not."
    )
    batch_seconds: float = Field(
        default=0.01, description="Pod events arriving within this time become one status update."
    )
    api_qps: float | None = Field(
        default=API_QPS,
        gt=0,
        description="Most API calls a second, on average, that the operator's reconcilers make (client-go's "
        "--kube-api-qps); null: no client-side limit (the API server's priority and fairness still applies).",
    )
    api_burst: int = Field(
        default=API_BURST,
        ge=1,
        description="Calls that may go at once, above apiQps, after a quiet spell (client-go's --kube-api-burst).",
    )


def load_config(path: Path | None) -> OperatorConfig:
    if path is None:
        return OperatorConfig()
    document = yaml.safe_load(path.read_text()) or {}
    return OperatorConfig.model_validate(document)
