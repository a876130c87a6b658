"""`kfp.dsl` for kubeline: replace `kfp` with `kubeline` in the imports and the pipeline compiles as is."""

from kubeline.sdk.components import CompileError, InputPath, OutputPath
from kubeline.sdk.dsl import (
    EXECUTION_ID_PLACEHOLDER,
    RUN_ID_PLACEHOLDER,
    Condition,
    ContainerOp,
    ExitHandler,
    ParallelFor,
    PipelineConf,
    PipelineParam,
    PipelineVolume,
    VolumeOp,
    get_pipeline_conf,
    pipeline,
    python_component,
)

__all__ = [
    "EXECUTION_ID_PLACEHOLDER",
    "RUN_ID_PLACEHOLDER",
    "CompileError",
    "Condition",
    "ContainerOp",
    "ExitHandler",
    "InputPath",
    "OutputPath",
    "ParallelFor",
    "PipelineConf",
    "PipelineParam",
    "PipelineVolume",
    "VolumeOp",
    "get_pipeline_conf",
    "pipeline",
    "python_component",
]
