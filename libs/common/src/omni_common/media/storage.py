"""Where downloaded media lives: a small interface, local disk by default, S3-compatible as an option.

Keys are always ``<tenant id>/<derived name>``: the tenant prefix is added here, from the tenant id
the caller resolved, so one tenant's media can never be addressed through another tenant's key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


@dataclass(frozen=True)
class StoredMedia:
    key: str  # relative to the tenant: what the message row records
    size: int
    sha256: str
    content_type: str | None


class MediaStorage(Protocol):
    """Stores and returns media bytes of one tenant."""

    async def put(
        self, tenant_id: uuid.UUID, name: str, data: bytes, content_type: str | None
    ) -> StoredMedia: ...

    async def get(self, tenant_id: uuid.UUID, key: str) -> bytes: ...


def _check_name(name: str) -> str:
    if not _SAFE_NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"unsafe media name {name!r}")
    return name


class LocalDiskStorage:
    """Files under ``root/<tenant id>/``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)

    def _path(self, tenant_id: uuid.UUID, key: str) -> Path:
        return self._root / str(tenant_id) / _check_name(key)

    async def put(
        self, tenant_id: uuid.UUID, name: str, data: bytes, content_type: str | None
    ) -> StoredMedia:
        path = self._path(tenant_id, name)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(write)
        return StoredMedia(name, len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def get(self, tenant_id: uuid.UUID, key: str) -> bytes:
        return await asyncio.to_thread(self._path(tenant_id, key).read_bytes)


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, Ceph), through boto3 (``pip install boto3``)."""

    def __init__(
        self, bucket: str, *, endpoint_url: str | None = None, prefix: str = "", **client_args: Any
    ) -> None:
        import boto3  # optional dependency: only needed when media goes to object storage

        self._bucket = bucket
        self._prefix = prefix.strip("/")
        self._client = boto3.client("s3", endpoint_url=endpoint_url, **client_args)

    def _key(self, tenant_id: uuid.UUID, key: str) -> str:
        parts = [p for p in (self._prefix, str(tenant_id), _check_name(key)) if p]
        return "/".join(parts)

    async def put(
        self, tenant_id: uuid.UUID, name: str, data: bytes, content_type: str | None
    ) -> StoredMedia:
        extra = {"ContentType": content_type} if content_type else {}
        await asyncio.to_thread(
            self._client.put_object, Bucket=self._bucket, Key=self._key(tenant_id, name), Body=data, **extra
        )
        return StoredMedia(name, len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def get(self, tenant_id: uuid.UUID, key: str) -> bytes:
        response = await asyncio.to_thread(
            self._client.get_object, Bucket=self._bucket, Key=self._key(tenant_id, key)
        )
        return await asyncio.to_thread(response["Body"].read)


def storage_from_url(url: str) -> MediaStorage:
    """A path or ``file://`` URL -> local disk; ``s3://bucket/prefix?endpoint=URL`` -> S3."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        params = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
        return S3Storage(parsed.netloc, endpoint_url=params.get("endpoint"), prefix=parsed.path)
    if parsed.scheme == "file":
        return LocalDiskStorage(parsed.path)
    return LocalDiskStorage(url)
