"""The attachment store in S3-compatible object storage (`attachments.store: s3`): one object
per file, keyed `<prefix><sha256>`, in a bucket the operator creates (the hub never creates or
configures buckets). boto3 speaks the protocol: AWS S3, MinIO, Ceph RGW, the clouds' OSS/COS/OBS
in their S3 mode. Installed with the optional extra `s3` (`pip install 'hotline-hub[s3]'`).

An upload is read once into a spooled temporary file (memory up to a megabyte, then disk) while
its SHA-256, size limit and type are worked out, then sent with one PUT carrying its SHA-256
checksum, which the store checks: the object is there whole, or not at all, when `put` returns,
before the row that names it commits (no leftover half files, unlike a directory's tmp/).

When the store cannot be reached, its bucket is missing or it refuses the hub's credentials,
every call raises StoreUnavailable (a 503 with Retry-After for the API): the caller did
nothing wrong. A missing object is FileNotFoundError, as for a directory.
"""

from __future__ import annotations

import base64
import logging
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hub.attachment_store import LimitFor, Stored, StoreUnavailable, copy_within, sniff

if TYPE_CHECKING:
    from hub.settings import S3StoreSettings

log = logging.getLogger("hub.attachments")

SPOOL_BYTES = 1024 * 1024
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    def __init__(self, config: S3StoreSettings) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        secret = config.secret_access_key.get_secret_value() if config.secret_access_key else None
        key_id = config.access_key_id.get_secret_value() if config.access_key_id else None
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                retries={"mode": "standard", "total_max_attempts": config.attempts},
                s3={"addressing_style": config.addressing_style},
                # A checksum on every PUT, none asked of GET answers by default (some stores lack it).
                request_checksum_calculation="when_supported",
                response_checksum_validation="when_required",
            ),
        )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def leaves_leftovers(self) -> bool:
        return False  # one PUT: the object is whole or absent

    def key_of(self, sha256: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.prefix + sha256

    # -- the protocol ------------------------------------------------------------------------
    def put(self, source: BinaryIO, limit: int | LimitFor, allowed: frozenset[str]) -> Stored:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            sha, size, head = copy_within(source, cast(BinaryIO, spool), limit)
            media_type = sniff(head)
            key = self.key_of(sha)
            where = f"s3://{self.bucket}/{key}"
            if media_type is None or media_type not in allowed:
                return Stored(sha, size, media_type, where, kept=False)
            if self.exists(sha):
                return Stored(sha, size, media_type, where)  # the same content is there already
            spool.seek(0)
            checksum = base64.b64encode(bytes.fromhex(sha)).decode()
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=spool, ContentLength=size, ContentType=media_type, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum
                )
            except (BotoCoreError, ClientError) as exc:
                self._unavailable("put", exc)
            return Stored(sha, size, media_type, where)

    def open(self, sha256: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key_of(sha256))
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                raise FileNotFoundError(f"{self.location}{sha256}") from None
            self._unavailable("get", exc)
        except BotoCoreError as exc:
            self._unavailable("get", exc)
        return cast(BinaryIO, answer["Body"])

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_of(sha256))
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                # HEAD answers carry no body: a missing bucket is a 404 too; ask which it is.
                self._bucket_is_there()
                return False
            self._unavailable("head", exc)
        except BotoCoreError as exc:
            self._unavailable("head", exc)
        return True

    def delete(self, sha256: str) -> bool:
        if not self.exists(sha256):
            return False
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key_of(sha256))
        except (BotoCoreError, ClientError) as exc:
            self._unavailable("delete", exc)
        return True

    def files(self) -> Iterator[tuple[str, datetime]]:
        """(sha256, last modified) of every object under the prefix; objects of other names
        (another application's, in a shared bucket) are not the hub's and are left out."""
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    name = item["Key"][len(self.prefix) :]
                    if re.fullmatch(r"[0-9a-f]{64}", name):
                        yield name, item["LastModified"].astimezone(UTC)
        except (BotoCoreError, ClientError) as exc:
            self._unavailable("list", exc)

    def delete_leftover(self, name: str) -> None:
        if not name.startswith("tmp/"):  # a bucket has no upload leftovers: a PUT is whole or absent
            self.delete(name)

    # -- failures ----------------------------------------------------------------------------
    def _bucket_is_there(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            if isinstance(exc, ClientError) and _code(exc) in _MISSING_CODES:
                self._unavailable("head bucket", exc, reason=f"bucket {self.bucket} does not exist")
            self._unavailable("head bucket", exc)

    def _unavailable(self, operation: str, exc: BotoCoreError | ClientError, reason: str | None = None) -> NoReturn:
        # Every refusal of the store is the hub's setup or the store's state (a missing bucket,
        # refused credentials, a wrong region, the store down), never the caller's request.
        if isinstance(exc, ClientError) and reason is None:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            reason = f"{_code(exc)} (HTTP {status})"
        said = reason or type(exc).__name__
        log.warning("attachment store %s: %s failed: %s", self.location, operation, said)
        raise StoreUnavailable(f"{operation} at {self.location}: {said}", self.config.retry_after_seconds) from exc


def _code(exc: ClientError) -> str:
    error: dict[str, Any] = exc.response.get("Error", {})
    return str(error.get("Code", ""))
