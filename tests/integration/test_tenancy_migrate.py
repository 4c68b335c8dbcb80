"""`omni migrate` across tenants (a failing tenant never stops the rest) and the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
import structlog
from argon2 import PasswordHasher
from psycopg import sql
from typer.testing import CliRunner

from omni_cli.main import app
from omni_common.db.alembic_runner import head_revision
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.dburl import libpq_conninfo
from omni_common.settings import Settings
from omni_common.tenancy.migrate import migrate_all
from omni_common.tenancy.provisioning import Provisioner

pytestmark = pytest.mark.integration

HEAD = head_revision("tenant")  # the probe revision chains on whatever the tree's head is
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PROBE_REVISION = '''"""Test-only revision: adds a table."""

import sqlalchemy as sa
from alembic import op

revision = "t9001_probe"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("zz_probe", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("zz_probe")
'''.replace("{head}", HEAD)


def _run_sql(url: str, database: str, statement: sql.Composable | str) -> None:
    with psycopg.connect(libpq_conninfo(url, database=database), autocommit=True) as conn:
        conn.execute(statement)


@pytest.fixture(scope="module")
async def env(settings: Settings, namespace: str) -> AsyncIterator[SimpleNamespace]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/{namespace}_m"
    report = await migrate_all(url)  # creates the catalog database
    assert report.ok
    assert report.catalog_revision == "c0002_db_servers"
    engine = catalog_engine(url)
    catalog = Catalog(engine)
    yield SimpleNamespace(url=url, catalog=catalog, provisioner=Provisioner(catalog, url, hasher=FAST_HASHER))
    await engine.dispose()


async def test_failing_tenant_is_recorded_and_the_rest_reach_head(
    env: SimpleNamespace, tmp_path: Path
) -> None:
    tenants = [
        await env.provisioner.create_tenant(
            f"mig-{n}", display_name=f"M{n}", owner_email=f"o@mig{n}.example", owner_password="owner-pass-1"
        )
        for n in range(4)
    ]
    # Interrupted provisioning before CREATE DATABASE: skipped, not failed.
    pending = await env.provisioner.create_tenant(
        "mig-pending",
        display_name="P",
        owner_email="o@p.example",
        owner_password="owner-pass-1",
        stop_after="row",
    )
    (tmp_path / "t9001_probe.py").write_text(PROBE_REVISION)
    broken = tenants[2]
    _run_sql(env.url, broken.db_name, "CREATE TABLE zz_probe (conflict int)")  # the new revision will collide

    seen: list[tuple[int, int]] = []
    report = await migrate_all(
        env.url,
        concurrency=2,
        extra_tenant_version_locations=[str(tmp_path)],
        progress=lambda done, total, _t, _e: seen.append((done, total)),
    )
    assert report.head == "t9001_probe"
    assert list(report.failed) == ["mig-2"]
    assert "zz_probe" in report.failed["mig-2"]
    assert report.migrated == ["mig-0", "mig-1", "mig-3"]
    assert report.skipped == ["mig-pending"]
    assert seen[-1] == (4, 4)
    by_slug = {t.slug: t for t in await env.catalog.list_tenants()}
    assert by_slug["mig-2"].schema_revision == HEAD  # its upgrade rolled back as a whole
    assert "zz_probe" in (by_slug["mig-2"].last_migration_error or "")
    assert by_slug["mig-2"].status == "active"  # still served; workers check schema_revision
    for slug in ("mig-0", "mig-1", "mig-3"):
        assert (by_slug[slug].schema_revision, by_slug[slug].last_migration_error) == ("t9001_probe", None)
    assert by_slug["mig-pending"].schema_revision is None

    # Fix the tenant, re-run: it resumes; the others are no-ops.
    _run_sql(env.url, broken.db_name, "DROP TABLE zz_probe")
    again = await migrate_all(env.url, extra_tenant_version_locations=[str(tmp_path)])
    assert again.ok
    assert again.migrated == ["mig-0", "mig-1", "mig-2", "mig-3"]
    fixed = await env.catalog.get_tenant(broken.id)
    assert fixed is not None
    assert (fixed.schema_revision, fixed.last_migration_error) == ("t9001_probe", None)

    # New tenants come from the refreshed template, already at the new head.
    fresh = await Provisioner(
        env.catalog, env.url, hasher=FAST_HASHER, extra_version_locations=[str(tmp_path)]
    ).create_tenant("mig-late", display_name="L", owner_email="o@l.example", owner_password="owner-pass-1")
    assert fresh.schema_revision == "t9001_probe"
    assert pending.status == "provisioning"


@pytest.fixture
def cli_env(
    settings: Settings, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not leak into the test
    url = settings.database_url.rsplit("/", 1)[0] + f"/{namespace}_c"
    yield {
        "OMNI_DATABASE_URL": url,
        "OMNI_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "OMNI_LOG_JSON": "true",
        "OMNI_LOG_LEVEL": "WARNING",
    }
    # The CLI configures structlog for the process, writing to CliRunner's (now closed) stderr.
    structlog.reset_defaults()


def test_cli_end_to_end(cli_env: dict[str, str]) -> None:
    runner = CliRunner()

    def omni(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env=cli_env)
        return result.exit_code, result.output

    code, out = omni("migrate")
    assert code == 0, out
    assert "0 tenant(s) at head" in out
    for slug in ("cli-one", "cli-two"):
        code, out = omni(
            "tenant",
            "create",
            slug,
            "--name",
            slug.upper(),
            "--owner-email",
            f"boss@{slug}.example",
            "--owner-password",
            "boss-pass-1",
        )
        assert code == 0, out
        assert f"tenant {slug}" in out
        assert "active" in out
    code, out = omni(
        "tenant",
        "create",
        "cli-one",
        "--name",
        "X",
        "--owner-email",
        "x@x.example",
        "--owner-password",
        "xxxx-pass",
    )
    assert code == 1
    assert "already exists" in out
    code, out = omni(
        "user",
        "add",
        "cli-one",
        "--email",
        "Mgr@cli-one.example",
        "--password",
        "mgr-pass-1",
        "--role",
        "manager",
    )
    assert code == 0, out
    assert "mgr@cli-one.example" in out
    code, out = omni(
        "user",
        "add",
        "cli-one",
        "--email",
        "mgr@cli-one.example",
        "--password",
        "mgr-pass-1",
        "--role",
        "manager",
    )
    assert code == 1
    assert "already exists" in out
    code, out = omni(
        "user", "add", "nobody", "--email", "a@b.example", "--password", "mgr-pass-1", "--role", "manager"
    )
    assert code == 1
    assert "no tenant" in out

    code, out = omni("tenant", "list", "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert [(t["slug"], t["status"], t["schema_revision"]) for t in listed] == [
        ("cli-one", "active", HEAD),
        ("cli-two", "active", HEAD),
    ]
    code, out = omni("tenant", "list")
    assert code == 0
    assert "cli-two" in out

    code, out = omni("keys", "new")
    assert code == 0
    assert len(out.strip()) == 44
    code, out = omni("keys", "rotate")
    assert code == 0, out
    assert "2 tenant(s)" in out

    # A tenant whose database is unreachable: migrate goes on, exits non-zero naming it.
    url = cli_env["OMNI_DATABASE_URL"]
    two = next(t for t in listed if t["slug"] == "cli-two")
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        db_name = conn.execute("SELECT db_name FROM tenants WHERE slug = 'cli-two'").fetchone()[0]
    rename = "ALTER DATABASE {} RENAME TO {}"
    _run_sql(url, "postgres", sql.SQL(rename).format(sql.Identifier(db_name), sql.Identifier(db_name + "_x")))
    try:
        code, out = omni("migrate")
        assert code == 1, out
        assert "cli-two" in out.split("failed tenants")[-1]
        assert "cli-one" not in out.split("failed tenants")[-1]
        code, out = omni("tenant", "list", "--json")
        errors = {t["slug"]: t["last_migration_error"] for t in json.loads(out)}
        assert errors["cli-one"] is None
        assert "does not exist" in (errors["cli-two"] or "")
        assert "password" not in (errors["cli-two"] or "").lower()
    finally:
        _run_sql(
            url, "postgres", sql.SQL(rename).format(sql.Identifier(db_name + "_x"), sql.Identifier(db_name))
        )
    code, out = omni("migrate")
    assert code == 0, out
    assert "2 tenant(s) at head, 0 failed" in out
    assert two["id"]


def test_installed_entry_point(cli_env: dict[str, str], tmp_path: Path) -> None:
    omni = Path(sys.executable).with_name("omni")
    env = {**os.environ, **cli_env}
    result = subprocess.run(
        [str(omni), "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "catalog at c0002_db_servers" in result.stdout
