"""The blob store on an S3-compatible server (AWS S3, MinIO, Ceph RGW, Garage, …), by URL:

    s3://ACCESS:SECRET@host:port/bucket[/prefix]?region=us-east-1&secure=0

`secure=0` speaks plain HTTP (a server on the same private network); the default is HTTPS.
Without `ACCESS:SECRET` boto3 looks for credentials itself (environment, instance role). A
secret with `/`, `+` or `@` in it is percent-encoded in the URL. `prefix` puts every key under a
folder of a bucket shared with something else. The bucket must exist: creating it (and its
policy, lifecycle, encryption) is the operator's decision, not the server's.

Why boto3 in a worker thread (`asyncio.to_thread`) rather than aiobotocore: boto3 is AWS's own,
released weekly and the reference every S3-compatible server tests against; aiobotocore pins
one exact botocore release, which then fights every other package wanting boto3. A blob is at
most a few megabytes and requests are few (a snapshot a minute per taker), so a thread per
request in flight costs nothing that matters. boto3 clients are thread-safe; one client per
store, made on first use (so start-up does no network or disk work), serves every thread.

Path-style addressing (`host/bucket/key`) because S3-compatible servers reached by IP or a
plain host name have no per-bucket DNS; checksums only when the server requires them, because
boto3's newer default (CRC on every upload) is refused by several S3-compatible servers.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from persistence.blobs import BlobStoreError, validate_folder, validate_key

DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    endpoint_url: str
    bucket: str
    prefix: str  # "" or "folder/…/" that every key is put under
    region: str
    access_key: str | None
    secret_key: str | None

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise ValueError("blob_store_url: s3://ACCESS:SECRET@host:port/bucket?region=…&secure=0")
        bucket, _, prefix = parts.path.lstrip("/").partition("/")
        if not bucket:
            raise ValueError("blob_store_url names no bucket (s3://host/BUCKET)")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"region", "secure"}
        if unknown:
            raise ValueError(f"blob_store_url: unknown parameters {', '.join(sorted(unknown))}")
        if query.get("secure", "1") not in ("0", "1"):
            raise ValueError("blob_store_url: secure is 0 or 1")
        scheme = "http" if query.get("secure") == "0" else "https"
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = f"{host}:{parts.port}" if parts.port else host
        prefix = prefix.strip("/")
        return cls(
            endpoint_url=f"{scheme}://{netloc}", bucket=bucket, prefix=f"{validate_key(prefix)}/" if prefix else "",
            region=query.get("region", "us-east-1"),
            access_key=unquote(parts.username) if parts.username else None,
            secret_key=unquote(parts.password) if parts.password else None,
        )


class S3BlobStore:
    """Blobs as objects of one bucket; every call runs boto3 in a worker thread."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._client: Any = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        return cls(S3Location.parse(url))

    def __repr__(self) -> str:  # never the secret
        return f"S3BlobStore({self.location.endpoint_url}/{self.location.bucket}/{self.location.prefix})"

    def _s3(self) -> Any:
        with self._client_lock:
            if self._client is None:
                where = self.location
                self._client = boto3.session.Session().client(
                    "s3", endpoint_url=where.endpoint_url, region_name=where.region,
                    aws_access_key_id=where.access_key, aws_secret_access_key=where.secret_key,
                    config=Config(
                        s3={"addressing_style": "path"}, signature_version="s3v4",
                        connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
                        request_checksum_calculation="when_required", response_checksum_validation="when_required",
                    ),
                )
            return self._client

    async def _call(self, what: str, operation: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(operation, *args)
        except (BotoCoreError, ClientError) as error:
            raise BlobStoreError(f"S3 {what} failed: {error}") from error

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        name = self.location.prefix + validate_key(key)
        await self._call(f"put {key}", self._put, name, data, content_type)

    def _put(self, name: str, data: bytes, content_type: str) -> None:
        self._s3().put_object(Bucket=self.location.bucket, Key=name, Body=data, ContentType=content_type)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        name = self.location.prefix + validate_key(key)
        result: tuple[bytes, str] | None = await self._call(f"get {key}", self._get, name)
        return result

    def _get(self, name: str) -> tuple[bytes, str] | None:
        try:
            found = self._s3().get_object(Bucket=self.location.bucket, Key=name)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise
        with found["Body"] as body:
            return body.read(), found.get("ContentType") or "application/octet-stream"

    async def delete(self, key: str) -> None:
        name = self.location.prefix + validate_key(key)
        await self._call(f"delete {key}", self._delete, name)

    def _delete(self, name: str) -> None:
        self._s3().delete_object(Bucket=self.location.bucket, Key=name)  # a missing key is no error in S3

    async def delete_prefix(self, folder: str) -> int:
        prefix = self.location.prefix + validate_folder(folder)
        count: int = await self._call(f"delete {folder}", self._delete_prefix, prefix)
        return count

    def _delete_prefix(self, prefix: str) -> int:
        s3, bucket, count = self._s3(), self.location.bucket, 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            names = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(names), DELETE_BATCH):
                batch = names[start:start + DELETE_BATCH]
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                if answer.get("Errors"):  # DeleteObjects answers 200 and lists what it could not delete
                    first = answer["Errors"][0]
                    raise BlobStoreError(f"S3 kept {len(answer['Errors'])} objects under {prefix}: "
                                         f"{first.get('Code')} {first.get('Key')}")
                count += len(batch)
        return count
