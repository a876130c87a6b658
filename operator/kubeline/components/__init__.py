"""`kfp.components` for kubeline: components from Python functions and from component YAML."""

from kubeline.sdk.components import (
    InputPath,
    OutputPath,
    component,
    create_component_from_func,
    func_to_container_op,
    load_component_from_file,
    load_component_from_text,
    load_component_from_url,
)

__all__ = [
    "InputPath",
    "OutputPath",
    "component",
    "create_component_from_func",
    "func_to_container_op",
    "load_component_from_file",
    "load_component_from_text",
    "load_component_from_url",
]
