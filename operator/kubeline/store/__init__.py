"""The artifact store: artifacts, cached results, large values and step logs in an object store.

One interface (``base.ObjectStore``) over two backends, an S3-compatible bucket (``s3.S3Store``) and a
local directory (``local.LocalStore``), opened from a URL (``urls.open_store``). The key layout
(``layout``) is the same for both and for every runner, so a local run and a cluster run share what
they store. ``objects`` puts and gets artifacts content-addressed; ``gc`` deletes what nothing uses.
"""

from kubeline.store.base import MissingObject, ObjectStore, StoredObject, StoreError
from kubeline.store.layout import CacheRecord, ObjectRef, cache_record_key, log_key, object_key
from kubeline.store.objects import get_artifact, get_value, put_artifact, put_value
from kubeline.store.urls import open_store, store_url

__all__ = [
    "CacheRecord",
    "MissingObject",
    "ObjectRef",
    "ObjectStore",
    "StoreError",
    "StoredObject",
    "cache_record_key",
    "get_artifact",
    "get_value",
    "log_key",
    "object_key",
    "open_store",
    "put_artifact",
    "put_value",
    "store_url",
]
