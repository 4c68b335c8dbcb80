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
from typing import Protocol
from urllib.parse import parse_qsl, urlparse

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


@dataclass(frozen=True)
class StoredMedia:
    key: str  # relative to the tenant: what the message row records
    size: int
    sha256: str
    content_type: str | None


class MediaStorage(Protocol):
    """Stores and returns media bytes of one tenant."""

    # The origin browsers load media from when it is not the inbox (signed links), for its CSP.
    browser_origin: str | None

    async def put(
        self, tenant_id: uuid.UUID, name: str, data: bytes, content_type: str | None
    ) -> StoredMedia: ...

    async def get(self, tenant_id: uuid.UUID, key: str) -> bytes: ...

    async def browser_url(
        self, tenant_id: uuid.UUID, key: str, *, content_type: str, disposition: str
    ) -> str | None:
        """A short-lived link serving the object straight from storage, or None: the inbox serves
        the bytes itself. Called only after the inbox found the message in the user's tenant."""
        ...

    async def delete(self, tenant_id: uuid.UUID, key: str) -> None: ...


def check_name(name: str) -> str:
    """A stored name is one plain path segment: no separators, no ``..``, nothing to escape."""
    if not _SAFE_NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"unsafe media name {name!r}")
    return name


class LocalDiskStorage:
    """Files under ``root/<tenant id>/``; writes are atomic (temp file + rename)."""

    browser_origin: str | None = None  # the inbox serves local files itself

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)

    def _path(self, tenant_id: uuid.UUID, key: str) -> Path:
        return self._root / str(tenant_id) / check_name(key)

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

    async def browser_url(
        self, tenant_id: uuid.UUID, key: str, *, content_type: str, disposition: str
    ) -> str | None:
        return None

    async def delete(self, tenant_id: uuid.UUID, key: str) -> None:
        await asyncio.to_thread(self._path(tenant_id, key).unlink, missing_ok=True)


def storage_from_url(url: str) -> MediaStorage:
    """A path or ``file://`` URL -> local disk; ``s3://bucket[/prefix][?options]`` -> S3.

    S3 options (query): ``endpoint`` (a non-AWS server such as MinIO), ``public_endpoint`` (where
    browsers reach it, if not the same), ``region``, ``url_seconds`` (signed links' lifetime).
    Without ``endpoint`` boto3's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` still apply.
    Credentials are refused in the URL: they come from boto3's chain (AWS_* variables, web
    identity, instance profile), so the URL can sit in a ConfigMap and in logs.
    """
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        from omni_common.media.s3 import DEFAULT_URL_SECONDS, S3Storage

        if parsed.username or parsed.password:
            raise ValueError("no credentials in an s3:// media URL: use the AWS_* variables")
        params = dict(parse_qsl(parsed.query))
        unknown = set(params) - {"endpoint", "public_endpoint", "region", "url_seconds"}
        if unknown:
            raise ValueError(f"unknown s3:// media options: {sorted(unknown)}")
        return S3Storage(
            parsed.hostname or "",
            prefix=parsed.path,
            endpoint_url=params.get("endpoint"),
            public_endpoint=params.get("public_endpoint"),
            region=params.get("region"),
            url_seconds=int(params.get("url_seconds", DEFAULT_URL_SECONDS)),
        )
    if parsed.scheme == "file":
        return LocalDiskStorage(parsed.path)
    return LocalDiskStorage(url)
