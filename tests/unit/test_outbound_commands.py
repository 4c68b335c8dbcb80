"""Every reply command is published with its tenant header: the sender's shards hash on it.

A command without ``x-omni-tenant-id`` would not reach its tenant's shard of ``outbound.commands``
(``OMNI_OUTBOUND_SHARDS``), so: the message builder always sets it, each publisher (the inbox's
publish after commit, the outbox relay) hands it to the broker, the retry and replay copies keep it,
and no shipped module builds a command's routing key but the builder.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from omni_common.broker import headers as h
from omni_common.broker.shards import TENANT_HEADER
from omni_common.contracts import SendReply
from omni_common.domain.channels import CHANNELS
from omni_common.outbound.commands import CommandMessage, command_message, reply_message
from omni_common.outbound.outbox import relay_outbox
from omni_common.outbound.replies import publish_reply

ROOT = Path(__file__).resolve().parents[2]
commands = st.builds(
    SendReply, tenant_id=st.uuids(), message_id=st.uuids(), channel=st.sampled_from(CHANNELS)
)


@given(commands)
def test_a_replys_message_carries_its_tenant_and_ids(command: SendReply) -> None:
    message = reply_message(command)
    assert message.headers == {TENANT_HEADER: str(command.tenant_id)}
    assert message.routing_key == f"reply.send.{command.channel}"
    assert message.message_id == message.correlation_id == f"reply:{command.message_id}"
    assert SendReply.model_validate_json(message.body) == command


@given(commands, st.text(min_size=1, max_size=20))
def test_any_command_message_carries_its_tenant(command: SendReply, message_id: str) -> None:
    message = command_message(command, message_id=message_id)
    assert message.headers[TENANT_HEADER] == str(command.tenant_id)
    assert (message.message_id, message.correlation_id) == (message_id, None)


class RecordingPublisher:
    """``Publisher.publish``'s signature; keeps what it was given."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, routing_key: str, body: bytes, **kwargs: Any) -> None:
        self.published.append({"routing_key": routing_key, "body": body, **kwargs})


class FakeSession:
    """Answers the outbox relay's select with ``rows``; every other statement does nothing."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows
        self.statements = 0

    async def execute(self, _statement: Any) -> Any:
        self.statements += 1
        rows = self.rows if self.statements == 1 else []
        return SimpleNamespace(scalars=lambda: SimpleNamespace(all=lambda: rows))


def begin_with(session: FakeSession) -> Any:
    @asynccontextmanager
    async def begin(_tenant_id: uuid.UUID) -> AsyncIterator[FakeSession]:
        yield session

    return begin


def _command(tenant_id: uuid.UUID | None = None) -> SendReply:
    return SendReply(tenant_id=tenant_id or uuid.uuid4(), message_id=uuid.uuid4(), channel="whatsapp")


async def test_the_inbox_publish_after_commit_sends_the_tenant_header() -> None:
    publisher = RecordingPublisher()
    command = _command()
    queued = SimpleNamespace(command=command, outbox_id=7)  # the fields publish_reply reads
    assert await publish_reply(publisher, begin_with(FakeSession([])), queued)  # type: ignore[arg-type]
    [sent] = publisher.published
    assert sent["headers"] == {TENANT_HEADER: str(command.tenant_id)}
    assert sent["routing_key"] == "reply.send.whatsapp"


async def test_the_outbox_relay_publishes_the_tenant_header() -> None:
    tenant = uuid.uuid4()
    rows = [SimpleNamespace(id=i, payload=_command(tenant).model_dump(mode="json")) for i in range(3)]
    published: list[CommandMessage] = []

    async def publish(message: CommandMessage) -> None:
        published.append(message)

    session = FakeSession(rows)
    assert await relay_outbox(begin_with(session), publish, tenant, older_than=timedelta(0)) == 3
    assert [m.headers for m in published] == [{TENANT_HEADER: str(tenant)}] * 3
    assert session.statements == 1 + 3  # each row stamped after its publish


def test_retry_and_replay_copies_keep_the_tenant_header() -> None:
    # The consumer's retry copies (to a shard retry queue, back through the hash exchange) and
    # `omni dlq replay`'s copies keep what the publisher set.
    delivered: Mapping[str, Any] = {TENANT_HEADER: "t-1", "x-death": [{}], h.DLQ_REASON: "x"}
    assert h.republishable(delivered)[TENANT_HEADER] == "t-1"
    assert h.for_replay(delivered)[TENANT_HEADER] == "t-1"


def test_no_module_builds_a_reply_commands_routing_key_but_the_builder() -> None:
    """Whoever publishes to outbound.commands goes through ``omni_common.outbound.commands``."""
    builder = ROOT / "libs/common/src/omni_common/outbound/commands.py"
    pattern = re.compile(r"routing_key\(\s*OUTBOUND_COMMANDS|[\"']reply\.send\.")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("libs", "services", "bench", "infra")
        for path in (ROOT / folder).rglob("*.py")
        if path != builder and pattern.search(path.read_text())
    ]
    assert offenders == []
