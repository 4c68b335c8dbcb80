"""What one benchmark run does: sizes, rates, process counts and where it writes its report."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.split import Split

APP_SECRET = "bench-app-secret-0123456789abcdef"  # noqa: S105 - a local test secret
VERIFY_TOKEN = "bench-verify-token"  # noqa: S105 - a local test token
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
AMQP_BASE = "amqp://guest:guest@127.0.0.1:5672"
MGMT_URL = "http://127.0.0.1:15672"
MGMT_AUTH = ("guest", "guest")


@dataclass
class BenchConfig:
    duration: float = 60.0  # seconds of offered load in the pipeline phase
    rate: float = 0.0  # deliveries/s offered; 0 = as fast as the ingress answers (closed loop)
    tenants: int = 50
    concurrency: int = 64  # keep-alive HTTP connections of the load generator
    max_deliveries: int = 0  # hard cap on deliveries per phase; 0 = derived from duration and rate
    ingress_procs: int = 2
    router_procs: int = 1
    normalizer_procs: int = 2
    baseline_duration: float = 10.0
    baselines: bool = True
    ingress_only: bool = True  # product ingress alone (router/normalizer stopped), for the 80 % ratio
    profile: bool = False  # py-spy one process of each service during the pipeline phase
    drain_timeout: float = 240.0
    seed: int = 8
    out: Path = field(default_factory=lambda: Path("bench/results/latest"))
    service_env: dict[str, str] = field(default_factory=dict)  # extra OMNI_* for the services
    # The PostgreSQL server the run creates its databases on (``--private-pg`` points it at a
    # cluster of the run's own, sized with its own max_connections).
    pg_admin_url: str = PG_ADMIN_URL
    # Further PostgreSQL servers (admin URLs, ``--servers N``): registered in the run's catalog as
    # database servers, so the placement rule spreads the tenants over them and the catalog's own.
    extra_servers: tuple[str, ...] = ()
    # Deliveries per tenant sent (and undone) before the measured phase: steady state, not cold start.
    warmup_per_tenant: int = 0
    # ``--split auto``: splits probed before the baselines, each with ``probe_deliveries`` closed loop
    # (sent within ``probe_seconds``); the best replaces the process counts above. Empty: the counts
    # above are used as given.
    probe_splits: tuple[Split, ...] = ()
    probe_deliveries: int = 2000
    probe_seconds: float = 10.0

    @property
    def split(self) -> Split:
        return Split(self.ingress_procs, self.router_procs, self.normalizer_procs)

    def with_split(self, split: Split) -> BenchConfig:
        return replace(
            self, ingress_procs=split.ingress, router_procs=split.router, normalizer_procs=split.normalizer
        )

    @property
    def delivery_cap(self) -> int:
        """Upper bound of deliveries one load phase may send (also sizes the outbound pools)."""
        if self.max_deliveries:
            return self.max_deliveries
        per_second = self.rate if self.rate > 0 else 6_000
        return int(per_second * self.duration) + 1


def smoke_config(out: Path) -> BenchConfig:
    """A few hundred events in well under a minute: proves the harness works, measures nothing."""
    return BenchConfig(
        duration=3.0,
        rate=100.0,
        tenants=3,
        concurrency=8,
        max_deliveries=300,
        ingress_procs=1,
        router_procs=1,
        normalizer_procs=1,
        baseline_duration=1.5,
        drain_timeout=40.0,
        out=out,
    )
