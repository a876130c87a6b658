"""Installing on the real control plane: kustomize manifests, the Helm chart, and RBAC that is enough and no more."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.control_plane import Operator, new_namespace
from tests.helpers import ARITHMETIC, submit, wait_run

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RELEASE_NAMESPACE = "kubeline-helm"
SERVICE_ACCOUNT = f"system:serviceaccount:{RELEASE_NAMESPACE}:kubeline-operator"


@pytest.fixture(scope="module")
def helm() -> str:
    return subprocess.run([str(ROOT / "hack" / "helm.sh")], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def installed(crds, helm):
    result = subprocess.run(
        [
            helm,
            "upgrade",
            "--install",
            "kubeline",
            str(ROOT / "charts" / "kubeline"),
            "-n",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "--kubeconfig",
            str(crds.kubeconfig),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "kubectl get runs -n NAMESPACE" in result.stdout  # the NOTES tell what to do next
    yield crds
    subprocess.run(
        [helm, "uninstall", "kubeline", "-n", RELEASE_NAMESPACE, "--kubeconfig", str(crds.kubeconfig)],
        capture_output=True,
        text=True,
    )


def test_manifests_pass_server_side_validation(crds) -> None:
    rendered = crds.kubectl("kustomize", str(ROOT / "manifests")).stdout
    namespace = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Namespace"]
    crds.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace[0]))  # namespaced objects need it to exist
    result = crds.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert result.stdout.count("(server dry run)") == len([d for d in yaml.safe_load_all(rendered) if d])


def test_chart_renders_objects_the_api_server_accepts(crds, helm) -> None:
    for values in ([], ["--set", "watchNamespaces={default}"]):
        rendered = subprocess.run(
            [helm, "template", "kubeline", str(ROOT / "charts" / "kubeline"), "-n", "default", *values],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = crds.kubectl("apply", "--dry-run=server", "-n", "default", "-f", "-", input=rendered)
        assert "deployment.apps/kubeline-operator created (server dry run)" in result.stdout


def test_helm_install_creates_the_operator_and_its_rbac(installed) -> None:
    deployment = installed.kubectl_json("get", "deployment", "kubeline-operator", "-n", RELEASE_NAMESPACE)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "kubeline-operator"
    for resource in (
        "clusterrole/kubeline-operator",
        "clusterrolebinding/kubeline-operator",
        "configmap/kubeline-operator-config",
    ):
        installed.kubectl("get", resource, "-n", RELEASE_NAMESPACE)


@pytest.mark.parametrize(
    "verb, resource, allowed",
    [
        ("create", "pods", True),
        ("delete", "pods", True),
        ("watch", "runs.kubeline.dev", True),
        ("patch", "runs.kubeline.dev/status", True),
        ("create", "cacheentries.kubeline.dev", True),
        ("create", "events", True),
        ("list", "customresourcedefinitions.apiextensions.k8s.io", True),
        ("get", "secrets", False),
        ("list", "secrets", False),
        ("create", "deployments.apps", False),
        ("create", "pods/exec", False),
        ("update", "pipelines.kubeline.dev", False),
        ("create", "rolebindings.rbac.authorization.k8s.io", False),
    ],
)
def test_the_service_account_can_do_what_the_operator_needs_and_no_more(
    installed, verb: str, resource: str, allowed: bool
) -> None:
    resource, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = installed.kubectl(
        "auth", "can-i", verb, resource, *extra, "-n", "default", f"--as={SERVICE_ACCOUNT}", check=False
    )
    assert result.stdout.strip() == ("yes" if allowed else "no")


def test_the_service_account_renews_its_own_lease_in_its_own_namespace_only(installed) -> None:
    def can(*args: str) -> bool:
        result = installed.kubectl("auth", "can-i", *args, f"--as={SERVICE_ACCOUNT}", check=False)
        return result.stdout.strip() == "yes"

    assert can("update", "leases.coordination.k8s.io/kubeline-operator", "-n", RELEASE_NAMESPACE)
    assert can("create", "leases.coordination.k8s.io", "-n", RELEASE_NAMESPACE)
    assert not can("update", "leases.coordination.k8s.io/kube-scheduler", "-n", RELEASE_NAMESPACE)
    assert not can("update", "leases.coordination.k8s.io/kubeline-operator", "-n", "default")


@dataclass
class ServiceAccountCluster:
    """The test cluster seen through the operator's service account (a token kubeconfig)."""

    kubeconfig: Path
    env: dict[str, str] = field(default_factory=dict)


def test_operator_running_as_its_service_account_runs_a_pipeline(installed, tmp_path: Path) -> None:
    kubeconfig = installed.service_account_kubeconfig(
        "kubeline-operator", RELEASE_NAMESPACE, tmp_path / "operator.kubeconfig"
    )
    namespace = new_namespace(installed, "rbac")
    operator = Operator(
        ServiceAccountCluster(kubeconfig, {**installed.env, "KUBECONFIG": str(kubeconfig)}),
        namespace,
        tmp_path / "operator.log",
        env={"POD_NAME": "local", "POD_NAMESPACE": RELEASE_NAMESPACE},  # its Lease where the chart allows it
    )
    operator.start()
    try:
        ctx = (installed, namespace, operator)
        run = submit(ctx, ARITHMETIC, {"value_1": 7, "value_2": 3})
        status = wait_run(ctx, run)
        assert status["phase"] == "Succeeded", (tmp_path / "operator.log").read_text()[-3000:]
        assert status["outputs"] == {"product": "40"}
        assert "Forbidden" not in (tmp_path / "operator.log").read_text()
    finally:
        operator.kill()
        installed.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
