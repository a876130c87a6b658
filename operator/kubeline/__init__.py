"""kubeline: ML pipelines as Kubernetes resources, with a KFP v1 style SDK and a local runner.

``kubeline.dsl``, ``kubeline.components``, ``kubeline.compiler`` and ``kubeline.Client`` mirror
``kfp.dsl``, ``kfp.components``, ``kfp.compiler`` and ``kfp.Client``: after ``import kubeline`` alone, as
KFP programs write ``import kfp`` and then ``kfp.dsl.pipeline``.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

#: The SDK's modules, imported on first use: the operator and `kubeline --help` never load the SDK.
_SDK_MODULES = frozenset({"dsl", "components", "compiler"})


def __getattr__(name: str) -> Any:
    if name in _SDK_MODULES:
        return importlib.import_module(f"kubeline.{name}")
    # Client pulls in the Kubernetes client: import it only when asked for.
    if name == "Client":
        from kubeline.sdk.client import Client

        return Client
    raise AttributeError(f"module 'kubeline' has no attribute {name!r}")
