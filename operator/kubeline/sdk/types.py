"""`kfp.dsl.types`: KFP v1's type classes, usable where a type annotation goes (`a: Integer()` or `a: Integer`).

Each names a KFP type (TYPE_NAME); kubeline reads the value types (Integer, Float, Bool, String, List, Dict) as
its own and takes every other one (GCSPath, LocalPath...) as text, as KFP passes them.
"""

from __future__ import annotations


class BaseType:
    TYPE_NAME = ""

    def __init__(self, **properties: object) -> None:  # KFP's types take openapi_schema_validator and such
        self.properties = properties


class Integer(BaseType):
    TYPE_NAME = "Integer"


class String(BaseType):
    TYPE_NAME = "String"


class Float(BaseType):
    TYPE_NAME = "Float"


class Bool(BaseType):
    TYPE_NAME = "Bool"


class List(BaseType):
    TYPE_NAME = "List"


class Dict(BaseType):
    TYPE_NAME = "Dict"


class GCSPath(BaseType):
    TYPE_NAME = "GCSPath"


class GCRPath(BaseType):
    TYPE_NAME = "GCRPath"


class GCPRegion(BaseType):
    TYPE_NAME = "GCPRegion"


class GCPProjectID(BaseType):
    TYPE_NAME = "GCPProjectID"


class LocalPath(BaseType):
    TYPE_NAME = "LocalPath"
