"""Fault 7 of issue 7: 1,000 tenants, traffic over all of them, three normalizer processes.

The services' PostgreSQL connections (``application_name`` ``omni...``, this stack's databases) are
sampled while the traffic drains: they stay under the bound the settings give, and no event lands
in a wrong tenant.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from chaos_load import Background, LoadRun, audit, make_hooks
from chaos_report import report
from chaos_stack import Stack, chaos_stack
from pipeline import wait_until
from testenv import APP_SECRET

# Bounded, above the suite-wide 300 s: provisioning 1,000 tenants is most of it.
pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(900)]

TENANTS = 1_000
NORMALIZERS = 3
CONNECTIONS, CATALOG_POOL = 8, 3  # per normalizer and server; catalog_engine(): pool 1 + overflow 2
# Per normalizer: engines x (pool + overflow) + catalog; the router holds a catalog pool only.
BOUND = NORMALIZERS * (CONNECTIONS + CATALOG_POOL) + CATALOG_POOL
N = 3_000  # three per tenant, one per channel


@pytest.fixture(scope="module")
def stack(services, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with chaos_stack(
        services,
        namespace,
        tmp_path_factory.mktemp("chaos-scale"),
        label="chs",
        tenants=TENANTS,
        processes={"tenant-router": 1, "normalizer": NORMALIZERS},
        OMNI_DB_CONNECTIONS_PER_SERVER=str(CONNECTIONS),
        OMNI_PREFETCH="50",
    ) as made:
        yield made


class Sampler:
    """Counts the services' connections to this stack's databases until stopped (own thread)."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        pattern = self._stack.catalog.replace("_", r"\_") + "%"
        with psycopg.connect(self._stack.admin_conninfo(), autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname LIKE %s AND application_name LIKE 'omni%%'",
                    (pattern,),
                ).fetchone()
                self.samples.append(row[0])
                self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_thousand_tenants_three_normalizers_stay_in_the_connection_budget(stack: Stack) -> None:
    assert BOUND <= 40, BOUND
    tag = f"sc{secrets.token_hex(3)}"
    run = LoadRun(make_hooks(stack.tenants, N, tag))
    started = time.monotonic()
    with Sampler(stack) as sampler:
        Background(stack.ingress, run, APP_SECRET, concurrency=16).start().join(timeout=240)
        assert run.statuses() == {"200": N}, run.statuses()

        def settled():
            result = audit(stack.pg_url, stack.tenants, run, tag)
            return result if not result.lost else None

        # Each audit reads all 1,000 databases, hence the slow poll.
        result = wait_until(settled, timeout=240, interval=2, what=f"{N} webhooks over {TENANTS} tenants")
    assert not result.duplicated, result
    assert not result.misplaced, result
    assert not result.unexpected, result
    assert not stack.dead_letters(), "nothing should be dead-lettered"
    assert not stack.fleet.dead(), stack.fleet.tail()
    assert len(sampler.samples) > 10
    peak = max(sampler.samples)
    assert peak <= BOUND, f"peak {peak} connections, bound {BOUND}"
    report(
        "scale_1000_tenants",
        tenants=TENANTS,
        normalizers=NORMALIZERS,
        sent=N,
        answered_200=result.ok,
        stored=result.landed_ok,
        lost=len(result.lost),
        duplicated=len(result.duplicated),
        misplaced=len(result.misplaced),
        dead_lettered=0,
        pg_connections_peak=peak,
        pg_connections_bound=BOUND,
        samples=len(sampler.samples),
        seconds=round(time.monotonic() - started, 1),
    )
