"""`kfp.compiler` for kubeline: Compiler().compile(pipeline_func, "pipeline.yaml")."""

from kubeline.sdk.compiler import Compiler, compile_pipeline

__all__ = ["Compiler", "compile_pipeline"]
