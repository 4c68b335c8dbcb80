"""Shared set-up of the channel-health and team tests that go through the Meta sandbox.

A sandbox that knows seeded tenants' accounts (``inbox_support.seed`` tokens), the real
outbound-sender replying through it, and one pass of the real account-monitor against it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from inbox_support import SeededTenant
from pipeline import running_sender
from sandbox_server import sandbox
from testenv import APP_SECRET

from meta_sandbox import SandboxConfig
from omni_common.broker.topology import Topology
from omni_common.settings import Settings


def register_accounts(root: str, seeded: SeededTenant) -> None:
    """Tell the sandbox about the tenant's accounts, with the tokens ``seed`` stored for them."""
    for channel, ext in seeded.account_ids.items():
        body: dict[str, Any] = {
            "channel": channel,
            "account_id": ext,
            "token": f"token-{ext}",
            "display_name": f"{seeded.slug} {channel}",
        }
        if channel == "whatsapp":
            body["waba_id"] = seeded.wabas["whatsapp"]
        httpx.post(f"{root}/_sandbox/accounts", json=body).raise_for_status()


@contextmanager
def sandbox_with_sender(
    settings: Settings, topology: Topology, *tenants: SeededTenant, ingress_url: str | None = None
) -> Iterator[str]:
    """The sandbox knowing ``tenants``' accounts and a sender replying through it; yields its root URL.

    With ``ingress_url`` the sandbox sends its status webhooks (sent, delivered, asynchronous
    failures) there, as Meta would; without it the sender's own answer is all there is.
    """
    config = SandboxConfig(ingress_url=ingress_url, app_secret=APP_SECRET, status_delay_s=0.2)
    with sandbox(config) as root:
        for seeded in tenants:
            register_accounts(root, seeded)
        graph = settings.model_copy(update={"graph_api_url": f"{root}/v21.0"})
        with running_sender(graph, topology):
            yield root


def graph_requests(root: str, path_contains: str = "") -> list[dict[str, Any]]:
    """Every Graph request the sandbox recorded (oldest first)."""
    response = httpx.get(f"{root}/_sandbox/requests", params={"path_contains": path_contains})
    response.raise_for_status()
    return response.json()


def monitor_pass(settings: Settings, meta: str, tenant_id: uuid.UUID) -> Counter[str]:
    """One run of the account-monitor service (lock, pass, stop), authenticating as the sandbox's app."""
    from account_monitor.main import run_monitor

    checked = settings.model_copy(
        update={
            "graph_api_url": f"{meta}/v21.0",
            "meta_app_id": "sandbox-app",
            "account_monitor_interval_s": 3600,
            "account_monitor_warn_days": 7,
        }
    )

    async def go() -> Counter[str]:
        stop = asyncio.Event()
        passes: asyncio.Queue[Counter[str]] = asyncio.Queue()
        task = asyncio.create_task(run_monitor(checked, stop=stop, passes=passes, only_tenants=[tenant_id]))
        outcome = await asyncio.wait_for(passes.get(), 30)
        stop.set()
        await task
        return outcome

    # In a thread of its own: Playwright's sync API keeps an event loop running in the test's thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()
