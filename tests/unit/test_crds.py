"""crds/ is generated from the API models: it must never drift from them."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubeline.api.crdgen import crds, render

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"


def test_checked_in_crds_match_the_models() -> None:
    generated = {name: render(crd) for name, crd in crds().items()}
    on_disk = {path.name: path.read_text() for path in CRD_DIR.glob("*.yaml")}
    assert sorted(on_disk) == sorted(generated), "run: kubeline crds --write crds/"
    for name, text in generated.items():
        assert on_disk[name] == text, f"{name} drifted from the models: run `kubeline crds --write crds/`"


def _walk(schema: dict, path: str = ""):
    yield path, schema
    for key, child in (schema.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


def test_schemas_are_structural() -> None:
    """Every node typed or marked free-form, and no JSON-schema constructs Kubernetes refuses."""
    for crd in crds().values():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in _walk(schema):
            assert not {"$ref", "anyOf", "oneOf", "allOf", "const", "title", "default"} & set(node), path
            assert node.get("additionalProperties") is not False, path
            marked = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
            assert "type" in node or marked, f"{path} has no type"


def test_runs_show_phase_and_progress_and_have_a_status_subresource() -> None:
    run = yaml.safe_load((CRD_DIR / "kubeline.dev_runs.yaml").read_text())
    version = run["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Phase"] == ".status.phase"
    assert columns["Progress"] == ".status.progressText"
    assert "Age" in columns and "Duration" in columns
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = [v["rule"] for v in spec["x-kubernetes-validations"]]
    assert any("oldSelf.pipelineRef" in rule for rule in rules)
    task_names = spec["properties"]["pipelineSpec"]["properties"]["tasks"]
    assert task_names["x-kubernetes-list-type"] == "map" and task_names["x-kubernetes-list-map-keys"] == ["name"]
