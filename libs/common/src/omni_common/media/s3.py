"""Media in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW) through boto3, AWS's own kept client.

boto3 is synchronous; each call runs in a worker thread (``asyncio.to_thread``) on one shared
client (boto3 clients are thread-safe). aioboto3/aiobotocore were not chosen: they pin exact
botocore versions and trail it, and media calls are few (one per file) and bounded by the pool.

Credentials never appear in the storage URL or the logs: boto3 reads them from its standard chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a web identity token on Kubernetes, an instance
profile). Keys are ``[<prefix>/]<tenant id>/<name>``: the tenant part comes from the caller's
resolved tenant, never from a stored key, so no key can reach another tenant's objects.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from omni_common.media.storage import StoredMedia, check_name

# Browser links to a file live this long; each time the page loads the file it asks the inbox, which
# checks the user again and signs a new one.
DEFAULT_URL_SECONDS = 300
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    """A bucket (optionally a prefix inside it) holding every tenant's media under its own prefix.

    ``endpoint_url``: a non-AWS server (MinIO), addressed path-style (``endpoint/bucket/key``, no
    per-bucket DNS); without it ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` apply, then AWS itself.
    ``public_endpoint``: where browsers reach that server, when it differs from the services'
    address (compose: ``http://minio:9000`` inside, ``http://127.0.0.1:9000`` outside); signed
    links are signed for that host. ``url_seconds``: how long a signed link works.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        public_endpoint: str | None = None,
        region: str | None = None,
        url_seconds: int = DEFAULT_URL_SECONDS,
    ) -> None:
        if not bucket:
            raise ValueError("s3:// media storage needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url_seconds = url_seconds
        # A non-AWS server (URL option, or boto3's own variables) is addressed path-style; AWS by
        # bucket host name (path style is deprecated there), unless a dotted name breaks its TLS.
        endpoint_url = (
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        path_style = bool(endpoint_url) or "." in bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "virtual"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
        )
        session = boto3.session.Session(region_name=region)
        self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        # Presigning is local computation (no request): a second client only fixes the signed host.
        self._signer: Any = (
            session.client("s3", endpoint_url=public_endpoint, config=config)
            if public_endpoint
            else self._client
        )
        # The origin browsers load media from (the inbox's CSP allows it for img/media only).
        signed = urlsplit(str(self._signer.meta.endpoint_url))
        host = signed.netloc if path_style else f"{bucket}.{signed.netloc}"
        self.browser_origin: str | None = f"{signed.scheme}://{host}"

    def __repr__(self) -> str:  # what start-up logs may show: no credentials
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, origin={self.browser_origin!r})"

    def object_key(self, tenant_id: uuid.UUID, name: str) -> str:
        """The object's key in the bucket: the configured prefix, then the tenant, then the name."""
        parts = [p for p in (self.prefix, str(tenant_id), check_name(name)) if p]
        return "/".join(parts)

    async def put(
        self, tenant_id: uuid.UUID, name: str, data: bytes, content_type: str | None
    ) -> StoredMedia:
        extra = {"ContentType": content_type} if content_type else {}
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self.object_key(tenant_id, name),
            Body=data,
            **extra,
        )
        return StoredMedia(name, len(data), hashlib.sha256(data).hexdigest(), content_type)

    async def get(self, tenant_id: uuid.UUID, key: str) -> bytes:
        """The object's bytes; ``FileNotFoundError`` when there is none (as on local disk)."""
        object_key = self.object_key(tenant_id, key)

        def read() -> bytes:
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                raise _missing(exc, key) from exc
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        return await asyncio.to_thread(read)

    async def browser_url(
        self, tenant_id: uuid.UUID, key: str, *, content_type: str, disposition: str
    ) -> str:
        """A link that serves this tenant's object for ``url_seconds``, with the headers the inbox
        would have sent; ``FileNotFoundError`` when the object is gone (no link to a 404)."""
        object_key = self.object_key(tenant_id, key)

        def sign() -> str:
            try:
                self._client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as exc:
                raise _missing(exc, key) from exc
            params = {
                "Bucket": self.bucket,
                "Key": object_key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": disposition,
                "ResponseCacheControl": f"private, max-age={self.url_seconds}",
            }
            return str(
                self._signer.generate_presigned_url("get_object", Params=params, ExpiresIn=self.url_seconds)
            )

        return await asyncio.to_thread(sign)

    async def delete(self, tenant_id: uuid.UUID, key: str) -> None:
        await asyncio.to_thread(
            self._client.delete_object, Bucket=self.bucket, Key=self.object_key(tenant_id, key)
        )


def _missing(exc: ClientError, key: str) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return FileNotFoundError(key) if code in _MISSING else exc
