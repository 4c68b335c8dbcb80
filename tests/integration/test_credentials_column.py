"""t0011 renames ``social_accounts.credentials_encrypted`` to ``credentials``: a token encrypted
before the migration decrypts after it (the AES-GCM associated data names the field "credentials",
never the column), and the way back keeps it too."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from omni_common.crypto import KeyRing, binding
from omni_common.db.alembic_runner import make_config
from omni_common.dburl import async_url, libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.accounts import CREDENTIALS_FIELD, decrypt_token

pytestmark = pytest.mark.integration


@pytest.fixture
def tenant_db(settings: Settings) -> Iterator[str]:
    """An empty database named under this session's prefix (dropped with the others)."""
    name = f"{settings.database_url.rsplit('/', 1)[1]}_cred_{secrets.token_hex(3)}"
    admin = libpq_conninfo(settings.database_url, database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"{settings.database_url.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(async_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            cfg = make_config("tenant", connection=conn)
            (command.downgrade if down else command.upgrade)(cfg, revision)
            conn.commit()
    finally:
        engine.dispose()


def test_a_token_encrypted_before_t0011_decrypts_after_it(tenant_db: str) -> None:
    keyring = KeyRing.from_strings([base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()])
    tenant_id, account_id = uuid.uuid4(), uuid.uuid4()
    token = "EAAbefore-the-rename-" + secrets.token_hex(8)
    ciphertext = keyring.encrypt(token, aad=binding(tenant_id, account_id, CREDENTIALS_FIELD))

    _migrate(tenant_db, "t0010")
    with psycopg.connect(libpq_conninfo(tenant_db)) as conn:
        conn.execute(
            "INSERT INTO social_accounts"
            " (id, tenant_id, platform, external_account_id, credentials_encrypted)"
            " VALUES (%s, %s, 'facebook', '4242', %s)",
            (account_id, tenant_id, ciphertext),
        )

    _migrate(tenant_db, "t0011")
    engine = create_engine(async_url(tenant_db), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT credentials FROM social_accounts WHERE id = :id"), {"id": account_id}
            ).scalar_one()
            columns = conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'social_accounts'"
                )
            ).scalars()
            assert "credentials_encrypted" not in set(columns)
    finally:
        engine.dispose()
    assert stored == ciphertext  # a rename keeps the bytes
    assert decrypt_token(keyring, tenant_id=tenant_id, account_id=account_id, ciphertext=stored) == token

    _migrate(tenant_db, "t0010", down=True)
    with psycopg.connect(libpq_conninfo(tenant_db)) as conn:
        back = conn.execute("SELECT credentials_encrypted FROM social_accounts").fetchone()
    assert back is not None
    assert decrypt_token(keyring, tenant_id=tenant_id, account_id=account_id, ciphertext=back[0]) == token
