"""The sender's signals (read receipts, "typing…"): what goes, what is retried, what is dropped."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from fakes import FakeGraph, FakeNotifications, FakePacer, FakeSendStore

from omni_common.broker.outcomes import Retry
from omni_common.contracts import SendReply
from omni_common.crypto import KeyRing, binding
from omni_common.graph import ErrorClass, GraphError
from omni_common.tenancy.accounts import CREDENTIALS_FIELD
from outbound_sender.deps import SenderDeps
from outbound_sender.signals import SignalJob, handle_signal

TENANT = uuid.uuid4()
ACCOUNT = uuid.uuid4()
KEYRING = KeyRing.from_strings(["A" * 43 + "="])
RETRIES = 3


@dataclass
class FakeSignalStore:
    job: SignalJob | None
    asked: list[uuid.UUID] = field(default_factory=list)

    async def load_signal(self, tenant_id: uuid.UUID, message_id: uuid.UUID) -> SignalJob | None:
        self.asked.append(message_id)
        return self.job


def _job(**changes: object) -> SignalJob:
    values: dict[str, object] = {
        "external_message_id": "wamid.customer",
        "account_id": ACCOUNT,
        "account_external_id": "1555",
        "account_status": "active",
        "account_active": True,
        "credentials": KEYRING.encrypt("tok", aad=binding(TENANT, ACCOUNT, CREDENTIALS_FIELD)),
        "read_receipts": True,
        "typing_indicator": True,
    }
    values.update(changes)
    return SignalJob(**values)


def _deps(graph: FakeGraph, pacer: FakePacer | None = None) -> SenderDeps:
    return SenderDeps(
        store=FakeSendStore(),
        graph=graph,
        keyring=KEYRING,
        pacer=pacer or FakePacer(),
        notify=FakeNotifications(),
        retry_delays=RETRIES,
    )


def _command(signal: str) -> SendReply:
    return SendReply(tenant_id=TENANT, message_id=uuid.uuid4(), channel="whatsapp", signal=signal)


async def test_a_read_receipt_and_typing_go_to_the_customers_message() -> None:
    graph = FakeGraph()
    for signal in ("read", "typing"):
        await handle_signal(_deps(graph), FakeSignalStore(_job()), _command(signal), attempt=1)
    assert graph.signals == [
        {"account_id": "1555", "message_id": "wamid.customer", "typing": False},
        {"account_id": "1555", "message_id": "wamid.customer", "typing": True},
    ]
    assert graph.calls == []  # no message was sent


@pytest.mark.parametrize(
    ("job", "signal"),
    [
        (None, "read"),
        (_job(read_receipts=False), "read"),
        (_job(read_receipts=False), "typing"),  # Meta's typing indicator marks read too
        (_job(typing_indicator=False), "typing"),
        (_job(account_status="needs_reauth"), "read"),
        (_job(account_active=False), "read"),
        (_job(credentials="v1:deadbeef:AAAA"), "read"),
    ],
)
async def test_nothing_goes_when_switched_off_or_the_account_cannot_send(
    job: SignalJob | None, signal: str
) -> None:
    graph = FakeGraph()
    await handle_signal(_deps(graph), FakeSignalStore(job), _command(signal), attempt=1)
    assert graph.signals == []


async def test_a_rate_limited_receipt_is_retried_but_typing_is_dropped() -> None:
    limited = GraphError("slow down", code=80007, error_class=ErrorClass.RATE_LIMIT)
    graph = FakeGraph(signal_errors=[limited])
    with pytest.raises(Retry):
        await handle_signal(_deps(graph), FakeSignalStore(_job()), _command("read"), attempt=1)
    graph = FakeGraph(signal_errors=[limited])
    await handle_signal(_deps(graph), FakeSignalStore(_job()), _command("typing"), attempt=1)  # no raise
    graph = FakeGraph(signal_errors=[limited])
    await handle_signal(_deps(graph), FakeSignalStore(_job()), _command("read"), attempt=RETRIES + 1)


async def test_a_refused_signal_is_dropped_and_pacing_that_is_too_long_defers_only_receipts() -> None:
    refused = GraphError("bad id", code=100, error_class=ErrorClass.BAD_REQUEST)
    await handle_signal(
        _deps(FakeGraph(signal_errors=[refused])), FakeSignalStore(_job()), _command("read"), attempt=1
    )
    graph = FakeGraph()
    with pytest.raises(Retry):
        await handle_signal(
            _deps(graph, FakePacer(grant=False)), FakeSignalStore(_job()), _command("read"), attempt=1
        )
    await handle_signal(
        _deps(graph, FakePacer(grant=False)), FakeSignalStore(_job()), _command("typing"), attempt=1
    )
    assert graph.signals == []
