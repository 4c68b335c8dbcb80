"""CPU per event of the inbound hot path in one process, no broker and no database.

``python -m bench.hotpath``: the router's side (an ``ingress.raw`` message of N WhatsApp deliveries
decoded, split, resolved, packed and encoded per tenant) and the normalizer's side before SQL (each
routed message decoded, normalized, planned against an in-memory store, followed up: the
``event_stored``/``status_applied`` lines and the live notifications), logging configured as in
production (JSON at INFO, to /dev/null). ``--base REF`` runs the same measurement on the code of git
``REF`` too (its ``src`` trees first on ``PYTHONPATH``), alternating, so both figures come from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

TENANTS = 4
SRC_TREES = ("libs/common/src", "services/tenant-router/src", "services/normalizer/src")


def _deliveries(n: int) -> list[tuple[str, bytes]]:
    """``n`` WhatsApp deliveries over ``TENANTS`` numbers: 7 in 10 statuses, the rest texts (the mix)."""
    from omni_common.channels import samples

    out: list[tuple[str, bytes]] = []
    for i in range(n):
        phone = f"10{i % TENANTS}"
        if i % 10 < 7:
            doc = samples.whatsapp_status(
                phone_number_id=phone,
                waba_id=f"w{phone}",
                message_id=f"wamid.out{i}",
                status="delivered",
                recipient="15551230000",
                timestamp=1_700_000_000 + i,
            )
        else:
            doc = samples.whatsapp_text(
                phone_number_id=phone,
                waba_id=f"w{phone}",
                wa_id=f"1555{i:07d}",
                name="Ann Example",
                text=f"hello number {i}, how are you today?",
                message_id=f"wamid.in{i}",
                timestamp=1_700_000_000 + i,
            )
        out.append((f"d{i}", orjson.dumps(doc)))
    return out


@dataclass(frozen=True)
class Route:
    """``tenant_router.decisions.AccountRoute`` of an active tenant's enabled account."""

    tenant_id: uuid.UUID
    tenant_status: str = "active"
    is_enabled: bool = True


def _timed(
    loop: asyncio.AbstractEventLoop, work: Callable[[], Coroutine[Any, Any, Any]], rounds: int
) -> float:
    """The least CPU seconds of one ``work()`` over ``rounds`` runs (after a warm-up)."""
    loop.run_until_complete(work())
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        loop.run_until_complete(work())
        best = min(best, time.process_time() - start)
    return best


def measure(n: int, rounds: int) -> dict[str, float]:
    """Microseconds of CPU per event: router side, normalizer side before SQL, one INFO line."""
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the log lines' sink, for the whole process
    import structlog

    from normalizer.consume import routed_event_handler
    from normalizer.handler import handle_routed_batch
    from normalizer.model import AccountRow, Change
    from omni_common.broker.batcher import KeyedBatcher
    from omni_common.broker.consumer import Delivery
    from omni_common.broker.notifications import notification_note
    from omni_common.broker.subscription import Subscription, delivery_handler
    from omni_common.contracts import RawWebhookBatch, RoutedEventBatch
    from omni_common.contracts.events import encode_raw_webhook_batch, raw_webhook_fields
    from omni_common.logging import configure_logging
    from tenant_router.batches import BatchLimits
    from tenant_router.handler import handle_raw_webhook

    try:  # as the router and the normalizer configure it
        configure_logging(service="bench", json=True, level="INFO", cache_loggers=True)  # type: ignore[call-arg,unused-ignore]
    except TypeError:  # a tree from before loggers were cached
        configure_logging(service="bench", json=True, level="INFO")
    tenants = {f"10{t}": uuid.uuid4() for t in range(TENANTS)}
    now = datetime.now(UTC)
    raw_body = encode_raw_webhook_batch(
        [
            raw_webhook_fields(delivery_id=d, channel="whatsapp", received_at=now, body=b)
            for d, b in _deliveries(n)
        ]
    )

    def delivery(body: bytes) -> Delivery:
        return Delivery(body, "m", "c", "rk", {}, 1, False)

    # --- router ---
    routes = {p: Route(t) for p, t in tenants.items()}
    packed: list[bytes] = []

    async def resolve(_channel: str, account_id: str) -> Route | None:
        return routes.get(account_id)

    async def emit_routed(batch: Any) -> None:
        packed.append(batch.body)

    async def emit_nothing(*_args: Any) -> None:
        raise AssertionError("nothing is refused here")

    async def route(raw: RawWebhookBatch, d: Delivery) -> None:
        await handle_raw_webhook(
            raw,
            d,
            resolve=resolve,
            emit_routed=emit_routed,
            emit_refused=emit_nothing,
            emit_dead=emit_nothing,
            limits=BatchLimits(),
        )

    router = delivery_handler(Subscription("tenant-router.raw", RawWebhookBatch, route))

    async def router_once() -> None:
        packed.clear()
        await router(delivery(raw_body))

    # --- normalizer ---
    account = AccountRow(uuid.uuid4(), "active", True, webhook_recorded=True)

    class Store:
        @asynccontextmanager
        async def transaction(self) -> AsyncIterator[None]:
            yield

        async def find_accounts(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], AccountRow]:
            return dict.fromkeys(keys, account)

        async def touch_accounts(self, accounts: list[AccountRow]) -> None:
            return None

        async def store_messages(self, items: list[Any]) -> list[Change | None]:
            return [
                Change(
                    "message.created",
                    uuid.uuid4(),
                    uuid.uuid4(),
                    {"kind": "text"},
                    (),
                    m.msg.external_message_id,
                )
                for m in items
            ]

        async def apply_statuses(self, channel: str, events: list[Any]) -> dict[str, Change]:
            return {
                e.external_message_id: Change(
                    "message.status", uuid.uuid4(), uuid.uuid4(), {"status": e.status}
                )
                for e in events
            }

        async def apply(self, *_args: Any) -> list[Change]:
            return []

    store = Store()

    @asynccontextmanager
    async def connect(_tenant_id: uuid.UUID) -> AsyncIterator[Any]:
        yield store

    async def write(tenant_id: uuid.UUID, events: list[Any]) -> list[Any]:
        return await handle_routed_batch(tenant_id, events, connect=connect)

    notes: list[Any] = []

    class FollowUps:
        async def request(self, command: Any, *, correlation_id: str | None) -> None:
            return None

        def notify(self, event: Any, *, key: str, correlation_id: str | None) -> None:
            notes.append(notification_note(event, key=key, correlation_id=correlation_id))  # encodes it

    batcher: KeyedBatcher[uuid.UUID, Any, Any] = KeyedBatcher(write, max_items=n, max_wait=0.0005)
    normalizer = delivery_handler(
        Subscription(
            "normalizer.events",
            RoutedEventBatch,
            routed_event_handler(batcher.submit, FollowUps(), FollowUps()),
        )
    )
    loop = asyncio.new_event_loop()
    loop.run_until_complete(router_once())
    routed_bodies = list(packed)

    async def normalizer_once() -> None:
        notes.clear()
        await asyncio.gather(*(normalizer(delivery(b)) for b in routed_bodies))

    # --- one INFO line with a delivery's context bound (what each stored event costs in logs) ---
    log = structlog.get_logger("normalizer.consume")

    async def log_lines() -> None:
        async def one(i: int) -> None:
            structlog.contextvars.bind_contextvars(tenant_id="t", channel="whatsapp", correlation_id=f"d{i}")
            log.info(
                "event_stored",
                chat_message_id="00000000-0000-0000-0000-000000000000",
                external_message_id="x",
            )

        await asyncio.gather(*(one(i) for i in range(n)))

    per_event = 1e6 / n
    result = {
        "router_us": _timed(loop, router_once, rounds) * per_event,
        "normalizer_us": _timed(loop, normalizer_once, rounds) * per_event,
        "log_line_us": _timed(loop, log_lines, rounds) * per_event,
    }
    loop.close()
    return result


def _export(ref: str, into: Path) -> str:
    """The ``src`` trees of git ``ref`` under ``into``, as a ``PYTHONPATH``."""
    archive = subprocess.run(["git", "archive", ref, *SRC_TREES], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return os.pathsep.join(str(into / tree) for tree in SRC_TREES)


def _child(n: int, rounds: int, pythonpath: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    argv = [sys.executable, "-m", "bench.hotpath", "--events", str(n), "--rounds", str(rounds), "--json"]
    out = subprocess.run(argv, check=True, capture_output=True, env=env).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100, help="deliveries per ingress message")
    parser.add_argument("--rounds", type=int, default=30, help="timed runs per figure (the least counts)")
    parser.add_argument("--base", help="git ref to compare with, measured in the same invocation")
    parser.add_argument("--repeat", type=int, default=3, help="alternating processes per side (with --base)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.events, args.rounds)))
        return
    sides: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base_path = _export(args.base, Path(tmp)) if args.base else None
        for _ in range(args.repeat if args.base else 1):
            if base_path is not None:
                sides.setdefault(f"base {args.base}", []).append(_child(args.events, args.rounds, base_path))
            sides.setdefault("this tree", []).append(_child(args.events, args.rounds, None))
    print(
        f"CPU µs per event, {args.events} WhatsApp deliveries per message (7 in 10 statuses), least of runs"
    )
    print(f"{'':24}{'router':>10}{'normalizer':>12}{'INFO line':>11}")
    for name, runs in sides.items():
        best = {k: min(r[k] for r in runs) for k in runs[0]}
        print(f"{name:24}{best['router_us']:10.1f}{best['normalizer_us']:12.1f}{best['log_line_us']:11.2f}")


if __name__ == "__main__":
    main()
