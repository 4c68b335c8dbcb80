"""A short-lived cache of the accounts the normalizer found, so a batch need not look them up again.

Every batch used to start with a lookup of its accounts: a round trip that cost about a quarter of a
one-event batch's CPU. Only accounts that were found are kept, for ``ttl`` seconds (the normalizer
uses a minute, as for the tenant's own record in its engine registry): disabling an account is
enforced at once by the router, whose routing cache the catalog invalidates, and within ``ttl``
seconds here as well (events routed before the disable are still written).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from normalizer.model import AccountKey, AccountRow


@dataclass
class AccountCache:
    ttl: float = 5.0
    max_entries: int = 20_000
    clock: Callable[[], float] = time.monotonic
    _rows: dict[tuple[uuid.UUID, str, str], tuple[AccountRow, float]] = field(
        default_factory=dict, init=False
    )

    def lookup(
        self, tenant_id: uuid.UUID, keys: Iterable[AccountKey]
    ) -> tuple[dict[AccountKey, AccountRow], set[AccountKey]]:
        """The fresh cached rows of ``keys``, and the keys still to be read from the database."""
        now = self.clock()
        found: dict[AccountKey, AccountRow] = {}
        missing: set[AccountKey] = set()
        for key in keys:
            cached = self._rows.get((tenant_id, *key))
            if cached is not None and cached[1] > now:
                found[key] = cached[0]
            else:
                missing.add(key)
        return found, missing

    def remember(self, tenant_id: uuid.UUID, rows: dict[AccountKey, AccountRow]) -> None:
        if len(self._rows) + len(rows) > self.max_entries:
            now = self.clock()
            self._rows = {k: v for k, v in self._rows.items() if v[1] > now}
            if len(self._rows) + len(rows) > self.max_entries:
                self._rows.clear()  # all fresh and too many: start over rather than grow
        expires = self.clock() + self.ttl
        for key, row in rows.items():
            self._rows[(tenant_id, *key)] = (row, expires)

    def touched(self, tenant_id: uuid.UUID, rows: dict[AccountKey, AccountRow]) -> None:
        """Their ``last_webhook_at`` was just set: later batches need not set it again."""
        for key, row in rows.items():
            cached = self._rows.get((tenant_id, *key))
            if cached is not None and cached[0].id == row.id:
                self._rows[(tenant_id, *key)] = (dataclasses.replace(row, webhook_recorded=True), cached[1])

    def forget(self, tenant_id: uuid.UUID) -> None:
        """Drop a tenant's accounts (after a batch that failed: its view may be stale)."""
        for key in [k for k in self._rows if k[0] == tenant_id]:
            del self._rows[key]
