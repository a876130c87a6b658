"""kubeline: ML pipelines as Kubernetes resources, with a KFP v1 style SDK and a local runner.

``kubeline.dsl``, ``kubeline.components``, ``kubeline.compiler`` and ``kubeline.Client`` mirror
``kfp.dsl``, ``kfp.components``, ``kfp.compiler`` and ``kfp.Client``.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Client pulls in the Kubernetes client: import it only when asked for.
    if name == "Client":
        from kubeline.sdk.client import Client

        return Client
    raise AttributeError(f"module 'kubeline' has no attribute {name!r}")
