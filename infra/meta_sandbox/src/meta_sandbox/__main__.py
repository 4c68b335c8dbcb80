"""``python -m meta_sandbox --port 8090 --ingress-url http://127.0.0.1:8080 --app-secret S``."""

from __future__ import annotations

import argparse
import os

import uvicorn

from meta_sandbox.app import create_app
from meta_sandbox.state import SandboxConfig


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox until interrupted."""
    parser = argparse.ArgumentParser(prog="meta_sandbox", description="Fake Meta Graph API for local use")
    parser.add_argument("--host", default="127.0.0.1", help="control endpoints are open: keep it local")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--ingress-url", default=os.environ.get("META_SANDBOX_INGRESS_URL"))
    # An env var keeps the secret out of `ps` output; the flag exists for quick demos.
    parser.add_argument("--app-secret", default=os.environ.get("META_SANDBOX_APP_SECRET"))
    parser.add_argument("--public-url", default=None, help="base of media URLs if behind a proxy")
    parser.add_argument("--status-delay", type=float, default=0.05, help="seconds between status webhooks")
    args = parser.parse_args(argv)
    config = SandboxConfig(
        ingress_url=args.ingress_url,
        app_secret=args.app_secret,
        public_url=args.public_url,
        status_delay_s=args.status_delay,
    )
    # uvicorn's access log prints query strings, and Messenger-style calls carry access_token there;
    # the sandbox logs each Graph request itself, path only.
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
