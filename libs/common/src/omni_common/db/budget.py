"""Connections a process may hold to each database server: counted per tenant, bounded per server.

Pure bookkeeping (no I/O), used by ``TenantEngineRegistry`` under its lock. A *lease* is one caller
using one connection of a tenant's pool; ``conns`` counts the connections that pool holds or is about
to open. The invariants, whatever the order of calls:

- ``leases <= conns`` for every tenant: a lease always has a connection counted for it;
- the ``conns`` of a server's tenants add up to ``used(server) <= limit``.

So the real connections of a process to one server never exceed ``limit``, however many tenants it
serves: a tenant without a lease holds connections only until the budget needs them elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Each service's connections per database server when ``OMNI_DB_CONNECTIONS_PER_SERVER`` is unset.
# Together, with every process's catalog pool (3 at most) and the router's and monitor's one
# session each, one replica of everything stays near 65 of PostgreSQL's default 100 connections,
# leaving room for operators, migrations and the CLI (docs/runbook.md, "Connection budget").
DEFAULT_CONNECTIONS: dict[str, int] = {
    "normalizer": 20,  # the hot writer: one connection per tenant batch in flight
    "inbox": 10,
    "sender": 8,
    "ai": 3,
    "monitor": 2,
}
FALLBACK_CONNECTIONS = 4  # the CLI and anything not named above

# Each service's cap per tenant when ``OMNI_DB_CONNECTIONS_PER_TENANT`` is unset (None: the server's
# budget is the only bound). The normalizer writes a tenant's events in batches, so two connections
# (one batch committing, the next one writing) keep a busy tenant going; more only take connections
# from other tenants, which then reconnect: measured with 1,000 tenants over a budget of 300 per
# server, one new backend per 4.6 events (docs/performance.md, issue 21).
DEFAULT_CONNECTIONS_PER_TENANT: dict[str, int] = {"normalizer": 2}


def default_connections_per_tenant(service: str) -> int | None:
    """A service's default cap of connections per tenant (None: no cap)."""
    return DEFAULT_CONNECTIONS_PER_TENANT.get(service)


def default_connections(service: str) -> int:
    """A service's default budget per database server."""
    return DEFAULT_CONNECTIONS.get(service, FALLBACK_CONNECTIONS)


# How long a caller waits for a tenant connection when ``OMNI_DB_ACQUIRE_TIMEOUT_S`` is unset. A
# person waits for the inbox: a few seconds, then 503 and the page retries. A worker holds a message
# meanwhile, which costs nothing: waiting its turn beats going round the delay queues.
REQUEST_ACQUIRE_TIMEOUT_S = 5.0
WORKER_ACQUIRE_TIMEOUT_S = 30.0
_REQUEST_SERVICES = ("inbox", "status")


def default_acquire_timeout_s(service: str) -> float:
    """A service's default wait for a tenant connection."""
    return REQUEST_ACQUIRE_TIMEOUT_S if service in _REQUEST_SERVICES else WORKER_ACQUIRE_TIMEOUT_S


@dataclass
class Slot:
    """One tenant's standing against its server's budget."""

    server: str
    leases: int = 0
    conns: int = 0

    @property
    def idle(self) -> int:
        """Connections open in the pool and not leased: a new lease takes one without opening one."""
        return self.conns - self.leases


@dataclass
class ServerBudgets:
    """Open connections per server, at most ``limit`` each."""

    limit: int
    _used: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError("a server's connection budget must be at least 1")

    def used(self, server: str) -> int:
        """Connections counted against ``server`` now."""
        return self._used.get(server, 0)

    def try_lease(self, slot: Slot) -> bool:
        """Lease a connection of ``slot``'s pool: an idle one, else a new one if the server has room."""
        if slot.idle > 0:
            slot.leases += 1
            return True
        if self.used(slot.server) < self.limit:
            slot.conns += 1
            slot.leases += 1
            self._used[slot.server] = self.used(slot.server) + 1
            return True
        return False

    def release(self, slot: Slot, pooled: int | None = None) -> None:
        """End a lease. When the last one ends, ``pooled`` (the connections really left in the pool)
        corrects the count: a connection that failed to open or was dropped frees its place."""
        if slot.leases < 1:
            raise ValueError("release without a lease")
        slot.leases -= 1
        if slot.leases == 0 and pooled is not None and pooled < slot.conns:
            self._give_back(slot, slot.conns - pooled)

    def closed(self, slot: Slot) -> None:
        """Every idle connection of ``slot``'s pool was closed (the slot had no lease)."""
        if slot.leases:
            raise ValueError("only an unleased pool may be closed")
        self._give_back(slot, slot.conns)

    def _give_back(self, slot: Slot, n: int) -> None:
        slot.conns -= n
        self._used[slot.server] = self.used(slot.server) - n
