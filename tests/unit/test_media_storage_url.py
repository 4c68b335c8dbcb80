"""OMNI_MEDIA_STORAGE read into a storage: local disk by default, S3 with its options; tenant-prefixed
keys; no credentials in the URL; the inbox's CSP names the storage's origin for media only."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox_api.app import CSP, content_security_policy
from omni_common.media.s3 import DEFAULT_URL_SECONDS, S3Storage
from omni_common.media.storage import LocalDiskStorage, storage_from_url

TENANT = uuid.UUID("6f1c1c9e-8d0e-4b39-9a4f-2f7f1b0c1a11")


@pytest.mark.parametrize("url", ["var/media", "/srv/media", "file:///srv/media"])
def test_a_path_is_local_disk_served_by_the_inbox(url: str) -> None:
    storage = storage_from_url(url)
    assert isinstance(storage, LocalDiskStorage)
    assert storage.browser_origin is None


def test_an_s3_url_with_minio_and_a_public_address() -> None:
    storage = storage_from_url(
        "s3://omni-media/media/?endpoint=http://minio:9000&public_endpoint=https://media.example.com"
        "&region=eu-west-1&url_seconds=60"
    )
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix, storage.url_seconds) == ("omni-media", "media", 60)
    assert storage.browser_origin == "https://media.example.com"  # where browsers go, not minio:9000
    assert storage.object_key(TENANT, "m1.jpg") == f"media/{TENANT}/m1.jpg"
    assert "secret" not in repr(storage).lower()


def test_aws_s3_without_an_endpoint_signs_for_the_bucket_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    storage = storage_from_url("s3://omni-media?region=eu-west-1")
    assert isinstance(storage, S3Storage)
    assert storage.url_seconds == DEFAULT_URL_SECONDS
    assert storage.object_key(TENANT, "m1.jpg") == f"{TENANT}/m1.jpg"
    assert storage.browser_origin is not None
    assert storage.browser_origin.startswith("https://")
    assert "amazonaws.com" in storage.browser_origin


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("s3://key:secret@omni-media/media", "no credentials"),
        ("s3://omni-media/media?endpoint=http://minio:9000&access_key=x", "unknown s3:// media options"),
        ("s3:///media", "bucket"),
    ],
)
def test_refused_urls(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        storage_from_url(url)


_STORAGE = S3Storage("b", prefix="p", endpoint_url="http://127.0.0.1:9", region="us-east-1")


@given(st.text(min_size=1, max_size=40))
def test_a_key_never_leaves_its_tenant(name: str) -> None:
    try:
        key = _STORAGE.object_key(TENANT, name)
    except ValueError:
        return
    assert key == f"p/{TENANT}/{name}"
    assert "/" not in name
    assert name not in {".", ".."}


def test_the_csp_allows_the_storage_for_images_and_media_only() -> None:
    assert content_security_policy() == CSP
    policy = content_security_policy("https://media.example.com")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    assert "https://media.example.com" in directives["img-src"]
    assert "https://media.example.com" in directives["media-src"]
    others = [v for k, vs in directives.items() if k not in ("img-src", "media-src") for v in vs]
    assert "https://media.example.com" not in others


def test_boto3_stays_quiet_even_at_debug() -> None:
    """At DEBUG botocore would log each request's signature and the presigned links."""
    import logging

    from omni_common.logging import configure_logging

    configure_logging(service="test", json=True, level="DEBUG")
    try:
        for name in ("boto3", "botocore", "botocore.auth", "urllib3"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
    finally:
        configure_logging(service="test", json=True, level="INFO")
