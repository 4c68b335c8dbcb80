"""Database servers of the catalog: how a process reaches each one, secrets kept out of the catalog.

A server's row holds a URL without a password and, in ``password_env``, the NAME of the environment
variable holding its password (``OMNI_DB_SERVER_<NAME>_PASSWORD`` by default). The password is read
from the environment when a URL is built, so rotating it is a restart, and the catalog (backed up,
read by support) never holds a secret. Without ``password_env``, libpq's own ways apply
(``PGPASSFILE``/``~/.pgpass``, a client certificate, or trust). The ``main`` server has no URL:
each process reaches the catalog's own server through its ``OMNI_DATABASE_URL``.

A service that connects as its own role (``db/privileges.py``: its ``OMNI_DATABASE_URL`` names it)
reaches every server as that role with that password, never with the server record's (admin) login:
``omni migrate`` creates the role on every server with the same password. The admin, and a service
still on the default ``postgres`` URL, keep the server record's login.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

from omni_common.db.catalog_models import MAIN_SERVER
from omni_common.db.privileges import is_service_role
from omni_common.dburl import async_url, database_name

if TYPE_CHECKING:  # the catalog reads ServerRecord from here
    from omni_common.db.catalog import TenantRecord

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class ServerRecord:
    """A row of ``db_servers`` with its tenant count (from the catalog)."""

    name: str
    url: str | None
    password_env: str | None
    max_tenants: int | None
    max_connections: int | None
    state: str
    tenants: int = 0


def validate_server_name(name: str) -> str:
    """``name`` if valid (lowercase letters, digits, dashes; starts with a letter; <= 40 chars)."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"invalid server name {name!r}: use a-z, 0-9 and '-', starting with a letter")
    return name


def default_password_env(name: str) -> str:
    """``OMNI_DB_SERVER_<NAME>_PASSWORD`` (dashes become underscores)."""
    return f"OMNI_DB_SERVER_{name.upper().replace('-', '_')}_PASSWORD"


def split_secret(url: str) -> tuple[str, str | None]:
    """``url`` without its password (and without a database: a server, not a database), and the
    password it carried, if any."""
    parsed = make_url(url)
    password = parsed.password
    # Built afresh: ``URL.set(password=None)`` would keep the password (None means "unchanged").
    bare = URL.create(
        parsed.drivername, username=parsed.username, host=parsed.host, port=parsed.port, query=parsed.query
    )
    return bare.render_as_string(hide_password=False), (str(password) if password is not None else None)


def server_url(
    catalog_url: str | URL,
    url: str | None,
    password_env: str | None,
    *,
    environ: dict[str, str] | None = None,
) -> URL:
    """The URL of a server, on the catalog's database name (tenant and template names derive from
    it); its password from the environment variable ``password_env`` names, if set there.

    ``url`` None: the catalog's own server, exactly as this process reaches it.
    """
    if url is None:
        return async_url(catalog_url)
    parsed = async_url(url, database=database_name(catalog_url))
    own = service_login(catalog_url, parsed)
    if own is not None:
        return own
    env = os.environ if environ is None else environ
    password = env.get(password_env) if password_env else None
    return parsed.set(password=password) if password else parsed


def tenant_url(catalog_url: str | URL, tenant: TenantRecord) -> URL:
    """Async URL of a tenant's database on its server (``db_servers``; ``main``: the catalog's own).

    Every path that opens a tenant's database builds its URL here, from the catalog's record: the
    registry, provisioning, ``omni migrate``, ``omni keys rotate``, a move. A legacy ``db_url``
    (written by nothing since servers exist) still wins, for compatibility.
    """
    if tenant.db_url:
        legacy = async_url(tenant.db_url, database=tenant.db_name)
        return service_login(catalog_url, legacy) or legacy
    base = server_url(catalog_url, tenant.server_url, tenant.server_password_env)
    return base.set(database=tenant.db_name)


def server_key(url: URL) -> str:
    """The database server a URL points at: a process's connection budget is counted under this name."""
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def service_login(catalog_url: str | URL, url: URL) -> URL | None:
    """``url`` with the catalog URL's user and password when that user is a service's role, else None."""
    catalog = make_url(catalog_url) if isinstance(catalog_url, str) else catalog_url
    if not is_service_role(catalog.username):
        return None
    return url.set(username=catalog.username, password=catalog.password)


def admin_database(name: str, catalog_url: str | URL) -> str:
    """The database to run CREATE DATABASE and advisory locks from on a server: the catalog's on
    ``main`` (as before servers existed, so the locks of older runs still meet), ``postgres`` elsewhere."""
    return database_name(catalog_url) if name == MAIN_SERVER else "postgres"


def server_admin_url(catalog_url: str | URL, server: ServerRecord) -> URL:
    """A server's URL on its administration database (``admin_database``)."""
    base = server_url(catalog_url, server.url, server.password_env)
    return base.set(database=admin_database(server.name, catalog_url))
