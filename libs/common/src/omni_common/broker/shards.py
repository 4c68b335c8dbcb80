"""Tenant shards of a stage: queue names, and which replica takes each shard (rendezvous hashing).

A sharded stage's messages (the router's routed events, the reply commands for the sender) reach a
consistent-hash exchange keyed on the tenant header, bound to ``<stage>.shard.<i>`` queues, so one
tenant's messages always land in one shard. Every replica consumes every shard, each with a consumer
priority (``x-priority``) equal to its rendezvous score for that shard: RabbitMQ delivers to the
highest-priority live consumer, so the broker itself picks the replica with the highest score, which
is rendezvous (highest-random-weight) hashing over the live replicas, with no coordination between
them. A replica that dies hands each of its shards to the
next score at once; a replica that joins takes only the shards where it scores highest (~1/n of them).

Pure code: no broker objects, so the properties are unit-tested (tests/unit/test_shards.py).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterable

# The header the router sets on every routed event, and ``outbound/commands.py`` on every reply
# command; the consistent-hash exchanges hash on it.
TENANT_HEADER = "x-omni-tenant-id"
# The largest consumer priority RabbitMQ accepts is a signed 32-bit integer; 0 is the default
# priority of a consumer that gives none (the legacy queue's), so scores start at 1.
MAX_PRIORITY = 2**31 - 1


def shard_queue(stage_queue: str, shard: int) -> str:
    """The queue of one shard of ``stage_queue``, e.g. ``normalizer.events.shard.3``."""
    return f"{stage_queue}.shard.{shard}"


def score(replica: str, shard: int) -> int:
    """The rendezvous score of ``replica`` for ``shard``: a consumer priority in [1, MAX_PRIORITY].

    A cryptographic digest, not ``hash()``: every replica must compute the same scores whatever its
    interpreter's hash seed, and the scores of different shards must look independent.
    """
    digest = hashlib.blake2b(f"{replica}\x00{shard}".encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % MAX_PRIORITY


def owner(replicas: Iterable[str], shard: int) -> str:
    """The replica that takes ``shard`` among ``replicas`` (the broker's choice, for tests and ops)."""
    # Ties (1 in 2**31 per pair) are broken by name so that the answer stays a function of the set.
    return max(replicas, key=lambda r: (score(r, shard), r))


def assignment(replicas: Iterable[str], shards: int) -> dict[int, str]:
    """Shard -> replica for a set of live replicas."""
    members = sorted(set(replicas))
    if not members:
        raise ValueError("no replica to own the shards")
    return {s: owner(members, s) for s in range(shards)}


def replica_identity(configured: str = "") -> str:
    """This replica's name: ``OMNI_WORKER_ID`` when set (a stable pod name keeps its shards across a
    restart), else host and process id (a restarted process is a new replica and draws new shards)."""
    return configured or f"{socket.gethostname()}:{os.getpid()}"
