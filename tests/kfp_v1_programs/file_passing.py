"""KFP v1: a JSON file written by one step (OutputPath) and read by the next (InputPath)."""

from kfp import dsl
from kfp.components import InputPath, OutputPath, create_component_from_func


def make_report(rows: int, report_path: OutputPath("JsonObject")):
    import json

    with open(report_path, "w") as f:
        json.dump({"rows": [{"id": i, "score": i * 10} for i in range(rows)]}, f)


def total_score(report_path: InputPath("JsonObject")) -> int:
    import json

    with open(report_path) as f:
        return sum(row["score"] for row in json.load(f)["rows"])


make_report_op = create_component_from_func(make_report)
total_score_op = create_component_from_func(total_score)

ARGUMENTS = {"rows": "4"}


@dsl.pipeline(name="file-passing")
def file_passing_pipeline(rows: int = 4):
    report = make_report_op(rows)
    total_score_op(report.outputs["report"])
