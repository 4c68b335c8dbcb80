"""Signed, Meta-shaped deliveries in the benchmark's mix.

70 % WhatsApp statuses (each on an outbound message the harness pre-inserted, so it applies),
20 % inbound text messages spread over the three channels, 10 % batched deliveries of several
entries (WhatsApp statuses/messages, or Messenger/Instagram messages). Every event carries an id the
harness reads back from the tenant databases.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson

from omni_common.channels import samples

STATUS_SHARE = 0.70
INBOUND_SHARE = 0.20  # the remaining 10 % are batched deliveries
BATCH_SIZES = (2, 3, 4, 5)
TEXTS = (
    "Hi! Do you have a table for 4 tonight at 8?",
    "Can I bring my dog to the terrace?",
    "Is the kitchen open until midnight on Saturdays?",
    "Merci pour la soirée, tout était parfait !",
)


@dataclass(frozen=True)
class TenantPlan:
    index: int
    accounts: dict[str, str]
    waba_id: str
    outbound_pool: int


@dataclass(frozen=True)
class Delivery:
    channel: str
    body: bytes
    signature: str
    # (kind, external id): kind "status" (an outbound message's id) or "inbound" (a new message id)
    events: tuple[tuple[str, str], ...]


class Mix:
    """Builds deliveries; ids are unique per run (``run_tag``), statuses never reuse a message."""

    def __init__(self, tenants: list[TenantPlan], secret: str, *, seed: int, run_tag: str) -> None:
        self._tenants = tenants
        self._secret = secret.encode()
        self._rng = random.Random(seed)
        self._tag = run_tag
        self._next_status = {t.index: 0 for t in tenants}
        self._seq = 0

    def _sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def _status_id(self, tenant: TenantPlan) -> str | None:
        used = self._next_status[tenant.index]
        if used >= tenant.outbound_pool:
            return None
        self._next_status[tenant.index] = used + 1
        return f"wamid.out.{tenant.index}.{used + 1}"

    def _inbound_id(self, channel: str) -> str:
        self._seq += 1
        prefix = {"whatsapp": "wamid.in", "facebook": "m_in", "instagram": "ig_in"}[channel]
        return f"{prefix}.{self._tag}.{self._seq}"

    def _status_value(self, tenant: TenantPlan, msg_id: str, now: int) -> dict[str, Any]:
        return {
            "statuses": [
                {
                    "id": msg_id,
                    "status": "delivered",
                    "timestamp": str(now),
                    "recipient_id": "4915100000000",
                    "conversation": {"id": f"conv-{tenant.index}", "origin": {"type": "service"}},
                    "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
                }
            ]
        }

    def _wa_message_value(self, msg_id: str, now: int) -> dict[str, Any]:
        wa_id = f"49151{self._rng.randrange(10**8):08d}"
        return {
            "contacts": [{"profile": {"name": "Bench Guest"}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": msg_id,
                    "timestamp": str(now),
                    "type": "text",
                    "text": {"body": self._rng.choice(TEXTS)},
                }
            ],
        }

    def _messaging_item(self, account: str, msg_id: str, now_ms: int) -> dict[str, Any]:
        return {
            "sender": {"id": f"61{self._rng.randrange(10**13):013d}"},
            "recipient": {"id": account},
            "timestamp": now_ms,
            "message": {"mid": msg_id, "text": self._rng.choice(TEXTS)},
        }

    def _wa_entry(self, tenant: TenantPlan, value: dict[str, Any]) -> dict[str, Any]:
        return samples.whatsapp_delivery(tenant.waba_id, tenant.accounts["whatsapp"], value)["entry"][0]

    def next(self) -> Delivery:
        tenant = self._rng.choice(self._tenants)
        now = int(time.time())
        roll = self._rng.random()
        events: list[tuple[str, str]] = []
        if roll < STATUS_SHARE and (status_id := self._status_id(tenant)) is not None:
            channel = "whatsapp"
            payload = samples.whatsapp_delivery(
                tenant.waba_id, tenant.accounts["whatsapp"], self._status_value(tenant, status_id, now)
            )
            events.append(("status", status_id))
        elif roll < STATUS_SHARE + INBOUND_SHARE:  # also when the status pool is spent
            channel = self._rng.choice(("whatsapp", "facebook", "instagram"))
            msg_id = self._inbound_id(channel)
            if channel == "whatsapp":
                payload = samples.whatsapp_delivery(
                    tenant.waba_id, tenant.accounts["whatsapp"], self._wa_message_value(msg_id, now)
                )
            else:
                account = tenant.accounts[channel]
                payload = samples.messaging_delivery(
                    channel, account, self._messaging_item(account, msg_id, now * 1000), time_ms=now * 1000
                )
            events.append(("inbound", msg_id))
        else:
            channel, payload = self._batch(tenant, now, events)
        body = orjson.dumps(payload)
        return Delivery(channel, body, self._sign(body), tuple(events))

    def _batch(
        self, tenant: TenantPlan, now: int, events: list[tuple[str, str]]
    ) -> tuple[str, dict[str, Any]]:
        size = self._rng.choice(BATCH_SIZES)
        channel = self._rng.choices(("whatsapp", "facebook", "instagram"), weights=(6, 2, 2))[0]
        if channel == "whatsapp":
            entries = []
            for _ in range(size):
                status_id = self._status_id(tenant) if self._rng.random() < 0.7 else None
                if status_id is not None:
                    entries.append(self._wa_entry(tenant, self._status_value(tenant, status_id, now)))
                    events.append(("status", status_id))
                else:
                    msg_id = self._inbound_id("whatsapp")
                    entries.append(self._wa_entry(tenant, self._wa_message_value(msg_id, now)))
                    events.append(("inbound", msg_id))
            return channel, {"object": "whatsapp_business_account", "entry": entries}
        account = tenant.accounts[channel]
        entries = []
        for _ in range(size):
            msg_id = self._inbound_id(channel)
            item = self._messaging_item(account, msg_id, now * 1000)
            entries.append({"id": account, "time": now * 1000, "messaging": [item]})
            events.append(("inbound", msg_id))
        return channel, {"object": "page" if channel == "facebook" else "instagram", "entry": entries}
