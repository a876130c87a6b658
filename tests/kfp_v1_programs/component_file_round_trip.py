"""KFP v1 "Build components" docs: a lightweight component saved with output_component_file, then loaded back
with load_component_from_file and used in the pipeline (files in, files out, defaults, an Optional input)."""

import os
import tempfile
from typing import Optional

from kfp import components, dsl
from kfp.components import InputPath, OutputPath

COMPONENT_DIR = tempfile.mkdtemp()


def scale(data_path: InputPath(), factor: float, scaled_path: OutputPath("CSV"), offsets: list = [0], note: Optional[str] = None):
    with open(data_path) as source, open(scaled_path, "w") as target:
        for line in source:
            target.write(f"{float(line) * factor + offsets[0]}\n")
    print(note)


def make(count: int, data_path: OutputPath()):
    with open(data_path, "w") as f:
        f.write("".join(f"{i}\n" for i in range(1, count + 1)))


def total(data_path: InputPath("CSV")) -> float:
    return sum(float(line) for line in open(data_path))


for function in (make, scale, total):
    components.create_component_from_func(
        function, output_component_file=os.path.join(COMPONENT_DIR, f"{function.__name__}.yaml")
    )

make_op, scale_op, total_op = (
    components.load_component_from_file(os.path.join(COMPONENT_DIR, f"{name}.yaml")) for name in ("make", "scale", "total")
)


@dsl.pipeline(name="Component file round trip")
def component_file_pipeline(count: int = 3):
    made = make_op(count)
    scaled = scale_op(made.outputs["data"], 2)
    total_op(scaled.outputs["scaled"])
    shifted = scale_op(made.outputs["data"], 1, offsets=[10], note="shifted")
    total_op(shifted.outputs["scaled"])
