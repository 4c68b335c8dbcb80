"""Shared set-up of the "Continue with Facebook" tests: the Meta sandbox as the Graph API and login
dialog, and an inbox that proves accounts against it (issue 20)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from inbox_support import CHEAP_HASHER
from sandbox_server import sandbox, serve

from inbox_api.app import create_app
from inbox_api.main import open_deps
from meta_sandbox import SandboxConfig
from omni_common.settings import Settings

APP = "sandbox-app"  # the sandbox's app id: debug_token names it


@contextmanager
def meta_sandbox(settings: Settings) -> Iterator[str]:
    """The sandbox on a free port, signing webhooks with the session's app secret; yields its root."""
    with sandbox(SandboxConfig(app_secret=settings.app_secret_list()[0].decode())) as root:
        yield root


def login_settings(settings: Settings, meta: str, **more: Any) -> Settings:
    """Settings of an inbox whose accounts are proven against the sandbox, with its login dialog."""
    return settings.model_copy(
        update={
            "verify_accounts": True,
            "graph_api_url": f"{meta}/v21.0",
            "meta_app_id": APP,
            "meta_oauth_dialog_url": f"{meta}/v21.0/dialog/oauth",
            **more,
        }
    )


@contextmanager
def inbox_at_its_own_address(checked: Settings) -> Iterator[str]:
    """The inbox served on a free port whose redirect URI is that port (known once it listens), so a
    browser or client can follow the dialog back to it."""
    app = create_app(lambda: open_deps(checked, declare=True, hasher=CHEAP_HASHER))
    with serve(app) as url:
        app.state.deps.facebook.public_url = url
        yield url
