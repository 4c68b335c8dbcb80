"""Shared set-up of the templates, files and human-agent tests: the whole path over real sockets.

A seeded tenant; the inbound pipeline (ingress, router, normalizer) on real RabbitMQ and PostgreSQL;
the Meta sandbox (with the sample templates on the tenant's WABA) sending status webhooks to that
ingress; the real outbound-sender sending through the sandbox; the inbox app with its template
syncer pointed at the sandbox; media kept in a directory of the test's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from health_support import sandbox_with_sender
from inbox_support import PASSWORD, SeededTenant, running_inbox
from pipeline import Pipeline, running_pipeline, wait_until

from omni_common.settings import Settings


@dataclass
class Stack:
    settings: Settings
    tenant: SeededTenant
    pipe: Pipeline
    meta: str  # the sandbox's root URL
    inbox: str  # the inbox's base URL
    http: httpx.Client  # the manager's API client (bearer token)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return self.pipe.query(self.tenant.db_name, sql, params)

    def sandbox(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.meta}/_sandbox{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def graph_requests(self, path_contains: str) -> list[dict[str, Any]]:
        return list(self.sandbox("GET", "/requests", params={"path_contains": path_contains}))

    def sent(self) -> dict[str, dict[str, Any]]:
        return dict(self.sandbox("GET", "/sent"))

    def message(self, message_id: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM chat_messages WHERE id = %s", (message_id,))
        assert rows, message_id
        return rows[0]

    def settled(self, message_id: str, *statuses: str, timeout: float = 20.0) -> dict[str, Any]:
        wanted = statuses or ("sent", "delivered", "read", "failed")
        return wait_until(
            lambda: (m := self.message(message_id))["status"] in wanted and m,
            timeout=timeout,
            what=f"message {message_id} to be {'/'.join(wanted)}",
        )

    def stale(self, channel: str, *, hours: float) -> None:
        """The customer of the seeded ``channel`` conversation last wrote ``hours`` ago (here and at Meta)."""
        self.query(
            "UPDATE chats SET last_inbound_at = now() - make_interval(secs => %s) WHERE id = %s RETURNING id",
            (hours * 3600, self.tenant.chats[channel]),
        )
        self.sandbox(
            "POST",
            "/window",
            json={
                "account_id": self.tenant.account_ids[channel],
                "user_id": self.tenant.contacts[channel],
                "last_inbound_at": time.time() - hours * 3600,
            },
        )


def login(http: httpx.Client, tenant: SeededTenant, role: str = "manager") -> dict[str, str]:
    body = {"tenant": tenant.slug, "email": tenant.users[role], "password": PASSWORD}
    response = http.post("/api/auth/login", json=body)
    http.cookies.clear()
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def full_stack(
    settings: Settings, tenant: SeededTenant, media_dir: Path, **sandbox_config: Any
) -> Iterator[Stack]:
    """Everything running for ``tenant`` (see the module docstring); ``sandbox_config`` goes to
    ``POST /_sandbox/config`` (``window_hours``, ``human_agent_permission``...)."""
    local = settings.model_copy(update={"media_storage": str(media_dir)})
    with (
        running_pipeline(local) as pipe,
        sandbox_with_sender(local, pipe.topology, tenant, ingress_url=pipe.ingress_url) as meta,
    ):
        httpx.post(
            f"{meta}/_sandbox/templates/samples", json={"waba_id": tenant.wabas["whatsapp"]}
        ).raise_for_status()
        if sandbox_config:
            httpx.post(f"{meta}/_sandbox/config", json=sandbox_config).raise_for_status()
        graph = local.model_copy(update={"graph_api_url": f"{meta}/v21.0"})
        with running_inbox(graph, declare=False) as url, httpx.Client(base_url=url, timeout=60) as http:
            http.headers.update(login(http, tenant))
            yield Stack(local, tenant, pipe, meta, url, http)
