"""Meta sandbox: a local fake of the Graph API send/read routes and of Meta's webhooks."""

from meta_sandbox.app import create_app
from meta_sandbox.state import SandboxConfig

__all__ = ["SandboxConfig", "create_app"]
