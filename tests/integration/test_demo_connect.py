"""`omni demo connect`: the demo owner connects the demo's Page, Instagram and WhatsApp number through
"Continue with Facebook" and Embedded Signup against the demo's Meta sandbox (issue 20)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest
from connect_support import inbox_at_its_own_address, login_settings
from sandbox_server import serve

from meta_sandbox import SandboxConfig
from meta_sandbox.__main__ import seed as seed_sandbox
from meta_sandbox.app import create_app as sandbox_app
from omni_cli.commands import demo
from omni_cli.commands.demo_connect import connect_demo
from omni_common.crypto import KeyRing, binding
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.dburl import libpq_conninfo
from omni_common.domain.credentials import unpack
from omni_common.settings import Settings
from omni_common.tenancy.accounts import CREDENTIALS_FIELD
from omni_common.tenancy.migrate import migrate_all

pytestmark = pytest.mark.integration


async def _tenant(settings: Settings) -> tuple[str, str]:
    engine = catalog_engine(settings.database_url)
    try:
        tenant = await Catalog(engine).get_tenant_by_slug(demo.SLUG)
        assert tenant is not None
        return str(tenant.id), tenant.db_name
    finally:
        await engine.dispose()


def test_the_demo_connects_its_accounts_through_the_flow(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env: only this session's database and key
    monkeypatch.setenv("OMNI_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OMNI_ENCRYPTION_KEYS", settings.encryption_keys.get_secret_value())
    asyncio.run(migrate_all(settings.database_url))
    asyncio.run(demo.seed())
    meta_app = sandbox_app(SandboxConfig(app_secret=settings.app_secret_list()[0].decode()))
    seed_sandbox(meta_app.state.sandbox, demo.sandbox_seed())
    with serve(meta_app) as meta:
        checked = login_settings(settings, meta, meta_es_config_id="demo-embedded-signup")
        with inbox_at_its_own_address(checked) as inbox:
            lines = connect_demo(inbox)
        subscribed = httpx.get(f"{meta}/_sandbox/subscriptions").json()
        numbers = [a for a in httpx.get(f"{meta}/_sandbox/accounts").json() if a["channel"] == "whatsapp"]
    assert len(lines) == 3, lines
    assert all(line.startswith("ok ") for line in lines), lines
    wa, fb, _ = demo.ACCOUNTS
    assert fb["id"] in subscribed
    assert wa["waba"] in subscribed
    assert [n["pin_set"] for n in numbers if n["account_id"] == wa["id"]] == [True]
    tenant_id, db_name = asyncio.run(_tenant(settings))
    with psycopg.connect(libpq_conninfo(settings.database_url, database=db_name)) as conn:
        rows = conn.execute("SELECT id, platform, credentials FROM social_accounts").fetchall()
    ring = KeyRing.from_strings(settings.encryption_key_list())
    sealed = {
        platform: unpack(ring.decrypt(cipher, aad=binding(tenant_id, account_id, CREDENTIALS_FIELD)))
        for account_id, platform, cipher in rows
    }
    assert sealed["whatsapp"].pin is not None  # registered by Embedded Signup, the PIN sealed
    assert sealed["whatsapp"].token != wa["token"]  # the token the owner granted, not the seeded one
    assert sealed["facebook"].token != fb["token"]
    asyncio.run(demo.health_demo_again())  # the health panel's demo, as `omni demo connect` leaves it
    with psycopg.connect(libpq_conninfo(settings.database_url, database=db_name)) as conn:
        flagged = conn.execute(
            "SELECT platform FROM social_accounts WHERE status = 'needs_reauth'"
        ).fetchall()
    assert flagged == [("facebook",)]
