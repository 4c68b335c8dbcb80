"""Load for fault tests: uniquely numbered signed webhooks, sent with bounded concurrency, and the audit.

Every webhook carries one message whose external id embeds the run's tag and its number, so the
audit can find each one in every tenant database and tell lost, duplicated and misplaced apart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import psycopg
from pipeline import sign

from omni_common.channels import samples
from omni_common.dburl import libpq_conninfo

CHANNELS = ("whatsapp", "facebook", "instagram")


@dataclass(frozen=True)
class Tenant:
    slug: str
    id: str
    db_name: str
    accounts: dict[str, str]  # channel -> account id


@dataclass(frozen=True)
class Hook:
    n: int
    tenant: int  # index into the tenant list
    channel: str
    external_id: str
    body: bytes


def make_hooks(tenants: list[Tenant], count: int, tag: str, secret_ts: int | None = None) -> list[Hook]:
    """``count`` webhooks, round-robin over tenants and channels (every tenant gets every channel)."""
    ts = secret_ts or int(time.time())
    hooks = []
    for n in range(count):
        t = n % len(tenants)
        channel = CHANNELS[(n // len(tenants)) % len(CHANNELS)]
        account = tenants[t].accounts[channel]
        if channel == "whatsapp":
            ext = f"wamid.{tag}-{n}"
            payload = samples.whatsapp_text(
                phone_number_id=account,
                waba_id=f"waba-{account}",
                wa_id=f"1555{n % 5:07d}",
                name=f"Customer {n % 5}",
                text=f"chaos {tag} #{n}",
                message_id=ext,
                timestamp=ts,
            )
        else:
            ext = f"m_{tag}-{n}"
            payload = samples.messaging_text(
                channel,
                account_id=account,
                user_id=f"psid-{n % 5}",
                text=f"chaos {tag} #{n}",
                mid=ext,
                timestamp_ms=ts * 1000,
            )
        hooks.append(Hook(n, t, channel, ext, orjson.dumps(payload)))
    return hooks


@dataclass
class LoadRun:
    """Answers of one load run, filled while it runs (read from the test thread)."""

    hooks: list[Hook]
    answers: dict[int, int | str] = field(default_factory=dict)  # n -> status or error name
    sent_at: dict[int, float] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0

    @property
    def answered(self) -> int:
        return len(self.answers)

    def ok(self) -> list[Hook]:
        return [h for h in self.hooks if self.answers.get(h.n) == 200]

    def not_ok(self) -> list[Hook]:
        return [h for h in self.hooks if self.answers.get(h.n) != 200]

    def statuses(self) -> dict[str, int]:
        return dict(Counter(str(v) for v in self.answers.values()))


async def send(
    url: str, run: LoadRun, secret: str, *, concurrency: int = 24, pace_s: float = 0.0, timeout: float = 15
) -> None:
    """POST every hook (one attempt each, like a single try of Meta's) with ``concurrency`` in flight.

    ``pace_s`` spreads the run out (a pause per request per sender) so that a fault has time to hit it.
    """
    queue: asyncio.Queue[Hook] = asyncio.Queue()
    for hook in run.hooks:
        queue.put_nowait(hook)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    run.started = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            while not queue.empty():
                hook = queue.get_nowait()
                run.sent_at[hook.n] = time.monotonic()
                try:
                    response = await client.post(
                        f"{url}/webhooks/{hook.channel}",
                        content=hook.body,
                        headers={
                            "X-Hub-Signature-256": sign(hook.body, secret),
                            "Content-Type": "application/json",
                        },
                    )
                    run.answers[hook.n] = response.status_code
                except httpx.HTTPError as exc:
                    run.answers[hook.n] = type(exc).__name__
                if pace_s:
                    await asyncio.sleep(pace_s)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.finished = time.monotonic()


class Background:
    """A load run in a thread of its own, so the test can inject faults while it goes."""

    def __init__(self, url: str, run: LoadRun, secret: str, **kwargs: Any) -> None:
        self.run = run
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(url, secret, kwargs), daemon=True)

    def _main(self, url: str, secret: str, kwargs: dict[str, Any]) -> None:
        try:
            asyncio.run(send(url, self.run, secret, **kwargs))
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def start(self) -> Background:
        self._thread.start()
        return self

    def join(self, timeout: float = 120) -> LoadRun:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"load did not finish within {timeout}s ({self.run.answered} answered)")
        if self.error is not None:
            raise self.error
        return self.run


def rows_by_external_id(pg_url: str, tenants: list[Tenant], tag: str) -> dict[str, list[tuple[int, int]]]:
    """external id -> [(tenant index, row count)] over every tenant database, for this tag."""
    found: dict[str, list[tuple[int, int]]] = {}
    for i, tenant in enumerate(tenants):
        with psycopg.connect(libpq_conninfo(pg_url, database=tenant.db_name), connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT external_message_id, count(*) FROM chat_messages"
                " WHERE external_message_id LIKE %s GROUP BY 1",
                (f"%{tag}-%",),
            ).fetchall()
        for ext, count in rows:
            found.setdefault(ext, []).append((i, count))
    return found


@dataclass
class Audit:
    sent: int
    ok: int
    landed_ok: int
    lost: list[str]
    duplicated: list[str]
    misplaced: list[str]
    unexpected: list[str]  # rows of this tag that nobody sent (should never happen)
    not_ok_landed: int  # answered non-200 but stored anyway (allowed once: Meta would retry it)


def audit(pg_url: str, tenants: list[Tenant], run: LoadRun, tag: str, skip: set[int] = frozenset()) -> Audit:
    """Compare what each tenant database holds with what was answered 200.

    ``skip``: tenant indexes whose events may legitimately be absent (dead-lettered on purpose).
    """
    found = rows_by_external_id(pg_url, tenants, tag)
    by_ext = {h.external_id: h for h in run.hooks}
    ok = {h.external_id for h in run.ok()}
    lost, dup, misplaced = [], [], []
    for hook in run.hooks:
        places = found.get(hook.external_id, [])
        total = sum(c for _, c in places)
        if total > 1:
            dup.append(hook.external_id)
        if any(t != hook.tenant for t, _ in places):
            misplaced.append(hook.external_id)
        if hook.external_id in ok and total == 0 and hook.tenant not in skip:
            lost.append(hook.external_id)
    return Audit(
        sent=len(run.hooks),
        ok=len(ok),
        landed_ok=sum(1 for e in ok if e in found),
        lost=lost,
        duplicated=dup,
        misplaced=misplaced,
        unexpected=[e for e in found if e not in by_ext],
        not_ok_landed=sum(1 for e in found if e in by_ext and e not in ok),
    )


def landed_count(pg_url: str, tenants: list[Tenant], tag: str, only: set[int] | None = None) -> int:
    """How many distinct messages of ``tag`` are stored (in the tenants ``only``, default all)."""
    total = 0
    for i, tenant in enumerate(tenants):
        if only is not None and i not in only:
            continue
        with psycopg.connect(libpq_conninfo(pg_url, database=tenant.db_name), connect_timeout=5) as conn:
            total += conn.execute(
                "SELECT count(DISTINCT external_message_id) FROM chat_messages"
                " WHERE external_message_id LIKE %s",
                (f"%{tag}-%",),
            ).fetchone()[0]
    return total
