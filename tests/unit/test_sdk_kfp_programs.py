"""Classic KFP v1 programs run on the local runner with only `kfp` replaced by `kubeline`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeline.backends.local import LocalRunner, RunResult
from kubeline.engine.plan import build, load_spec
from kubeline.engine.run import bind_arguments
from kubeline.sdk.loader import pipeline_document_from_python
from tests.kfp_expectations import assert_container_op_scheduling

PROGRAMS = Path(__file__).resolve().parents[1] / "kfp_v1_programs"


def migrated(name: str, tmp_path: Path) -> Path:
    """The program with its kfp imports replaced: the whole migration."""
    text = re.sub(r"\bkfp\b", "kubeline", (PROGRAMS / name).read_text())
    path = tmp_path / name
    path.write_text(text)
    return path


def run_program(name: str, tmp_path: Path, **arguments: object) -> tuple[dict, RunResult]:
    document = pipeline_document_from_python(migrated(name, tmp_path))
    plan = build(load_spec(document["spec"]))
    runner = LocalRunner(plan, bind_arguments(plan, arguments), "test", run_dir=tmp_path / "run", cache=None)
    return document, runner.run()


def outputs(result: RunResult, step: str) -> dict[str, str]:
    return result.state.steps[step].outputs


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


@pytest.mark.parametrize("program", sorted(p.name for p in PROGRAMS.glob("*.py")))
def test_compiling_twice_gives_the_same_bytes(program: str, tmp_path: Path) -> None:
    from kubeline.api.yamlio import dump

    path = migrated(program, tmp_path)
    assert dump(pipeline_document_from_python(path)) == dump(pipeline_document_from_python(path))


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
