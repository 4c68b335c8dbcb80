"""Fixtures for tests that talk to the Meta sandbox over a real socket (a pytest plugin, see conftest).

A module gets the sandbox, its control API and a Graph client by naming ``root_url``, ``ctl`` or
``graph``; it says how its sandbox is configured by overriding ``sandbox_config`` (module scope),
and gets signed webhooks delivered to ``receiver`` when its config points the sandbox there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sandbox_server import SandboxControl, WebhookReceiver, sandbox, serve

from meta_sandbox import SandboxConfig
from omni_common.graph import GraphClient


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    """A small server recording the webhooks the sandbox sends, and its URL."""
    recorder = WebhookReceiver()
    with serve(recorder.app()) as url:
        yield recorder, url


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    """The sandbox's configuration (override it in a module that needs another)."""
    return SandboxConfig()


@pytest.fixture(scope="module")
def root_url(sandbox_config: SandboxConfig) -> Iterator[str]:
    with sandbox(sandbox_config) as url:
        yield url


@pytest.fixture
def http_timeout() -> httpx.Timeout:
    return httpx.Timeout(5.0)


@pytest.fixture
async def http(http_timeout: httpx.Timeout) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        yield client


@pytest.fixture
def ctl(http: httpx.AsyncClient, root_url: str) -> SandboxControl:
    return SandboxControl(http, root_url)


@pytest.fixture
def graph(http: httpx.AsyncClient, ctl: SandboxControl) -> GraphClient:
    return GraphClient(http, ctl.graph_url)
