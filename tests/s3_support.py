"""Shared set-up of the S3 media tests (integration and browser): moto's S3 server on 127.0.0.1 with
the bucket made, and the whole path (sandbox, pipeline, sender, inbox) keeping media there."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import httpx
import orjson
from health_support import register_accounts
from inbox_support import SeededTenant, running_inbox
from moto.server import ThreadedMotoServer
from pipeline import running_pipeline, running_sender, sign, unique_digits, wait_until
from sandbox_server import sandbox
from templates_support import Stack, login
from testenv import APP_SECRET

from meta_sandbox import SandboxConfig
from omni_common.channels import samples
from omni_common.settings import Settings

BUCKET = "omni-media"
PREFIX = "media"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "omni-test-key",
    "AWS_SECRET_ACCESS_KEY": "omni-test-secret",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 server on a free port, with the bucket made; the AWS_* variables point boto3 at
    credentials for it (the services read them from the environment, as in production)."""
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def s3_stack(settings: Settings, tenant: SeededTenant, endpoint: str) -> Iterator[Stack]:
    """The sandbox first (the normalizer downloads media from it), then the pipeline, the sender and
    the inbox, every one on the S3 storage at ``endpoint``."""
    with sandbox(SandboxConfig(app_secret=APP_SECRET, status_delay_s=0.2)) as meta:
        register_accounts(meta, tenant)
        local = settings.model_copy(
            update={
                "graph_api_url": f"{meta}/v21.0",
                "media_storage": f"s3://{BUCKET}/{PREFIX}?endpoint={endpoint}&region=us-east-1",
            }
        )
        with (
            running_pipeline(local) as pipe,
            running_sender(local, pipe.topology),
            running_inbox(local, declare=False) as url,
            httpx.Client(base_url=url, timeout=60) as http,
        ):
            http.headers.update(login(http, tenant))
            yield Stack(local, tenant, pipe, meta, url, http)


def receive_image(stack: Stack, content: bytes) -> dict[str, Any]:
    """A customer's WhatsApp photo, as Meta delivers it; returns its row once its media is stored."""
    tenant = stack.tenant
    account = tenant.account_ids["whatsapp"]
    media_id = f"media-{unique_digits(8)}"
    stack.sandbox(
        "POST",
        "/media",
        json={
            "content_base64": base64.b64encode(content).decode(),
            "mime_type": "image/png",
            "media_id": media_id,
            "account_id": account,
        },
    )
    mid = f"wamid.s3-{unique_digits()}"
    delivery = samples.whatsapp_delivery(
        tenant.wabas["whatsapp"],
        account,
        {
            "contacts": [{"profile": {"name": "Lena"}, "wa_id": "4915100000077"}],
            "messages": [
                {
                    "from": "4915100000077",
                    "id": mid,
                    "timestamp": "1760000000",
                    "type": "image",
                    "image": {"id": media_id, "mime_type": "image/png", "sha256": "x"},
                }
            ],
        },
    )
    body = orjson.dumps(delivery)
    posted = httpx.post(
        f"{stack.pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    assert posted.status_code == 200
    rows = wait_until(
        lambda: stack.query(
            "SELECT * FROM chat_messages WHERE external_message_id = %s AND media->>'state' = 'stored'",
            (mid,),
        ),
        what="stored media",
    )
    return dict(rows[0])
