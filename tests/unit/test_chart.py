"""The Helm chart and the kustomize manifests: lint, render, least privilege, restricted pods, CRDs in sync."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeline.engine.queueing import Limits

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubeline"
DASHBOARD = CHART / "dashboards" / "kubeline.json"


@pytest.fixture(scope="module")
def helm() -> str:
    """Helm built from the Go module proxy by hack/helm.sh (cached; `make test` builds it first)."""
    return subprocess.run([str(ROOT / "hack" / "helm.sh")], capture_output=True, text=True, check=True).stdout.strip()


def render(helm: str, *values: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [helm, "template", "kubeline", str(CHART), "-n", "kubeline-system", *values],
        capture_output=True,
        text=True,
        check=True,
    )
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_chart_lints_clean(helm: str) -> None:
    result = subprocess.run([helm, "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "watchNamespaces={team-a,team-b}"],
        ["--set", "ui.enabled=true", "--set", "ui.actions.enabled=true"],
    ],
    ids=["cluster-wide", "namespaced", "ui-with-actions"],
)
def test_rbac_grants_nothing_on_secrets_and_no_wildcards(helm: str, values: list[str]) -> None:
    documents = render(helm, *values)
    rules = [rule for d in documents if d["kind"] in ("Role", "ClusterRole") for rule in d["rules"]]
    assert rules
    for rule in rules:
        assert "secrets" not in rule["resources"]
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    pods = [r for r in rules if r["resources"] == ["pods"]]
    assert pods and set(pods[0]["verbs"]) == {"get", "list", "watch", "create", "delete"}


def test_namespaced_mode_uses_roles_in_the_watched_namespaces(helm: str) -> None:
    documents = render(helm, "--set", "watchNamespaces={team-a,team-b}")
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in documents if d["kind"] == "Role"}
    leases = ("kubeline-system", "kubeline-operator-leader")  # the Lease's Role, in the operator's namespace
    assert roles == {("team-a", "kubeline-operator"), ("team-b", "kubeline-operator"), leases}
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args and "--all-namespaces" not in args


def test_operator_pod_meets_the_restricted_profile(helm: str) -> None:
    for deployment in [
        next(d for d in render(helm) if d["kind"] == "Deployment"),
        yaml.safe_load((ROOT / "manifests" / "deployment.yaml").read_text()),
    ]:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = pod["containers"][0]
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_one_port_serves_the_probes_and_prometheus_and_logs_are_json(helm: str) -> None:
    documents = render(helm)
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert {"--metrics-address=0.0.0.0:8080", "--log-format=json"} <= set(container["args"])
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080}]
    assert (
        container["livenessProbe"]["httpGet"]
        == container["readinessProbe"]["httpGet"]
        == {
            "path": "/healthz",
            "port": "metrics",
        }
    )
    [service] = [d for d in documents if d["kind"] == "Service"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics"}]
    assert not [d for d in documents if d["kind"] == "ServiceMonitor" or d["metadata"]["name"].endswith("dashboard")]
    manifest = yaml.safe_load((ROOT / "manifests" / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    assert manifest["containers"][0]["args"][-4:] == ["--metrics-address", "0.0.0.0:8080", "--log-format", "json"]


def test_a_service_monitor_and_the_grafana_dashboard_when_asked_for(helm: str) -> None:
    documents = render(
        helm,
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=prometheus",
        "--set", "metrics.dashboard.enabled=true",
        "--set", "metrics.dashboard.namespace=monitoring",
    )  # fmt: skip
    [service] = [d for d in documents if d["kind"] == "Service"]
    [monitor] = [d for d in documents if d["kind"] == "ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    [dashboard] = [d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("dashboard")]
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["kubeline.json"]) == json.loads(DASHBOARD.read_text())


def test_the_dashboard_queries_only_metrics_the_operator_serves() -> None:
    from prometheus_client import REGISTRY

    from kubeline.controller import telemetry  # noqa: F401 - registers the operator's metrics

    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_count", "_sum"]}
    served = {family.name + end for family in REGISTRY.collect() for end in suffixes.get(family.type, [])}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queried = {
        name for panel in panels for target in panel["targets"] for name in re.findall(r"kubeline_\w+", target["expr"])
    }
    assert len(queried) == 8 and queried <= served, queried - served


def test_two_replicas_roll_behind_a_lease_they_alone_may_renew(helm: str) -> None:
    chart = render(helm)
    manifests = [
        d
        for name in ("deployment.yaml", "rbac.yaml", "leader.yaml")
        for d in yaml.safe_load_all((ROOT / "manifests" / name).read_text())
    ]
    for documents in (chart, manifests):
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"] == {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        }
        budget = next(d for d in documents if d["kind"] == "PodDisruptionBudget")
        assert budget["spec"]["minAvailable"] == 1
        assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e}
        assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
        lease = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--lease-name="))
        role = next(d for d in documents if d["kind"] == "Role" and d["metadata"]["name"].endswith("-leader"))
        assert role["metadata"]["namespace"] == deployment["metadata"]["namespace"]
        assert role["rules"] == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": [lease],
                "verbs": ["get", "update"],
            },
        ]
        binding = next(
            d for d in documents if d["kind"] == "RoleBinding" and d["roleRef"]["name"] == role["metadata"]["name"]
        )
        assert binding["subjects"][0]["name"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]


def test_one_replica_without_leader_election_is_replaced_not_rolled(helm: str) -> None:
    documents = render(helm, "--set", "replicas=1", "--set", "leaderElection.enabled=false")
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "--no-leader-election" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [d for d in documents if d["kind"] in ("PodDisruptionBudget", "Role")]
    refused = subprocess.run(
        [helm, "template", "kubeline", str(CHART), "--set", "leaderElection.enabled=false"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "replicas > 1 needs leaderElection.enabled" in refused.stderr


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        (["--set", "leaderElection.leaseDuration=8"], "leaderElection.leaseDuration (8) must be at least"),
        (["--set", "leaderElection.renewDeadline=3"], "leaderElection.renewDeadline (3) must be at least"),
        (["--set", "leaderElection.retryPeriod=3"], "leaderElection.renewDeadline (7) must be at least"),
    ],
)
def test_unsafe_lease_timings_are_refused_at_render_time(helm: str, values: list[str], refusal: str) -> None:
    refused = subprocess.run([helm, "template", "kubeline", str(CHART), *values], capture_output=True, text=True)
    assert refused.returncode != 0 and refusal in refused.stderr
    assert render(helm, "--set", "leaderElection.leaseDuration=12", "--set", "leaderElection.renewDeadline=10")


def test_operator_config_comes_from_values(helm: str) -> None:
    documents = render(
        helm, "--set", "config.allowedServiceAccounts={default,ml-runner}", "--set", "config.nodeSelector.pool=ml"
    )
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    from kubeline.controller.config import OperatorConfig

    config = OperatorConfig.model_validate(yaml.safe_load(config_map["data"]["config.yaml"]))
    assert config.allowed_service_accounts == ["default", "ml-runner"]
    assert config.node_selector == {"pool": "ml"}


def test_namespace_limits_in_the_values_are_the_operators_config(helm: str) -> None:
    """The README's example: defaults, and a namespace's override; the chart's defaults set no limit."""
    from kubeline.controller.config import OperatorConfig

    def limits(*values: str) -> OperatorConfig:
        config_map = next(d for d in render(helm, *values) if d["kind"] == "ConfigMap")
        return OperatorConfig.model_validate(yaml.safe_load(config_map["data"]["config.yaml"]))

    config = limits(
        "--set", "config.namespaceLimits.runs=20",
        "--set", "config.namespaceLimits.stepPods=200",
        "--set", "config.namespaceLimits.namespaces.team-a.runs=50",
    )  # fmt: skip
    assert config.namespace_limits.for_namespace("team-a") == Limits(runs=50, step_pods=200)
    assert config.namespace_limits.for_namespace("team-b") == Limits(runs=20, step_pods=200)
    assert limits().namespace_limits.for_namespace("team-a") == Limits()
    refused = subprocess.run(
        [helm, "template", "kubeline", str(CHART), "--set", "config.namespaceLimits.runs=0"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "runs" in refused.stderr


def test_the_api_rate_limit_in_the_values_is_the_operators_config(helm: str) -> None:
    from kubeline.controller.config import OperatorConfig

    def config(*values: str) -> OperatorConfig:
        config_map = next(d for d in render(helm, *values) if d["kind"] == "ConfigMap")
        return OperatorConfig.model_validate(yaml.safe_load(config_map["data"]["config.yaml"]))

    assert (config().api_qps, config().api_burst) == (OperatorConfig().api_qps, OperatorConfig().api_burst)
    raised = config("--set-json", "config.apiQps=250.5", "--set", "config.apiBurst=500")
    assert (raised.api_qps, raised.api_burst) == (250.5, 500)
    assert config("--set", "config.apiQps=null").api_qps is None
    refused = subprocess.run(
        [helm, "template", "kubeline", str(CHART), "--set", "config.apiBurst=0"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "apiBurst" in refused.stderr


def test_values_schema_rejects_bad_values(helm: str) -> None:
    result = subprocess.run(
        [helm, "template", "kubeline", str(CHART), "--set", "image.pullPolicy=Sometimes"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "pullPolicy" in result.stderr


def test_crd_copies_match_the_generated_ones() -> None:
    generated = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    for copy in (CHART / "crds", ROOT / "manifests" / "crds"):
        assert {p.name: p.read_text() for p in copy.glob("*.yaml")} == generated, f"{copy} drifted: run make crds"


def test_manifests_render_with_kustomize() -> None:
    kubectl = shutil.which("kubectl") or str(Path.home() / ".cache/kubeline/bin/kubernetes-v1.34.4/kubectl")
    result = subprocess.run([kubectl, "kustomize", str(ROOT / "manifests")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout) if d)
    assert kinds.count("CustomResourceDefinition") == len(list((ROOT / "crds").glob("*.yaml")))
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment"} <= set(kinds)
    assert {"Role", "RoleBinding", "PodDisruptionBudget"} <= set(kinds)  # the Lease's, and the drain's


def test_an_artifact_store_set_in_the_values_is_the_operators_config(helm: str) -> None:
    """The README's MinIO example, read back by the operator's own config model."""
    from kubeline.controller.config import OperatorConfig

    documents = render(
        helm,
        "--set", "config.artifactStore.bucket=kubeline",
        "--set", "config.artifactStore.endpoint=http://minio.minio:9000",
        "--set", "config.artifactStore.pathStyle=true",
        "--set", "config.artifactStore.credentialsSecret.secretName=kubeline-s3",
        "--set", "config.podGC=DeleteOnSuccess",
        "--set", "image.repository=registry.example/kubeline",
    )  # fmt: skip
    configmap = next(d for d in documents if d["kind"] == "ConfigMap")
    config = OperatorConfig.model_validate(yaml.safe_load(configmap["data"]["config.yaml"]))
    location = config.artifact_store.for_namespace("team-a")
    assert location is not None and location.bucket == "kubeline" and location.path_style
    assert location.credentials_secret is not None and location.credentials_secret.secret_name == "kubeline-s3"
    assert config.pod_gc == "DeleteOnSuccess"
    assert config.data_container.image.startswith("registry.example/kubeline:")  # the operator's own image
    without = render(helm)
    plain = yaml.safe_load(next(d for d in without if d["kind"] == "ConfigMap")["data"]["config.yaml"])
    assert OperatorConfig.model_validate(plain).artifact_store.for_namespace("team-a") is None


# -- the web UI ---------------------------------------------------------------------------------------------

READ = {"get", "list", "watch"}


def ui_objects(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The UI's objects by kind (one of each kind)."""
    return {
        d["kind"]: d for d in documents if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "ui"
    }


def test_the_ui_is_not_installed_unless_enabled(helm: str) -> None:
    documents = render(helm)
    assert not ui_objects(documents)
    assert not [d for d in documents if d["metadata"]["name"].endswith("-ui")]


def test_the_ui_reads_with_its_own_service_account_and_writes_nothing_by_default(helm: str) -> None:
    documents = render(helm, "--set", "ui.enabled=true")
    ui = ui_objects(documents)
    assert set(ui) == {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service"}
    for rule in ui["ClusterRole"]["rules"]:
        assert set(rule["verbs"]) <= READ, rule
    # exactly what ui/cluster.py calls: no ConfigMaps, CacheEntries, namespaces, pods, or events.k8s.io
    grants = {
        (group, resource, verb)
        for r in ui["ClusterRole"]["rules"]
        for group in r["apiGroups"]
        for resource in r["resources"]
        for verb in r["verbs"]
    }
    assert grants == {
        *{("kubeline.dev", kind, verb) for kind in ("runs", "pipelines") for verb in READ},
        ("kubeline.dev", "runrecords", "get"),  # the finished steps of large Runs
        ("", "pods/log", "get"),
        ("", "events", "list"),
    }
    pod = ui["Deployment"]["spec"]["template"]["spec"]
    assert (
        pod["serviceAccountName"]
        == ui["ServiceAccount"]["metadata"]["name"]
        == ui["ClusterRoleBinding"]["subjects"][0]["name"]
    )
    assert ui["ClusterRoleBinding"]["roleRef"]["name"] == ui["ClusterRole"]["metadata"]["name"]
    [container] = pod["containers"]
    assert container["args"] == ["ui", "--in-cluster", "--address", "0.0.0.0", "--port", "8080", "-A", "--read-only"]
    assert (
        container["readinessProbe"]["httpGet"]
        == container["livenessProbe"]["httpGet"]
        == {"path": "/healthz", "port": "http"}
    )
    operator = next(d for d in documents if d["kind"] == "Deployment" and d is not ui["Deployment"])
    assert pod["securityContext"] == operator["spec"]["template"]["spec"]["securityContext"]
    assert container["securityContext"] == operator["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert container["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    # no operator selector (its Deployment's, Service's, budget's) takes the UI's pod, and the UI's Service takes it
    labels = ui["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert not operator["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert ui["Service"]["spec"]["selector"].items() <= labels.items()
    assert ui["Service"]["spec"]["type"] == "ClusterIP"
    assert ui["Service"]["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http"}]


def test_ui_actions_add_writes_on_runs_alone(helm: str) -> None:
    ui = ui_objects(render(helm, "--set", "ui.enabled=true", "--set", "ui.actions.enabled=true"))
    writes = [r for r in ui["ClusterRole"]["rules"] if not set(r["verbs"]) <= READ]
    assert writes == [{"apiGroups": ["kubeline.dev"], "resources": ["runs"], "verbs": ["create", "patch", "delete"]}]
    assert "--read-only" not in ui["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]


def test_ui_ingress_routes_to_the_ui_service(helm: str) -> None:
    ui = ui_objects(render(
        helm,
        "--set", "ui.enabled=true",
        "--set", "ui.ingress.enabled=true",
        "--set", "ui.ingress.className=nginx",
        "--set", "ui.ingress.host=kubeline.example.com",
        "--set", "ui.ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/auth-url=https://auth.example.com",
        "--set", "ui.ingress.tls[0].secretName=kubeline-ui-tls",
        "--set", "ui.ingress.tls[0].hosts[0]=kubeline.example.com",
    ))  # fmt: skip
    ingress = ui["Ingress"]
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/auth-url": "https://auth.example.com"}
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "kubeline-ui-tls", "hosts": ["kubeline.example.com"]}]
    [rule] = ingress["spec"]["rules"]
    assert rule["host"] == "kubeline.example.com"
    [path] = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": ui["Service"]["metadata"]["name"], "port": {"name": "http"}}
    assert "Ingress" not in ui_objects(render(helm, "--set", "ui.enabled=true"))


def notes(helm: str, tmp_path: Path, *values: str) -> str:
    """The chart's NOTES.txt rendered (helm template leaves it out): its text through a ConfigMap in a copy."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "NOTES.txt").rename(chart / "notes.txt")
    (chart / "templates" / "notes.yaml").write_text(
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata: {notes: {{ tpl (.Files.Get "notes.txt") . | quote }}}\n'
    )
    result = subprocess.run(
        [
            helm,
            "template",
            "kubeline",
            str(chart),
            "-n",
            "kubeline-system",
            "--show-only",
            "templates/notes.yaml",
            *values,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return str(yaml.safe_load(result.stdout)["data"]["notes"])


def test_the_notes_say_how_to_reach_the_ui(helm: str, tmp_path: Path) -> None:
    enabled = notes(helm, tmp_path, "--set", "ui.enabled=true")
    assert "kubectl port-forward -n kubeline-system service/kubeline-ui 8080:8080" in enabled
    assert "http://127.0.0.1:8080/" in enabled and "read-only" in enabled
    assert "port-forward" not in notes(helm, tmp_path / "disabled")
