"""``python -m meta_sandbox --port 8090 --ingress-url http://127.0.0.1:8080 --app-secret S``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import uvicorn

from meta_sandbox.app import create_app
from meta_sandbox.control import AccountIn, ContactIn
from meta_sandbox.control_meta import LoginConfigIn
from meta_sandbox.grants import LoginConfig
from meta_sandbox.state import Account, Contact, SandboxConfig, SandboxState
from meta_sandbox.template_samples import sample_templates
from meta_sandbox.templates import TemplateIn, add_template
from meta_sandbox.world import PersonIn, add_person


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox until interrupted."""
    parser = argparse.ArgumentParser(prog="meta_sandbox", description="Fake Meta Graph API for local use")
    parser.add_argument("--host", default="127.0.0.1", help="control endpoints are open: keep it local")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--ingress-url", default=os.environ.get("META_SANDBOX_INGRESS_URL"))
    # An env var keeps the secret out of `ps` output; the flag exists for quick demos.
    parser.add_argument("--app-secret", default=os.environ.get("META_SANDBOX_APP_SECRET"))
    parser.add_argument("--public-url", default=None, help="base of media URLs if behind a proxy")
    parser.add_argument(
        "--app-id",
        default=os.environ.get("META_SANDBOX_APP_ID", "sandbox-app"),
        help="the app's id: OAuth client_id, debug_token app_id, app tokens '{app_id}|{secret}'",
    )
    parser.add_argument("--status-delay", type=float, default=0.05, help="seconds between status webhooks")
    parser.add_argument(
        "--seed",
        default=os.environ.get("META_SANDBOX_SEED"),
        help='JSON file {"accounts": [...], "contacts": [...]} to register at start (as /_sandbox/accounts); '
        'optional keys: "templates", "sample_templates" (WABA ids), "people", "login_configs"',
    )
    args = parser.parse_args(argv)
    config = SandboxConfig(
        ingress_url=args.ingress_url,
        app_secret=args.app_secret,
        public_url=args.public_url,
        status_delay_s=args.status_delay,
        app_id=args.app_id,
    )
    # uvicorn's access log prints query strings, and Messenger-style calls carry access_token there;
    # the sandbox logs each Graph request itself, path only.
    app = create_app(config)
    if args.seed:
        seed(app.state.sandbox, json.loads(Path(args.seed).read_text()))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)


def seed(state: SandboxState, data: dict[str, Any]) -> None:
    """Register what the sandbox must know before serving (demo mode).

    ``accounts`` and ``contacts`` as ``/_sandbox/accounts`` and ``/_sandbox/contacts``; optional:
    ``people`` (as ``/_sandbox/people``; after the accounts, so a person can own a seeded Page and
    keep its token), ``templates`` (as ``/_sandbox/templates``), ``sample_templates`` (WABA ids to
    give the sample set), ``login_configs`` (as ``/_sandbox/oauth/configs``).
    """
    for item in data.get("accounts", []):
        account = Account(**AccountIn.model_validate(item).model_dump())
        state.accounts[(account.channel, account.account_id)] = account
    for item in data.get("contacts", []):
        contact = ContactIn.model_validate(item)
        state.contacts[contact.user_id] = Contact(**contact.model_dump())
    for item in data.get("people", []):
        add_person(state, PersonIn.model_validate(item))
    for item in data.get("templates", []):
        add_template(state, TemplateIn.model_validate(item))
    for waba_id in data.get("sample_templates", []):
        for item in sample_templates(waba_id):
            add_template(state, TemplateIn.model_validate(item))
    for item in data.get("login_configs", []):
        config = LoginConfigIn.model_validate(item)
        state.oauth.configs[config.config_id] = LoginConfig(
            config.config_id, config.scopes, config.embedded_signup
        )


if __name__ == "__main__":
    main()
