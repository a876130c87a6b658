"""Where everything lives in a store: one key layout for every backend and every runner.

Keys are relative to the store's prefix (``s3://bucket/PREFIX``, or the local store's folder)::

    objects/sha256/{hex[:2]}/{hex}          a file artifact or a large value, content-addressed
    objects/sha256/{hex[:2]}/{hex}.tar      a directory artifact: a deterministic uncompressed tar
    cache/{cache_key}.json                  a cached step result (a CacheRecord)
    logs/{namespace}/{run}/{step folder}/attempt-{n}.log   a step's log (local runs: namespace "_local")

An object's key is the SHA-256 of its bytes (of the tar, for a directory), so identical artifacts are
stored once and an object, once written, never changes. The step folder is
``engine.stepid.folder_name(step_id)`` (``loop[2].train`` -> ``loop_2.train``). What a run's status, a
cache record or a step's outputs record for an artifact is the ObjectRef's text: ``sha256:<hex>`` for a
file, ``sha256:<hex>/`` for a directory. Cache keys are ``engine.cachekey``'s, the same locally and on a
cluster, so either reuses what the other stored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from kubeline.engine.stepid import folder_name

_HEX64 = re.compile(r"[0-9a-f]{64}")
_REF = re.compile(r"sha256:([0-9a-f]{64})(/?)")
OBJECTS = "objects/sha256/"
CACHE = "cache/"
LOGS = "logs/"


@dataclass(frozen=True)
class ObjectRef:
    """A stored object by content: a file's SHA-256, or a directory's (the SHA-256 of its tar)."""

    digest: str
    directory: bool = False

    def __post_init__(self) -> None:
        if not _HEX64.fullmatch(self.digest):
            raise ValueError(f"an object digest is 64 lowercase hex digits, not {self.digest!r}")

    def __str__(self) -> str:
        return f"sha256:{self.digest}" + ("/" if self.directory else "")

    @classmethod
    def parse(cls, text: str) -> ObjectRef | None:
        """The ref ``text`` writes, or None when it is not one (a path, a value)."""
        match = _REF.fullmatch(text)
        return cls(match[1], match[2] == "/") if match else None


def object_key(ref: ObjectRef) -> str:
    return f"{OBJECTS}{ref.digest[:2]}/{ref.digest}" + (".tar" if ref.directory else "")


def ref_of_key(key: str) -> ObjectRef | None:
    """The ref an object key stores, or None for a key that is not an object's (the inverse of object_key)."""
    if not key.startswith(OBJECTS):
        return None
    name = key.rsplit("/", 1)[-1]
    directory = name.endswith(".tar")
    digest = name.removesuffix(".tar")
    if not _HEX64.fullmatch(digest) or key != object_key(ObjectRef(digest, directory)):
        return None
    return ObjectRef(digest, directory)


def cache_record_key(cache_key: str) -> str:
    if not _HEX64.fullmatch(cache_key):
        raise ValueError(f"a cache key is 64 lowercase hex digits (engine.cachekey), not {cache_key!r}")
    return f"{CACHE}{cache_key}.json"


#: The namespace of local runs' logs: no Kubernetes namespace can be called that (no "_" in DNS labels).
LOCAL_LOG_NAMESPACE = "_local"


def log_namespace_prefix(namespace: str) -> str:
    """The folder of a namespace's logs: ``logs/{namespace}/``."""
    return log_run_prefix(namespace, "x")[: -len("x/")]


def log_key(namespace: str, run: str, step_id: str, attempt: int) -> str:
    return f"{log_run_prefix(namespace, run)}{folder_name(step_id)}/attempt-{attempt}.log"


def log_run_prefix(namespace: str, run: str) -> str:
    """The folder of a run's logs: ``logs/{namespace}/{run}/``."""
    for what, name in (("namespace", namespace), ("run", run)):
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"a log's {what} must be a name without '/', not {name!r}")
    return f"{LOGS}{namespace}/{run}/"


@dataclass
class CacheRecord:
    """A cached step result, stored as JSON under ``cache_record_key(cache_key)``.

    ``outputs`` holds every output's text: values as they are, artifacts (and values too large to pass
    inline, named in ``large_values``) as ObjectRef texts; the JSON spells the fields in camelCase."""

    cache_key: str
    component: str
    outputs: dict[str, str]
    created_at: float
    large_values: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        document = {
            "cacheKey": self.cache_key,
            "component": self.component,
            "outputs": self.outputs,
            "largeValues": self.large_values,
            "createdAt": self.created_at,
        }
        return json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> CacheRecord:
        """The record ``text`` holds; ValueError naming the field that is missing or wrong."""
        try:
            document: Any = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ValueError(f"not JSON ({error})") from None
        if not isinstance(document, dict):
            raise ValueError("not a JSON object")
        return cls(
            cache_key=_field(document, "cacheKey", str),
            component=_field(document, "component", str),
            outputs=_texts(document.get("outputs"), "outputs"),
            created_at=_created_at(document.get("createdAt")),
            large_values=_names(document.get("largeValues", [])),
        )

    def refs(self) -> set[ObjectRef]:
        """The objects this record keeps alive (for garbage collection)."""
        return {ref for text in self.outputs.values() if (ref := ObjectRef.parse(text)) is not None}


def _field(document: dict[str, Any], name: str, kind: type) -> Any:
    value = document.get(name)
    if not isinstance(value, kind):
        raise ValueError(f"field {name!r} is missing or not a {kind.__name__}")
    return value


def _texts(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"field {name!r} is missing or not an object of texts")
    return dict(value)


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("field 'largeValues' is not a list of output names")
    return list(value)


def _created_at(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError("field 'createdAt' is missing or not a time in seconds")
    return float(value)
