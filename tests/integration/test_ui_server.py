"""`kubeline ui` over HTTP (no browser) against the real control plane: the list is served from watches (200
Runs all listed; a change reaches the /events stream in seconds; page views cost the API server nothing), a
user whose RBAC lacks a verb gets a page naming it, never a 500; `-n NS` shows NS only. No operator runs here:
the Runs are records the UI reads. (A watch broken by an API server restart is the watch loop's own unit test,
tests/unit/test_ui_cluster.py: restarting this session's shared API server would disturb the other tests.)"""

from __future__ import annotations

import html
import json
import queue
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeline.api.constants import API_VERSION
from kubeline.api.yamlio import dump_all
from tests.browser.conftest import Server
from tests.browser.ui_pages import eventually, start_ui
from tests.control_plane import Cluster, new_namespace

pytestmark = pytest.mark.integration

PAGE_VIEWS = 40


def run_document(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "metadata": {"name": name, "labels": labels},
        "spec": {"pipelineRef": {"name": "absent"}, "arguments": {}},
    }


def create_runs(cluster: Cluster, namespace: str, names: list[str]) -> None:
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=dump_all([run_document(n) for n in names]))


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def listed(url: str) -> set[str]:
    """The runs ("NS/NAME") of the list's first page of 200."""
    return set(re.findall(r'<tr data-run="([^"]+)"', get(url + "?per_page=200")[1]))


@pytest.fixture(scope="module")
def namespace(crds: Cluster) -> Iterator[str]:
    name = new_namespace(crds, "ui")
    yield name
    crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def ui(crds: Cluster, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_ui(["-n", namespace], tmp_path_factory.mktemp("ui") / "ui.log", {"KUBECONFIG": str(crds.kubeconfig)})
    yield server
    server.stop()


class Stream:
    """A Server-Sent Events stream read in a thread: its (event, data) pairs in ``events``."""

    def __init__(self, url: str):
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.response = urllib.request.urlopen(url, timeout=60)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = ""
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.put((event, json.loads(line.removeprefix("data: "))))
        except (OSError, ValueError, AttributeError):  # closed by the test (http.client drops its file)
            return

    def next(self, event: str, timeout: float) -> Any:
        """The data of the next ``event`` within ``timeout`` seconds."""
        import time

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                name, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if name == event:
                return data
        raise AssertionError(f"no {event!r} event within {timeout}s")

    def close(self) -> None:
        self.response.close()


def runs_requests(cluster: Cluster, verb: str) -> float:
    """The API server's count of ``verb`` requests on runs (apiserver_request_total), all clients together."""
    metrics = cluster.kubectl("get", "--raw", "/metrics").stdout
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("apiserver_request_total{") and 'resource="runs"' in line and f'verb="{verb}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_two_hundred_runs_are_listed_and_changes_stream_without_requests_per_page_view(
    crds: Cluster, namespace: str, ui: Server
) -> None:
    names = [f"bulk-{i:03d}" for i in range(200)]
    create_runs(crds, namespace, names)
    expected = {f"{namespace}/{name}" for name in names}
    eventually(lambda: listed(ui.url) >= expected, 20, "all 200 Runs listed")

    # other clients list runs too (the namespace controller, emptying the namespaces of earlier tests): a few
    # requests are noise, one per page view is not
    lists, gets = runs_requests(crds, "LIST"), runs_requests(crds, "GET")
    for _ in range(PAGE_VIEWS // 2):
        assert get(ui.url)[0] == 200 and get(ui.url + "?phase=Running&sort=name")[0] == 200
    asked = runs_requests(crds, "LIST") - lists, runs_requests(crds, "GET") - gets
    assert max(asked) < PAGE_VIEWS // 4, f"{PAGE_VIEWS} page views made {asked} LIST and GET requests of runs"

    stream = Stream(ui.url + "events")
    try:
        fresh = f"late-{uuid.uuid4().hex[:6]}"
        create_runs(crds, namespace, [fresh])
        assert stream.next("row", 5)["key"] == f"{namespace}/{fresh}"
        crds.kubectl("delete", "run", fresh, "-n", namespace)
        assert stream.next("removed", 5) == {"key": f"{namespace}/{fresh}"}
    finally:
        stream.close()


def test_a_namespace_scoped_ui_shows_only_its_namespace(crds: Cluster, namespace: str, ui: Server) -> None:
    other = new_namespace(crds, "ui-other")
    try:
        create_runs(crds, other, ["elsewhere"])
        create_runs(crds, namespace, ["here"])
        eventually(lambda: f"{namespace}/here" in listed(ui.url), 10, "the namespace's run listed")
        assert not any(key.startswith(f"{other}/") for key in listed(ui.url))
        status, page = get(f"{ui.url}runs/{other}/elsewhere")
        assert status == 404 and namespace in page, (status, page[:500])
    finally:
        crds.kubectl("delete", "namespace", other, "--wait=false", check=False)


def viewer_kubeconfig(cluster: Cluster, namespace: str, folder: Path) -> Path:
    """A kubeconfig of a ServiceAccount allowed only to get, list and watch Runs in ``namespace``."""
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "runs-viewer"},
            "rules": [{"apiGroups": ["kubeline.dev"], "resources": ["runs"], "verbs": ["get", "list", "watch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "runs-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runs-viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
    ]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=dump_all(rbac))
    return cluster.service_account_kubeconfig("viewer", namespace, folder / "viewer.kubeconfig", namespace)


def post_action(url: str, page: str) -> tuple[int, str]:
    """Submits the page's first form posting to ``url``, as the browser would (its token, this origin)."""
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token, "the page has no action form"
    origin = urllib.parse.urlsplit(url)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode({"csrf": token[1]}).encode(),
        headers={"Origin": f"{origin.scheme}://{origin.netloc}", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_user_without_the_verb_gets_a_page_naming_it_never_a_500(
    crds: Cluster, namespace: str, tmp_path: Path
) -> None:
    create_runs(crds, namespace, ["guarded"])
    frozen = {"components": [{"name": "c", "container": {"image": "x", "command": ["true"]}}], "tasks": []}
    frozen["tasks"] = [{"name": "t", "component": "c"}]
    ended = {
        "status": {
            "phase": "Failed",
            "startedAt": "2026-11-30T00:00:00Z",  # a run that started and ended: one a retry may retry
            "pipelineSpec": frozen,
            "tasks": {"t": {"phase": "Failed"}},
        }
    }
    crds.kubectl(
        "patch", "run", "guarded", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(ended)
    )
    kubeconfig = viewer_kubeconfig(crds, namespace, tmp_path)
    server = start_ui(["-n", namespace], tmp_path / "viewer-ui.log", {"KUBECONFIG": str(kubeconfig)})
    try:
        eventually(lambda: f"{namespace}/guarded" in listed(server.url), 10, "the viewer's list")
        status, page = get(f"{server.url}runs/{namespace}/guarded")
        assert status == 200, page[:1000]
        for action, verb in (("cancel", "patch"), ("delete", "delete"), ("retry", "create")):
            status, answer = post_action(f"{server.url}runs/{namespace}/guarded/{action}", page)
            assert status == 403, (action, status, answer[:1000])
            assert f"'{verb}' verb on runs.kubeline.dev" in html.unescape(answer), answer[:1000]
        status, page = get(f"{server.url}pipelines")
        assert status == 200, page[:1000]
    finally:
        server.stop()
    assert "Traceback" not in server.output()
    assert crds.kubectl("get", "run", "guarded", "-n", namespace, check=False).returncode == 0
