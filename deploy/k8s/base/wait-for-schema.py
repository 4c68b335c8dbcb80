"""Init container of the Deployments: wait until the migrate Job brought the databases to this image.

Ready when the catalog is at the catalog head revision of this image's code and every migratable
tenant is at its tenant head or has a recorded migration error (`omni migrate` reports those; one
broken tenant must not hold the whole release back). Polls every ``--interval`` seconds; gives up
after ``--timeout`` seconds (0: never), exiting 1. Reads ``OMNI_DATABASE_URL``; prints no secret.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from omni_common.db.alembic_runner import current_revision, head_revision
from omni_common.dburl import async_url
from omni_common.tenancy.migrate import MIGRATABLE


def behind(database_url: str) -> str | None:
    """What is not migrated yet (None: everything this image needs is)."""
    engine = create_engine(async_url(database_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
            head = head_revision("catalog")
            if revision != head:
                return f"catalog at {revision}, this image needs {head}"
            pending = conn.scalar(
                text(
                    "SELECT count(*) FROM tenants WHERE status = ANY(:statuses)"
                    " AND schema_revision IS DISTINCT FROM :head AND last_migration_error IS NULL"
                ),
                {"statuses": list(MIGRATABLE), "head": head_revision("tenant")},
            )
            return f"{pending} tenant database(s) below the tenant head" if pending else None
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=0.0)
    args = parser.parse_args()
    url = os.environ["OMNI_DATABASE_URL"]
    deadline = time.monotonic() + args.timeout if args.timeout else None
    while True:
        try:
            reason = behind(url)
        except Exception as exc:  # database not there yet, catalog not created yet: keep waiting
            reason = f"catalog not readable ({type(exc).__name__})"
        if reason is None:
            print("schema ready", flush=True)
            return 0
        print(f"waiting for `omni migrate`: {reason}", flush=True)
        if deadline is not None and time.monotonic() >= deadline:
            return 1
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
