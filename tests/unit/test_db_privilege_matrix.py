"""The database privilege matrix as values (db/privileges.py): the superuser refusal, the docs' table,
how a service's login reaches other servers, and the statements that apply the matrix."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from omni_common.db.catalog_models import CatalogBase
from omni_common.db.grants import grant_statements, scram_verifier
from omni_common.db.privileges import (
    NO_DATABASE,
    SERVICES,
    TENANT_TABLES,
    access_of,
    markdown_table,
    superuser_refusal,
)
from omni_common.db.servers import server_url
from omni_common.db.tenant_models import TenantBase

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "docs" / "security.md"
SERVICE_DIRS = ROOT / "services"


def test_a_superuser_is_refused_in_production_in_plain_words() -> None:
    reason = superuser_refusal("normalizer", "postgres", is_superuser=True, env="production")
    assert reason is not None
    assert "normalizer refuses to start" in reason
    assert "'postgres', a PostgreSQL superuser" in reason
    assert "OMNI_ENV=development" in reason


@pytest.mark.parametrize(("is_superuser", "env"), [(True, "development"), (False, "production")])
def test_development_or_an_ordinary_role_starts(is_superuser: bool, env: str) -> None:
    assert superuser_refusal("inbox-api", "omni_inbox_api", is_superuser=is_superuser, env=env) is None


def test_docs_show_the_matrix_as_it_is() -> None:
    assert markdown_table() in SECURITY.read_text()


def test_every_service_is_in_the_matrix_and_every_database_user_checks_its_role() -> None:
    services = {p.name for p in SERVICE_DIRS.iterdir() if (p / "src").is_dir()}
    assert services == {a.service for a in SERVICES} | set(NO_DATABASE)
    for access in SERVICES:
        main = next((SERVICE_DIRS / access.service / "src").glob("*/main.py")).read_text()
        assert "refuse_superuser(" in main, access.service
    for service in NO_DATABASE:
        main = next((SERVICE_DIRS / service / "src").glob("*/main.py")).read_text()
        assert "database_url" not in main, service


def test_the_matrix_names_the_tables_that_exist() -> None:
    assert set(TENANT_TABLES) == set(TenantBase.metadata.tables)
    catalog_tables = {*CatalogBase.metadata.tables, "alembic_version"}
    for access in SERVICES:
        assert {g.table for g in access.catalog} <= catalog_tables, access.service
        assert {g.table for g in access.tenant} <= set(TENANT_TABLES), access.service
        for grant in (*access.catalog, *access.tenant):
            assert set(grant.privileges) <= {"SELECT", "INSERT", "UPDATE", "DELETE"}
            assert not grant.columns or grant.privileges == ("SELECT",)


def test_password_variables_are_named_after_the_service() -> None:
    assert access_of("outbound-sender").password_env == "OMNI_DB_PASSWORD_OUTBOUND_SENDER"
    with pytest.raises(KeyError):
        access_of("ingress-webhooks")


def test_a_service_role_reaches_every_server_with_its_own_login() -> None:
    catalog = "postgresql://omni_normalizer:s3cret@catalog-rw:5432/omni"
    url = server_url(catalog, "postgresql://omni@tenants-b-rw:5432", "PW_B", environ={"PW_B": "admin-pw"})
    assert (url.username, url.password, url.host, url.database) == (
        "omni_normalizer",
        "s3cret",
        "tenants-b-rw",
        "omni",
    )
    no_password = server_url(
        "postgresql://omni_inbox_api@c/omni", "postgresql://omni@b", "PW_B", environ={"PW_B": "x"}
    )
    assert (no_password.username, no_password.password) == ("omni_inbox_api", None)  # libpq: PGPASSWORD


def test_the_admin_and_the_default_url_keep_the_server_record_login() -> None:
    url = server_url(
        "postgresql://postgres@127.0.0.1/omni", "postgresql://omni@b:5432", "PW_B", environ={"PW_B": "pw"}
    )
    assert (url.username, url.password, url.database) == ("omni", "pw", "omni")


def _text(statements: list[object]) -> str:
    return "\n".join(s.as_string(None) for s in statements)  # type: ignore[attr-defined]


def test_the_router_gets_no_tenant_database_and_public_nothing() -> None:
    tenant = _text(grant_statements("omni_t_x", "tenant"))
    assert 'REVOKE ALL ON DATABASE "omni_t_x" FROM PUBLIC' in tenant
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in tenant
    assert 'TO "omni_tenant_router"' not in tenant
    catalog = _text(grant_statements("omni", "catalog"))
    assert (
        'GRANT SELECT ("id", "status", "schema_revision", "last_migration_error") ON TABLE "tenants"'
        ' TO "omni_tenant_router"' in catalog
    )
    assert re.search(r'GRANT CONNECT ON DATABASE "omni" TO "omni_tenant_router"', catalog)


def test_only_tables_the_database_has_are_granted() -> None:
    text = _text(grant_statements("omni_t_x", "tenant", {"chats"}))
    assert 'ON TABLE "chats"' in text
    assert 'ON TABLE "chat_messages"' not in text


def test_the_scram_verifier_has_postgres_format() -> None:
    verifier = scram_verifier("pw", salt=b"0123456789abcdef")
    assert re.fullmatch(r"SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+", verifier)
    assert verifier == scram_verifier("pw", salt=b"0123456789abcdef")
    assert "pw" not in verifier.split("$", 1)[1]


def _render(overlay: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _db_secret(container: dict[str, Any]) -> str | None:
    var = next((v for v in container.get("env", []) if v["name"] == "OMNI_DATABASE_URL"), None)
    return None if var is None else str(var["valueFrom"]["secretKeyRef"]["name"])


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_k8s_services_log_in_as_their_roles_which_every_server_manages(overlay: str) -> None:
    docs = _render(overlay)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for access in SERVICES:
        pod = deployments[access.service]["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            assert _db_secret(container) == f"omni-db-{access.service}", (access.service, container["name"])
    job = next(d for d in docs if d["kind"] == "Job")
    assert _db_secret(job["spec"]["template"]["spec"]["containers"][0]) == "omni-catalog-app"  # the owner
    clusters = [d for d in docs if d["kind"] == "Cluster"]
    assert len(clusters) == (2 if overlay == "production" else 1)
    for cluster in clusters:
        roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
        for access in SERVICES:
            role = roles[access.role]
            assert role["passwordSecret"] == {"name": f"omni-db-{access.service}"}
            assert role["login"] is True
            assert not any(role.get(power) for power in ("superuser", "createdb", "createrole"))
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for access in SERVICES:
        name = f"omni-db-{access.service}"
        if overlay == "production":
            assert name not in secrets  # created by the operator (docs/runbook.md)
        else:
            assert secrets[name]["type"] == "kubernetes.io/basic-auth"
            username = base64.b64decode(secrets[name]["data"]["username"]).decode()
            uri = base64.b64decode(secrets[name]["data"]["uri"]).decode()
            assert username == access.role
            assert uri.startswith(f"postgresql://{access.role}:")


def test_compose_services_log_in_as_their_roles_which_migrate_creates() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    migrate = compose["migrate"]["environment"]
    assert make_url(migrate["OMNI_DATABASE_URL"]).username == "postgres"  # the owner migrates
    for access in SERVICES:
        url = compose[access.service]["environment"]["OMNI_DATABASE_URL"]
        assert url.startswith(f"postgresql://{access.role}:${{{access.password_env}:-")
        assert access.password_env in migrate
