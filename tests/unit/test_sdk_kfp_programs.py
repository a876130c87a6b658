"""Classic KFP v1 programs run on the local runner with only `kfp` replaced by `kubeline`."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
import yaml

from kubeline.backends.local import LocalRunner, RunResult, local_identity
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import bind_arguments
from kubeline.sdk.loader import pipeline_document_from_python
from kubeline.store import ObjectRef, get_artifact
from kubeline.store.local import LocalStore
from tests.helpers import KFP_V1_PROGRAMS, kubeline, migrated
from tests.kfp_expectations import assert_container_op_scheduling

PROGRAMS = KFP_V1_PROGRAMS


def run_program(name: str, tmp_path: Path, **arguments: object) -> tuple[dict, RunResult]:
    document = pipeline_document_from_python(migrated(name, tmp_path))
    plan = build(load_spec(document["spec"]))
    params = bind_arguments(plan, arguments, local_identity("test"))
    runner = LocalRunner(plan, params, "test", run_dir=tmp_path / "run", cache=None)
    return document, runner.run()


def outputs(result: RunResult, step: str) -> dict[str, str]:
    return result.state.steps[step].outputs


def read_artifact(result: RunResult, step: str, output: str) -> str:
    """An artifact a step stored, read back from the run's store."""
    ref = ObjectRef.parse(outputs(result, step)[output])
    assert ref is not None, outputs(result, step)
    copy = result.directory / "read" / step / output
    get_artifact(LocalStore(result.directory / "store"), ref, copy)
    return copy.read_text()


def test_add_subtract_multiply(tmp_path: Path) -> None:
    document, result = run_program("add_subtract_multiply.py", tmp_path, value_1="7", value_2="3")
    assert result.decision.phase == "Succeeded"
    assert float(outputs(result, "multiply")["Output"]) == 40.0
    # untyped KFP parameters take the type of the inputs they feed
    assert [p["type"] for p in document["spec"]["params"]] == ["number", "number"]


def test_file_passing(tmp_path: Path) -> None:
    document, result = run_program("file_passing.py", tmp_path, rows=4)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "total-score") == {"Output": "60"}  # 0 + 10 + 20 + 30
    component = next(c for c in document["spec"]["components"] if c["name"] == "make-report")
    assert component["outputs"] == [{"name": "report", "type": "artifact"}]


def test_random_number_with_two_conditions(tmp_path: Path) -> None:
    _, result = run_program("random_condition.py", tmp_path)
    assert result.decision.phase == "Succeeded"
    number = int(outputs(result, "random-number")["Output"])
    high, low = result.decision.views["condition-1"], result.decision.views["condition-2"]
    assert (high.phase, low.phase) == (("Succeeded", "Skipped") if number > 5 else ("Skipped", "Succeeded"))
    ran = "condition-1.announce" if number > 5 else "condition-2.announce-2"
    assert outputs(result, ran) == {"Output": "high" if number > 5 else "low"}


def test_parallel_for_over_a_produced_list(tmp_path: Path) -> None:
    _, result = run_program("parallel_for.py", tmp_path, count=3)
    assert result.decision.phase == "Succeeded"
    assert [outputs(result, f"for-loop-1[{i}].show")["Output"] for i in range(3)] == [
        "1 squared is 1",
        "2 squared is 4",
        "3 squared is 9",
    ]


def test_nested_loops_read_the_outer_item(tmp_path: Path) -> None:
    _, result = run_program("nested_parallel_for.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    pairs = ["1-3", "1-4", "2-3", "2-4"]
    for step, output in (("pair", "Output"), ("echo", "Output"), ("shell-pair", "pair")):
        seen = [outputs(result, f"for-loop-1[{o}].for-loop-2[{i}].{step}")[output] for o in (0, 1) for i in (0, 1)]
        assert seen == pairs, step
    over_made = [outputs(result, f"for-loop-1[{o}].for-loop-3[{i}].pair-2")["Output"] for o in (0, 1) for i in (0, 1)]
    assert over_made == ["1-10", "1-11", "2-20", "2-21"]


def test_run_id_placeholders_in_parameter_defaults_take_the_run_s_values(tmp_path: Path) -> None:
    document, result = run_program("param_default_placeholders.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "train") == {"Output": "gs://my-bucket/test/models/xgb-test"}
    assert [p["default"] for p in document["spec"]["params"]] == [
        "xgb-{{run.name}}",
        "gs://my-bucket/{{run.uid}}/models",
    ]
    # a value the user passes is data: kept as given
    (tmp_path / "given").mkdir()
    _, given = run_program("param_default_placeholders.py", tmp_path / "given", model_name="{{run.name}}")
    assert outputs(given, "train") == {"Output": "gs://my-bucket/test/models/{{run.name}}"}


def test_component_yaml_list_and_dict_inputs_defaulting_to_empty_text(tmp_path: Path) -> None:
    _, result = run_program("component_yaml_defaults.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "submit-job") == {"job_id": "my-project|||30"}  # the empty defaults, as KFP passes them
    assert outputs(result, "submit-job-2") == {"job_id": 'my-project|["--epochs","3"]|{"spark.executor.cores":"2"}|5'}


def test_metrics_reach_the_result_and_visualizations_are_artifacts(tmp_path: Path) -> None:
    document, result = run_program("metrics_and_visualizations.py", tmp_path, epochs=40)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert result.metrics.by_step == {"train": {"accuracy-score": 0.9, "epochs": 40.0}, "evaluate": {"recall": 0.88}}
    types = {c["name"]: {o["name"]: o["type"] for o in c["outputs"]} for c in document["spec"]["components"]}
    assert types["train"] == {"mlpipeline-metrics": "metrics", "mlpipeline-ui-metadata": "ui-metadata"}
    assert types["evaluate"] == {"mlpipeline-ui-metadata": "ui-metadata", "mlpipeline-metrics": "metrics"}
    # the visualizations are kept as artifacts, in the run's store, where a UI finds them
    markdown = json.loads(read_artifact(result, "train", "mlpipeline-ui-metadata"))
    assert markdown["outputs"][0]["type"] == "markdown"
    matrix = json.loads(read_artifact(result, "evaluate", "mlpipeline-ui-metadata"))
    assert matrix["outputs"][0]["labels"] == ["cat", "dog"]


def test_coin_flip_failing_branch_still_runs_the_exit_handler(tmp_path: Path) -> None:
    _, result = run_program("coin_flip_exit_handler.py", tmp_path, force="tails")
    assert result.decision.phase == "Failed"
    assert result.decision.views["condition-4.fail"].phase == "Failed"  # groups numbered as opened, as in KFP
    assert result.decision.views["condition-1"].phase == "Skipped"
    assert outputs(result, "exit-notice") == {"Output": "Failed"}
    (tmp_path / "heads").mkdir()
    _, heads = run_program("coin_flip_exit_handler.py", tmp_path / "heads", force="heads")
    assert heads.decision.phase == "Succeeded"
    assert outputs(heads, "exit-notice") == {"Output": "Succeeded"}


def test_container_ops_with_scheduling_and_pipeline_conf(tmp_path: Path) -> None:
    document, result = run_program("container_op_scheduling.py", tmp_path)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "first") == {"said": "hello"}  # the file's trailing newline is not part of the value
    assert_container_op_scheduling(document["spec"])


def test_volumeop_basic_writes_then_reads_the_claim_it_created(tmp_path: Path) -> None:
    document, result = run_program("volumeop_basic.py", tmp_path, size="2Gi")
    spec = document["spec"]
    assert document["metadata"]["name"] == "volumeop-basic"
    assert spec["volumes"] == [{"name": "my-pvc", "size": "{{params.size}}", "accessModes": ["ReadWriteOnce"]}]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["cop"]["arguments"] == {"create-pvc-name": "{{volumes.my-pvc.name}}"}
    assert tasks["read"]["after"] == ["cop"]  # it mounts cop.pvolume, as in KFP
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "read") == {"read": "foo"}


def test_volumeop_sequential_steps_share_one_claim_in_order(tmp_path: Path) -> None:
    document, result = run_program("volumeop_sequential.py", tmp_path)
    spec = document["spec"]
    assert spec["volumes"] == [{"name": "newpvc", "size": "10Gi", "accessModes": ["ReadWriteOnce"]}]
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert [tasks[n].get("after") for n in ("step1", "step2", "step3")] == [None, ["step1"], ["step2"]]
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "claim-name") == {"claim": "test-newpvc 10Gi"}  # the run's claim: RUN-VOLUME


def test_container_op_methods_compile_to_the_pod_settings(tmp_path: Path) -> None:
    document = pipeline_document_from_python(migrated("container_op_methods.py", tmp_path))
    greet, keywords = document["spec"]["components"]
    container = greet["container"]
    assert [e["name"] for e in container["env"]] == ["GREETING", "POD_NAME", "API_TOKEN", "MODE"]
    assert container["env"][1]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert container["env"][2]["valueFrom"] == {"secretKeyRef": {"name": "api", "key": "token", "optional": True}}
    assert container["envFrom"] == [{"prefix": "CFG_", "configMapRef": {"name": "settings", "optional": True}}]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/scratch", "/etc/settings"]
    assert [v["name"] for v in greet["volumes"]] == ["scratch", "settings"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"] == {"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True, "runAsUser": 1000}
    assert greet["podMetadata"] == {"labels": {"team": "ml"}, "annotations": {"example.com/owner": "data-science"}}
    assert [c["name"] for c in greet["sidecars"]] == ["echo-server"]
    assert greet["initContainers"][0]["volumeMounts"] == container["volumeMounts"]  # mirror_volume_mounts
    assert keywords["container"]["imagePullPolicy"] == "Always"
    assert [c["name"] for c in keywords["sidecars"] + keywords["initContainers"]] == ["helper", "setup"]


def test_container_op_methods_run_with_the_pods_name_and_a_scratch_folder(tmp_path: Path) -> None:
    _, result = run_program("container_op_methods.py", tmp_path, greeting="bonjour")
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "greet")["said"].startswith("bonjour from ")
    assert outputs(result, "keywords") == {"who": "keywords"}


def test_secrets_and_onprem_helpers_set_secrets_env_and_volumes(tmp_path: Path) -> None:
    document, result = run_program("secrets_and_onprem.py", tmp_path)
    components = {c["name"]: c for c in document["spec"]["components"]}
    gcp, aws, onprem = (components[n] for n in ("list-credentials", "list-credentials-2", "list-credentials-3"))
    assert gcp["volumes"] == [{"name": "gcp-credentials-user-gcp-sa", "secret": {"secretName": "user-gcp-sa"}}]
    assert {e["name"]: e["value"] for e in gcp["container"]["env"]} == {
        "GOOGLE_APPLICATION_CREDENTIALS": "/secret/gcp-credentials/user-gcp-sa.json",
        "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE": "/secret/gcp-credentials/user-gcp-sa.json",
    }
    assert [e["valueFrom"]["secretKeyRef"] for e in aws["container"]["env"]] == [
        {"name": "aws-secret", "key": "AWS_ACCESS_KEY_ID"},
        {"name": "aws-secret", "key": "AWS_SECRET_ACCESS_KEY"},
    ]
    assert onprem["container"]["env"] == [
        {"name": "S3_SECRET", "valueFrom": {"secretKeyRef": {"name": "s3-secret", "key": "secret_key"}}}
    ]
    assert onprem["volumes"] == [{"name": "shared", "persistentVolumeClaim": {"claimName": "{{inputs.param-claim}}"}}]
    tasks = {t.get("displayName"): t for t in document["spec"]["tasks"]}
    assert tasks["onprem"]["arguments"] == {"param-claim": "{{params.claim}}"}
    assert tasks["gcp"]["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "1", "memory": "512Mi"},
    }
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "list-credentials")["Output"].startswith("GOOGLE_APPLICATION_CREDENTIALS=set ")


@pytest.mark.parametrize("program", [p.name for p in sorted(PROGRAMS.glob("*.py"))])
def test_compiling_twice_gives_the_same_bytes(program: str, tmp_path: Path) -> None:
    from kubeline.api.yamlio import dump

    path = migrated(program, tmp_path)
    assert dump(pipeline_document_from_python(path)) == dump(pipeline_document_from_python(path))


def test_kubeline_run_shows_the_metrics_and_names_the_run_in_defaults(tmp_path: Path) -> None:
    metrics = kubeline("run", str(migrated("metrics_and_visualizations.py", tmp_path)), "--name", "m1", home=tmp_path)
    assert metrics.returncode == 0, metrics.stderr
    assert "metrics of train: accuracy-score=0.9, epochs=40" in metrics.stdout
    as_json = kubeline("run", str(migrated("metrics_and_visualizations.py", tmp_path)), "--json", home=tmp_path)
    assert json.loads(as_json.stdout)["metrics"]["evaluate"] == {"recall": 0.88}
    defaults = kubeline(
        "run", str(migrated("param_default_placeholders.py", tmp_path)), "--name", "d1", "--json", home=tmp_path
    )
    assert json.loads(defaults.stdout)["tasks"]["train"]["outputs"] == {"Output": "gs://my-bucket/d1/models/xgb-d1"}


def test_import_kfp_alone_reaches_dsl_components_and_compiler(tmp_path: Path) -> None:
    document, result = run_program("import_kfp_alone.py", tmp_path)
    assert result.decision.phase == "Succeeded"
    assert float(outputs(result, "add-2")["Output"]) == 12.0  # (1 + 4) + 7
    assert document["metadata"]["name"] == "addition-pipeline"


def test_import_kubeline_alone_leaves_the_kubernetes_client_unloaded() -> None:
    """`import kubeline` then `kubeline.dsl`: the SDK loads, the Kubernetes client (for Client only) does not."""
    import subprocess
    import sys

    check = (
        "import sys, kubeline; kubeline.dsl.pipeline; kubeline.components.func_to_container_op; "
        "kubeline.compiler.Compiler(); print('kubernetes' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"


def test_exit_handler_task_is_numbered_apart_from_the_tasks_it_guards(tmp_path: Path) -> None:
    document, result = run_program("exit_handler_numbering.py", tmp_path, message="hi")
    assert result.decision.phase == "Succeeded"
    assert [t["name"] for t in document["spec"]["tasks"]] == ["print-op-2", "print-op-3"]
    assert document["spec"]["onExit"]["name"] == "print-op"  # made first, as in KFP
    assert outputs(result, "print-op-3") == {"Output": "hi"}
    assert outputs(result, "print-op") == {"Output": "exit!"}


def test_display_name_becomes_a_dns_name_and_annotations(tmp_path: Path) -> None:
    from tests.helpers import kubeline

    path = migrated("display_name_pipeline.py", tmp_path)
    document = pipeline_document_from_python(path)
    assert document["metadata"] == {
        "name": "parallel-pipeline",
        "annotations": {
            "kubeline.dev/display-name": "Parallel pipeline",
            "kubeline.dev/description": "Download two messages in parallel and prints the concatenated result.",
        },
    }
    # the run's folder is named after the DNS name: `tee $1` on an output path in it gets one word
    ran = kubeline("run", str(path), home=tmp_path / "home")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (run_dir,) = (tmp_path / "home" / "runs").iterdir()
    assert run_dir.name.startswith("parallel-pipeline-")
    assert (run_dir / "steps" / "echo-to-file-2" / "attempt-1" / "outputs" / "data").read_text() == "World\n"
    assert "Text 1: Hello" in (run_dir / "steps" / "echo" / "attempt-1" / "log").read_text()


def test_python_component_names_the_component_and_its_image(tmp_path: Path) -> None:
    document, result = run_program("python_component.py", tmp_path)
    assert result.decision.phase == "Succeeded"
    assert float(outputs(result, "multiply-numbers")["Output"]) == 15.0
    (component,) = document["spec"]["components"]
    assert (component["name"], component["description"]) == ("multiply-numbers", "Multiplies two numbers.")
    assert component["container"]["image"] == "python:3.10-slim"


def test_dsl_types_as_annotations(tmp_path: Path) -> None:
    document, result = run_program("dsl_types.py", tmp_path, number=21)
    assert result.decision.phase == "Succeeded"
    assert outputs(result, "double") == {"Output": "42"}
    assert [(p["name"], p["type"]) for p in document["spec"]["params"]] == [("number", "integer"), ("source", "string")]


def test_function_defaults_lists_dicts_and_none_reach_the_function(tmp_path: Path) -> None:
    _, result = run_program("function_defaults.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "train") == {
        "Output": "gs://bucket/data.csv 10 0.01 True [64, 32] {'optimizer': 'adam'} None None None"
    }
    assert outputs(result, "train-2") == {
        "Output": "gs://bucket/data.csv 5 0.01 False [1, 2] {'a': 1} '' ['x'] {'x': 0.5}"
    }


def test_the_pod_name_as_an_argument_is_the_step_pod_s_name(tmp_path: Path) -> None:
    document, result = run_program("pod_name_argument.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "show")["Output"].startswith("test|test-show-a1")  # RUN-STEP-aATTEMPT
    assert outputs(result, "show-2")["Output"].startswith("fixed|pod=test-show-2-a1")
    assert all("{{pod.name}}" not in json.dumps(t.get("arguments")) for t in document["spec"]["tasks"])


def test_a_component_file_written_then_loaded_back_runs(tmp_path: Path) -> None:
    document, result = run_program("component_file_round_trip.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert float(outputs(result, "total")["Output"]) == 12.0  # (1 + 2 + 3) * 2
    assert float(outputs(result, "total-2")["Output"]) == 36.0  # (1 + 2 + 3) + 3 * 10
    written = Path(runpy.run_path(str(migrated("component_file_round_trip.py", tmp_path)))["COMPONENT_DIR"])
    component = yaml.safe_load((written / "scale.yaml").read_text())
    assert component["inputs"] == [
        {"name": "data"},
        {"name": "factor", "type": "Float"},
        {"name": "offsets", "type": "JsonArray", "default": "[0]"},
        {"name": "note", "type": "String", "optional": True},
    ]
    assert component["implementation"]["container"]["args"][-1] == {
        "if": {"cond": {"isPresent": "note"}, "then": ["--note", {"inputValue": "note"}]}
    }


def test_container_op_artifacts_folders_and_files_passed_as_paths(tmp_path: Path) -> None:
    document, result = run_program("container_op_artifacts.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "shout") == {"out": "HELLO"}
    assert outputs(result, "prefix") == {"prefixed": "got-hello"}
    write = next(c for c in document["spec"]["components"] if c["name"] == "write")
    assert {o["name"]: o["type"] for o in write["outputs"]} == {"folder": "artifact", "msg": "string"}


def test_dsl_component_functions_return_their_container_ops(tmp_path: Path) -> None:
    _, result = run_program("dsl_component_decorator.py", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "echo-2") == {"out": "abababababab"}


# --- the same programs compiled by kfp==1.8.22 and imported ----------------------------------------------


def run_imported(kfp_workflows: dict, program: str, tmp_path: Path, **arguments: object) -> tuple[dict, RunResult]:
    import yaml

    from kubeline.importers.kfp_v1 import import_workflow

    document = import_workflow(yaml.safe_load(kfp_workflows[program][0].read_text()), strict=True).pipeline
    plan = build(load_spec(document["spec"]))
    runner = LocalRunner(plan, bind_arguments(plan, arguments), "imported", run_dir=tmp_path, cache=None)
    return document, runner.run()


def test_imported_exit_handler_numbering_and_names(kfp_workflows: dict, tmp_path: Path) -> None:
    document, result = run_imported(kfp_workflows, "exit_handler_numbering", tmp_path, message="hi")
    assert result.decision.phase == "Succeeded"
    assert document["spec"]["onExit"]["name"] == "print-op"
    assert outputs(result, "print-op") == {"Output": "exit!"}
    assert document["metadata"]["name"] == "exit-handler"
    assert document["metadata"]["annotations"]["kubeline.dev/display-name"] == "Exit handler"
    assert document["metadata"]["annotations"]["kubeline.dev/description"] == (
        "Prints two messages, then one more whatever happens."
    )


@pytest.mark.parametrize(
    "program, arguments, step, expected",
    [
        ("import_kfp_alone", {}, "add-2", 12.0),
        ("python_component", {}, "multiply-numbers", 15.0),
        ("dsl_types", {"number": 21}, "double", 42.0),
    ],
)
def test_imported_programs_run_as_compiled_by_the_sdk(
    kfp_workflows: dict, tmp_path: Path, program: str, arguments: dict, step: str, expected: float
) -> None:
    _, result = run_imported(kfp_workflows, program, tmp_path, **arguments)
    assert result.decision.phase == "Succeeded"
    assert float(outputs(result, step)["Output"]) == expected


def test_imported_display_name_pipeline_runs(kfp_workflows: dict, tmp_path: Path) -> None:
    document, result = run_imported(kfp_workflows, "display_name_pipeline", tmp_path)
    assert result.decision.phase == "Succeeded"
    assert document["metadata"]["name"] == "parallel-pipeline"
    assert document["metadata"]["annotations"]["kubeline.dev/display-name"] == "Parallel pipeline"
    assert sorted(outputs(result, step)["data"] for step in ("echo-to-file", "echo-to-file-2")) == ["Hello", "World"]


def test_imported_function_defaults_reach_the_function_as_with_the_sdk(kfp_workflows: dict, tmp_path: Path) -> None:
    _, result = run_imported(kfp_workflows, "function_defaults", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "train")["Output"].endswith("[64, 32] {'optimizer': 'adam'} None None None")
    assert outputs(result, "train-2")["Output"].endswith("[1, 2] {'a': 1} '' ['x'] {'x': 0.5}")


def test_imported_pod_name_argument_is_the_step_pod_s_name(kfp_workflows: dict, tmp_path: Path) -> None:
    _, result = run_imported(kfp_workflows, "pod_name_argument", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "show-2")["Output"].startswith("fixed|pod=imported-show-2-")


def test_imported_container_op_artifacts_run_as_with_the_sdk(kfp_workflows: dict, tmp_path: Path) -> None:
    _, result = run_imported(kfp_workflows, "container_op_artifacts", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "shout") == {"out": "HELLO"}
    assert outputs(result, "prefix") == {"prefixed": "got-hello"}


def test_imported_dsl_component_functions_run(kfp_workflows: dict, tmp_path: Path) -> None:
    _, result = run_imported(kfp_workflows, "dsl_component_decorator", tmp_path)
    assert result.decision.phase == "Succeeded", result.decision.message
    assert outputs(result, "echo-2") == {"out": "abababababab"}
