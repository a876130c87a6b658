"""A store in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, GCS's S3 interoperability), through boto3.

Credentials come from boto3's own chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, web
identity as with IRSA, profiles, instance metadata): kubeline never passes, stores nor prints them.
Requests are retried three times in botocore's standard mode, which does not retry an authorization
failure (403), so wrong credentials fail at once. Files go through boto3's managed transfer (multipart
above 16 MiB, eight parts at once).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.exceptions import Boto3Error, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from kubeline.store.base import MissingObject, ObjectStore, StoredObject, StoreError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

_T = TypeVar("_T")
MULTIPART_BYTES = 16 << 20
TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=8, use_threads=True
)
#: Keys deleted by one request: S3's DeleteObjects takes at most 1,000.
_DELETE_BATCH = 1000
_MISSING = ("404", "NoSuchKey", "NotFound")
_DENIED = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken")


class S3Store(ObjectStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        ca_file: str | None = None,
        verify: bool = True,
        client: S3Client | None = None,
    ):
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.endpoint = endpoint
        self.url = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.client = client or _client(endpoint, region, path_style, ca_file, verify)

    def put_file(self, key: str, path: Path) -> None:
        self._call(
            f"upload {path} to",
            key,
            lambda: self.client.upload_file(str(path), self.bucket, self._full(key), Config=TRANSFER),
        )

    def get_file(self, key: str, path: Path) -> None:
        fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        os.close(fd)
        try:
            self._call(
                "download", key, lambda: self.client.download_file(self.bucket, self._full(key), temp, Config=TRANSFER)
            )
            os.chmod(temp, 0o644)  # mkstemp's 0600 is not what a downloaded input should have
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        self._call("upload", key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data))

    def get_bytes(self, key: str) -> bytes:
        return self._call(
            "download", key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
        )

    def exists(self, key: str) -> bool:
        try:
            self._call("look up", key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._full(key)))
        except MissingObject:
            return False
        return True

    def list(self, prefix: str) -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._full(prefix))
        iterator = iter(pages)
        skip = len(self._full(""))
        while page := self._call("list", prefix, lambda: next(iterator, None)):
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"][skip:], item["Size"], item["LastModified"].timestamp())

    def delete(self, keys: Iterable[str]) -> None:
        batch = list(keys)
        for start in range(0, len(batch), _DELETE_BATCH):
            objects: list[ObjectIdentifierTypeDef] = [
                {"Key": self._full(key)} for key in batch[start : start + _DELETE_BATCH]
            ]
            request = partial(
                self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
            answer = self._call("delete", batch[start], request)
            for error in answer.get("Errors", []):
                key = error.get("Key", "")[len(self._full("")) :]
                raise StoreError(
                    f"cannot delete {self.where(key)}{self._at()}: {error.get('Code')}: {error.get('Message')}"
                )

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _at(self) -> str:
        return f" at {self.endpoint}" if self.endpoint else ""

    def _call(self, action: str, key: str, operation: Callable[[], _T]) -> _T:
        """``operation``'s result; any failure becomes a StoreError naming the store, bucket, key and the fix."""
        try:
            return operation()
        except ClientError as error:
            raise self._client_error(action, key, error) from None
        except S3UploadFailedError as error:  # boto3 wraps an upload's ClientError in this
            cause = error.__context__
            if isinstance(cause, ClientError):
                raise self._client_error(action, key, cause) from None
            raise StoreError(f"cannot {action} {self.where(key)}{self._at()}: {error}") from None
        except NoCredentialsError:
            raise StoreError(
                f"cannot {action} {self.where(key)}{self._at()}: no credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or an AWS profile, or the pod's cloud identity)"
            ) from None
        except (BotoCoreError, Boto3Error) as error:
            raise StoreError(
                f"cannot {action} {self.where(key)}{self._at()}: {error}; check that the endpoint is reachable"
            ) from None

    def _client_error(self, action: str, key: str, error: ClientError) -> StoreError:
        details: Any = error.response.get("Error", {})
        code = str(details.get("Code", "")) or str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = details.get("Message") or error.operation_name
        where = f"{action} {self.where(key)}{self._at()}"
        if code in _MISSING:
            return MissingObject(f"cannot {where}: no such object")
        if code in _DENIED:
            return StoreError(
                f"cannot {where}: {code}: {message}; check the store's credentials (AWS_ACCESS_KEY_ID and "
                f"AWS_SECRET_ACCESS_KEY, or the pod's identity) and that they may use bucket {self.bucket}"
            )
        if code == "NoSuchBucket":
            return StoreError(f"cannot {where}: bucket {self.bucket} does not exist; create it or fix the store's URL")
        return StoreError(f"cannot {where}: {code}: {message}")


def _client(endpoint: str | None, region: str | None, path_style: bool, ca_file: str | None, verify: bool) -> S3Client:
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path" if path_style else "auto"},
    )
    session = boto3.session.Session()
    return session.client(
        "s3", endpoint_url=endpoint, region_name=region, config=config, verify=ca_file if ca_file else verify
    )
