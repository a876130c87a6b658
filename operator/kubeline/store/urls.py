"""Stores by URL: ``s3://bucket[/prefix][?endpoint=URL&region=R&pathStyle=true&caFile=PATH&insecure=true]``,
``file:///abs/path``, ``/abs/path`` or ``./rel``. A URL never holds credentials (boto3 finds them)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from kubeline.store.base import ObjectStore
from kubeline.store.local import LocalStore

_FORMS = (
    "s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&pathStyle=true&caFile=PATH&insecure=true] for an "
    "S3-compatible bucket, or a local folder (file:///abs/path, /abs/path or ./relative/path)"
)
_OPTIONS = ("endpoint", "region", "pathStyle", "caFile", "insecure")


def open_store(text: str) -> ObjectStore:
    """The store a URL names; ValueError naming the text and the accepted forms."""
    if text.startswith("s3://"):
        return _s3(text)
    if text.startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/") or parts.query:
            raise ValueError(f"artifact store {text!r}: a file URL is file:///absolute/path; use {_FORMS}")
        return LocalStore(Path(parts.path))
    if text.startswith(("/", "./", "../")) or text in (".", ".."):
        return LocalStore(Path(text).absolute())
    raise ValueError(f"artifact store {text!r} is not a store URL; use {_FORMS}")


def _s3(text: str) -> ObjectStore:
    from kubeline.store.s3 import S3Store  # boto3 loads only for an S3 store

    parts = urlsplit(text)
    if "@" in parts.netloc:
        hidden = f"s3://…@{parts.netloc.rpartition('@')[2]}"  # the text itself would print the secret
        raise ValueError(
            f"artifact store {hidden!r}: a store URL never holds credentials; give them as AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or an AWS profile, or the pod's cloud identity)"
        )
    if not parts.netloc:
        raise ValueError(f"artifact store {text!r} names no bucket; use {_FORMS}")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(
            f"artifact store {text!r}: unknown option {unknown[0]!r}; the options are {', '.join(_OPTIONS)}"
        )
    endpoint = options.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return S3Store(
        parts.netloc,
        parts.path.strip("/"),
        endpoint=endpoint or None,
        region=options.get("region") or None,
        path_style=_flag(text, options, "pathStyle"),
        ca_file=options.get("caFile") or None,
        verify=not _flag(text, options, "insecure"),
    )


def _flag(text: str, options: dict[str, str], name: str) -> bool:
    value = options.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ValueError(f"artifact store {text!r}: {name} is true or false, not {options[name]!r}")
    return value == "true"


def store_url(
    bucket: str,
    prefix: str = "",
    *,
    endpoint: str | None = None,
    region: str | None = None,
    path_style: bool = False,
    ca_file: str | None = None,
    insecure: bool = False,
) -> str:
    """The ``s3://`` URL ``open_store`` reads back as these settings (the inverse, for the controller)."""
    options = {
        "endpoint": endpoint,
        "region": region,
        "pathStyle": "true" if path_style else None,
        "caFile": ca_file,
        "insecure": "true" if insecure else None,
    }
    query = urlencode({name: value for name, value in options.items() if value})
    path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
    return f"s3://{bucket}{path}" + (f"?{query}" if query else "")
