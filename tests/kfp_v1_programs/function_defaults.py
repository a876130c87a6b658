"""KFP v1: a lightweight component whose parameters have defaults of every kind, list and dict included, and
Optional ones defaulting to None that the function sees as None when a task leaves them out."""

from typing import Dict, List, Optional

from kfp import dsl
from kfp.components import create_component_from_func


def train(
    data: str,
    epochs: int = 10,
    learning_rate: float = 0.01,
    shuffle: bool = True,
    layers: list = [64, 32],
    config: dict = {"optimizer": "adam"},
    note: Optional[str] = None,
    tags: List[str] = None,
    weights: Dict[str, float] = None,
) -> str:
    summary = f"{data} {epochs} {learning_rate} {shuffle} {layers} {config} {note!r} {tags} {weights}"
    print(summary)
    return summary


train_op = create_component_from_func(train)


@dsl.pipeline(name="Function defaults", description="Defaults of every kind, taken and overridden.")
def function_defaults_pipeline(data: str = "gs://bucket/data.csv"):
    train_op(data)
    train_op(data, epochs=5, shuffle=False, layers=[1, 2], config={"a": 1}, note="", tags=["x"], weights={"x": 0.5})
