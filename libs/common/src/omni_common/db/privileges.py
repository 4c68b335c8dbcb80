"""Least privilege between services in the databases: one PostgreSQL role per service, and what it may do.

The matrix below is the one home of "which service may touch which table, and how": ``omni migrate``
(``db/grants.py``) creates the roles on every database server and grants exactly this on the catalog
and on every tenant database, revoking anything else; docs/security.md shows it (a unit test keeps the
two equal). A service connects as its role: its ``OMNI_DATABASE_URL`` names the role and its password,
and it reaches tenant databases on every server with the same login (``servers.server_url``). The admin
(the ``omni`` CLI) stays the owner that creates databases and runs migrations.

Privileges were read off each service's code (its statements and the shared code it calls). Identity
columns (``outbox.id``, ``audit_log.id``) need no privilege on their sequences: INSERT is enough.
ingress-webhooks opens no database, so it has no role.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
import structlog

from omni_common.dburl import libpq_conninfo

log = structlog.get_logger(__name__)

SELECT, INSERT, UPDATE, DELETE = "SELECT", "INSERT", "UPDATE", "DELETE"
READ = (SELECT,)
WRITE = (SELECT, INSERT, UPDATE)
ALL = (SELECT, INSERT, UPDATE, DELETE)


@dataclass(frozen=True)
class Grant:
    """Privileges on one table; ``columns``: only these columns (SELECT), else the whole table."""

    table: str
    privileges: tuple[str, ...]
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceAccess:
    """A service's role and its grants on the catalog and on every tenant database."""

    service: str
    role: str
    catalog: tuple[Grant, ...]
    tenant: tuple[Grant, ...] = ()

    @property
    def password_env(self) -> str:
        """``OMNI_DB_PASSWORD_<SERVICE>``: the role's password, read by ``omni migrate``."""
        return "OMNI_DB_PASSWORD_" + self.service.upper().replace("-", "_")


# Before a pod starts, its init container (deploy/k8s/base/wait-for-schema.py) reads, as the
# service's role, the catalog's revision and whether every tenant database is migrated.
_SCHEMA_CHECK = Grant("alembic_version", READ)
# What every user of tenant databases reads in the catalog: a tenant's row, its server, a move.
_REGISTRY = (Grant("tenants", READ), Grant("db_servers", READ), Grant("tenant_moves", READ), _SCHEMA_CHECK)

# Every table of a tenant database (a unit test compares it with the models: a new table needs a
# decision here, or no service may touch it).
TENANT_TABLES = (
    "users", "user_sessions", "social_accounts", "contacts", "chats", "chat_messages", "notifications",
    "outbox", "labels", "chat_labels", "quick_replies", "chat_notes", "chat_reads", "audit_log",
    "inbox_display", "assistant_settings", "assistant_knowledge", "suggestions", "wa_templates",
    "wa_template_syncs", "push_keys", "push_subscriptions", "push_claims", "inbox_signals",
    "customer_signals",
)  # fmt: skip

_INBOX_TENANT = {
    **dict.fromkeys(
        ("labels", "chat_labels", "quick_replies", "push_subscriptions", "push_claims", "assistant_knowledge",
         "wa_templates"),
        ALL,
    ),
    "audit_log": (SELECT, INSERT),
}  # fmt: skip

SERVICES: tuple[ServiceAccess, ...] = (
    ServiceAccess(
        "tenant-router",
        "omni_tenant_router",
        # The account -> tenant mapping and the tenant's status (and its schema revision, for the
        # init container's check): no tenant's name or database, no server, no tenant database.
        catalog=(
            Grant("channel_accounts", READ, ("channel", "external_account_id", "tenant_id", "is_enabled")),
            Grant("tenants", READ, ("id", "status", "schema_revision", "last_migration_error")),
            _SCHEMA_CHECK,
        ),
    ),
    ServiceAccess(
        "normalizer",
        "omni_normalizer",
        catalog=_REGISTRY,
        tenant=(
            Grant("social_accounts", (SELECT, UPDATE)),
            Grant("contacts", WRITE),
            Grant("chats", WRITE),
            Grant("chat_messages", WRITE),
            Grant("notifications", WRITE),
            Grant("wa_templates", (SELECT, UPDATE, DELETE)),
        ),
    ),
    ServiceAccess(
        "outbound-sender",
        "omni_outbound_sender",
        catalog=_REGISTRY,
        tenant=(
            Grant("social_accounts", (SELECT, UPDATE)),
            Grant("contacts", READ),
            Grant("chats", READ),
            Grant("chat_messages", (SELECT, UPDATE)),
            Grant("outbox", (SELECT, UPDATE)),
            Grant("notifications", WRITE),
            Grant("inbox_signals", READ),
            Grant("wa_templates", READ),
        ),
    ),
    ServiceAccess(
        "ai-suggester",
        "omni_ai_suggester",
        catalog=_REGISTRY,
        tenant=(
            Grant("social_accounts", READ),
            Grant("contacts", READ),
            Grant("chats", READ),
            Grant("chat_messages", READ),
            Grant("suggestions", WRITE),
            Grant("assistant_settings", WRITE),
            Grant("assistant_knowledge", (SELECT, INSERT, DELETE)),
        ),
    ),
    ServiceAccess(
        "account-monitor",
        "omni_account_monitor",
        catalog=_REGISTRY,
        tenant=(
            Grant("social_accounts", (SELECT, UPDATE)),
            Grant("notifications", WRITE),
            # A renewed token, a re-subscribed app: added, never read (but the new entry's id, which
            # the ORM's INSERT ... RETURNING asks for).
            Grant("audit_log", (INSERT,)),
            Grant("audit_log", READ, ("id",)),
            Grant("wa_templates", ALL),
            Grant("wa_template_syncs", WRITE),
        ),
    ),
    ServiceAccess(
        "inbox-api",
        "omni_inbox_api",
        # Connecting an account maps it (and re-enables it); nothing removes a mapping but the CLI.
        catalog=(*_REGISTRY, Grant("channel_accounts", WRITE)),
        # The product itself: every tenant table. Rows are removed only where the inbox removes
        # them (a label, a quick reply, a push subscription, the knowledge it rebuilds, a template
        # Meta no longer has); the audit trail only grows (its trigger agrees).
        tenant=tuple(Grant(t, _INBOX_TENANT.get(t, WRITE)) for t in TENANT_TABLES),
    ),
)
NO_DATABASE = ("ingress-webhooks",)
ROLES = frozenset(s.role for s in SERVICES)


def access_of(service: str) -> ServiceAccess:
    """The matrix entry of ``service`` (KeyError for ingress-webhooks and unknown names)."""
    for access in SERVICES:
        if access.service == service:
            return access
    raise KeyError(f"no database role for {service!r}")


def is_service_role(username: str | None) -> bool:
    """Whether ``username`` is one of the services' roles (then it reaches every server as itself)."""
    return username in ROLES


def _cell(grants: tuple[Grant, ...]) -> str:
    """``SELECT, UPDATE: a, b; SELECT: c(x, y)``: tables grouped by their privileges, in matrix order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for g in grants:
        groups.setdefault(g.privileges, []).append(
            g.table + (f"({', '.join(g.columns)})" if g.columns else "")
        )
    return "; ".join(f"{', '.join(privileges)}: {', '.join(tables)}" for privileges, tables in groups.items())


def markdown_table() -> str:
    """The matrix as the Markdown table docs/security.md shows (one row per service)."""
    lines = ["| Service | Role | Catalog | Each tenant database |", "|---|---|---|---|"]
    for a in SERVICES:
        tenant = _cell(a.tenant) if a.tenant else "none (no CONNECT)"
        lines.append(f"| {a.service} | `{a.role}` | {_cell(a.catalog)} | {tenant} |")
    lines.extend(f"| {service} | none | opens no database | opens no database |" for service in NO_DATABASE)
    return "\n".join(lines)


# -- refusing a superuser ------------------------------------------------------------------------


class SuperuserRefused(SystemExit):
    """A service in production was given a superuser's login (exits with the reason, in plain words)."""


def superuser_refusal(service: str, role: str, is_superuser: bool, env: str) -> str | None:
    """The plain-words reason to refuse to start, or None (not a superuser, or development)."""
    if not is_superuser or env == "development":
        return None
    return (
        f"{service} refuses to start: it connects to the database as {role!r}, a PostgreSQL superuser, "
        f"which could read and change every tenant's data. Give it its own role in OMNI_DATABASE_URL "
        f"(see docs/security.md, 'Database roles'), or set OMNI_ENV=development on a developer's machine."
    )


def refuse_superuser(service: str, database_url: str, env: str, *, wait_s: float = 30.0) -> None:
    """Raise SuperuserRefused when ``service`` would run in production as a superuser.

    Development skips the check (``omni dev`` and the tests use the ``postgres`` superuser). The
    database may still be starting (compose, a rollout): it is tried for ``wait_s``, then the
    service does not start either: a check that could not run is not a pass.
    """
    if env == "development":
        return
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with psycopg.connect(
                libpq_conninfo(database_url), connect_timeout=5, application_name=f"omni-{service}:check"
            ) as conn:
                row = conn.execute(
                    "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise SuperuserRefused(
                    f"{service} refuses to start: it could not check its database role ({exc})".strip()
                ) from exc
            log.warning("db_role_check_retry", service=service, error=str(exc).strip()[:200])
            time.sleep(1.0)
    role, is_superuser = (str(row[0]), bool(row[1])) if row else ("?", False)
    reason = superuser_refusal(service, role, is_superuser, env)
    if reason is not None:
        log.critical("db_superuser_refused", service=service, role=role)
        raise SuperuserRefused(reason)
