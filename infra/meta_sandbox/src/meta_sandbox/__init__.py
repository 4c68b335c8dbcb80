"""Meta sandbox: a local fake of Meta's Graph API (sends, media, templates, Facebook Login, subscriptions)
and of Meta's webhooks. Routes: ``app.py``; everything else: ``infra/meta_sandbox/README.md``."""

from meta_sandbox.app import create_app
from meta_sandbox.state import SandboxConfig

__all__ = ["SandboxConfig", "create_app"]
