"""`kfp.dsl.types` for kubeline."""

from kubeline.sdk.types import (
    BaseType,
    Bool,
    Dict,
    Float,
    GCPProjectID,
    GCPRegion,
    GCRPath,
    GCSPath,
    Integer,
    List,
    LocalPath,
    String,
)

__all__ = [
    "BaseType",
    "Bool",
    "Dict",
    "Float",
    "GCPProjectID",
    "GCPRegion",
    "GCRPath",
    "GCSPath",
    "Integer",
    "List",
    "LocalPath",
    "String",
]
