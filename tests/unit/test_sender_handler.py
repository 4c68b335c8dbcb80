"""The outbound-sender's send handler on fakes: claim, refusals, pacing, the call and its outcome."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import FakeFence, FakeGraph, FakeNotifications, FakePacer, FakeSendStore

from omni_common.broker.outcomes import DeadLetter, Retry
from omni_common.contracts import SendReply, reasons
from omni_common.crypto import KeyRing, binding
from omni_common.graph import ErrorClass, GraphError, SendResult
from omni_common.tenancy.accounts import CREDENTIALS_FIELD
from outbound_sender.deps import SenderDeps
from outbound_sender.fence import NoFence, SendFence
from outbound_sender.handler import OUTCOME_UNKNOWN, handle_send
from outbound_sender.pacing import Checks, Paced
from outbound_sender.store import SendJob

TENANT = uuid.uuid4()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TOKEN = "EAAG-test-token"
KEYRING = KeyRing.from_strings([base64.urlsafe_b64encode(bytes(range(32))).decode()])
RETRIES = 3


class World:
    """One tenant's queued reply, the fakes around the handler, and the deps binding them."""

    def __init__(
        self,
        *answers: SendResult | GraphError,
        pacer: FakePacer | None = None,
        fence: SendFence | None = None,
        **job: Any,
    ) -> None:
        self.store, self.graph, self.notes = FakeSendStore(), FakeGraph(list(answers)), FakeNotifications()
        self.pacer = pacer or FakePacer()
        self.now = NOW
        account_id = uuid.uuid4()
        sealed = KEYRING.encrypt(TOKEN, aad=binding(TENANT, account_id, CREDENTIALS_FIELD))
        credentials = job.pop("credentials", sealed)
        self.job = self.store.add(_job(account_id=account_id, **job), credentials)
        self.deps = SenderDeps(
            store=self.store,
            graph=self.graph,
            keyring=KEYRING,
            pacer=self.pacer,
            notify=self.notes,
            retry_delays=RETRIES,
            clock=lambda: self.now,
            fence=fence or NoFence(),
        )

    async def send(self, attempt: int = 1) -> None:
        command = SendReply(tenant_id=TENANT, message_id=self.job.message_id, channel=self.job.channel)
        await handle_send(self.deps, command, attempt=attempt, correlation_id="c-1")

    @property
    def status(self) -> str | None:
        return self.store.jobs[self.job.message_id].status

    @property
    def error(self) -> tuple[str | None, str | None]:
        return self.store.errors.get(self.job.message_id, (None, None))


def _job(**changes: Any) -> SendJob:
    base: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "chat_id": uuid.uuid4(),
        "channel": "whatsapp",
        "direction": "outbound",
        "status": "queued",
        "text": "Sí, a las 21:00",
        "send_attempted_at": None,
        "reply_to_external_id": None,
        "last_inbound_at": NOW - timedelta(hours=1),
        "account_id": uuid.uuid4(),
        "account_external_id": "106540352242922",
        "account_status": "active",
        "account_active": True,
        "recipient": "34600111222",
    }
    return SendJob(**(base | changes))


class TestASend:
    async def test_is_claimed_sent_with_the_decrypted_token_and_announced(self) -> None:
        world = World(SendResult("wamid.sent-1", {}))

        await world.send()

        [call] = world.graph.calls
        assert (call["token"], call["to"], call["text"]) == (TOKEN, "34600111222", "Sí, a las 21:00")
        assert world.status == "sent"
        [accepted] = world.store.sent
        assert accepted.external_message_id == "wamid.sent-1"
        assert accepted.platform_timestamp == NOW  # the attempt time, for Messenger's read watermark
        assert [(e.kind, e.data) for e in world.notes.events] == [("message.status", {"status": "sent"})]

    async def test_a_duplicate_command_of_a_sent_message_does_nothing(self) -> None:
        world = World(status="sent")

        await world.send()

        assert world.graph.calls == []
        assert world.notes.events == []


class TestOurSideFailingAfterMetaAccepted:
    """Meta's answer came back; only recording it failed. It ends ``sent``, never "may have been
    delivered", and Meta is never asked twice."""

    async def test_a_database_hiccup_is_retried_in_place(self) -> None:
        world = World(SendResult("wamid.hiccup", {}))
        world.store.unavailable_marks = 2

        await world.send()

        assert (world.status, [a.external_message_id for a in world.store.sent]) == ("sent", ["wamid.hiccup"])
        assert len(world.graph.calls) == 1

    async def test_a_longer_outage_goes_through_the_delay_queue_and_the_redelivery_completes_it(self) -> None:
        world = World(SendResult("wamid.later", {}))
        world.deps.accept_retry_s = 0.3
        world.store.unavailable_marks = 10

        with pytest.raises(Retry) as later:
            await world.send()
        assert later.value.reason == reasons.TENANT_DB_UNAVAILABLE
        assert world.status == "sending"

        world.store.unavailable_marks = 0  # the database is back when the copy is redelivered
        await world.send(attempt=2)

        assert (world.status, [a.external_message_id for a in world.store.sent]) == ("sent", ["wamid.later"])
        assert world.store.sent[0].platform_timestamp == NOW  # the first attempt's time, kept
        assert len(world.graph.calls) == 1
        assert world.notes.kinds() == ["message.status"]

    async def test_a_redelivery_long_after_completes_it_even_when_marked_unknown_meanwhile(self) -> None:
        world = World(SendResult("wamid.late", {}))
        world.deps.accept_retry_s = 0
        world.store.unavailable_marks = 1
        with pytest.raises(Retry):
            await world.send()
        world.store.jobs[world.job.message_id] = dataclasses.replace(world.job, status="failed")

        await world.send(attempt=RETRIES + 1)

        assert world.status == "sent"
        assert len(world.graph.calls) == 1


class TestNotClaimable:
    async def test_a_missing_message_is_dead_lettered(self) -> None:
        world = World()
        del world.store.jobs[world.job.message_id]

        with pytest.raises(DeadLetter) as refused:
            await world.send()

        assert refused.value.reason == reasons.MESSAGE_NOT_FOUND

    async def test_an_inbound_message_is_dead_lettered(self) -> None:
        with pytest.raises(DeadLetter) as refused:
            await World(direction="inbound").send()

        assert refused.value.reason == reasons.NOT_OUTBOUND

    async def test_a_recent_sending_may_be_another_replica_and_is_retried_later(self) -> None:
        world = World(status="sending", send_attempted_at=NOW - timedelta(seconds=5))

        with pytest.raises(Retry) as later:
            await world.send()

        assert later.value.reason == reasons.SEND_IN_PROGRESS
        assert world.graph.calls == []

    async def test_an_old_sending_ends_outcome_unknown_and_is_never_sent_again(self) -> None:
        world = World(status="sending", send_attempted_at=NOW - timedelta(minutes=5))

        await world.send()

        assert world.graph.calls == []
        assert (world.status, world.error[0]) == ("failed", OUTCOME_UNKNOWN)


class TestRefusedBeforeTheCall:
    @pytest.mark.parametrize(
        ("job", "code"),
        [
            ({"account_status": "disabled"}, "account_disabled"),
            ({"account_status": "needs_reauth"}, "needs_reauth"),
            ({"last_inbound_at": NOW - timedelta(hours=24)}, "outside_window"),
            ({"text": "   "}, "invalid_message"),
            ({"credentials": None}, "credentials_unreadable"),
        ],
    )
    async def test_fails_without_calling_meta(self, job: dict[str, Any], code: str) -> None:
        world = World(**job)

        await world.send()

        assert world.graph.calls == []
        assert (world.status, world.error[0]) == ("failed", code)
        assert [e.data for e in world.notes.events] == [{"status": "failed"}]


class TestPacing:
    async def test_a_slot_too_far_puts_the_reply_back_and_retries_it_through_the_queue(self) -> None:
        world = World(pacer=FakePacer(grant=False))

        with pytest.raises(Retry) as later:
            await world.send()

        assert later.value.reason == reasons.PACED
        assert (world.status, world.graph.calls, world.notes.events) == ("queued", [], [])

    async def test_on_the_last_attempt_it_fails_instead(self) -> None:
        world = World(pacer=FakePacer(grant=False))

        await world.send(attempt=RETRIES + 1)

        assert (world.status, world.error[0]) == ("failed", "rate_limited")


class TestMetasAnswer:
    async def test_a_rate_limit_holds_the_account_and_retries(self) -> None:
        world = World(GraphError("throttled", code=130429, http_status=429))

        with pytest.raises(Retry):
            await world.send()

        assert world.status == "queued"
        assert [key for key, _ in world.pacer.held] == ["acct:whatsapp:106540352242922"]

    async def test_a_permanent_error_fails_with_metas_code(self) -> None:
        world = World(GraphError("not on WhatsApp", code=131026, http_status=400))

        await world.send()

        assert (world.status, world.error[0]) == ("failed", "131026")

    async def test_no_answer_after_the_request_left_ends_outcome_unknown(self) -> None:
        world = World(GraphError("read timeout", error_class=ErrorClass.AMBIGUOUS))

        await world.send()

        assert (world.status, world.error[0]) == ("failed", OUTCOME_UNKNOWN)

    async def test_a_dead_token_flags_the_account_and_fails_its_queued_replies(self) -> None:
        world = World(GraphError("Session has expired", code=190, http_status=401))
        other = world.store.add(dataclasses.replace(world.job, message_id=uuid.uuid4()))

        await world.send()

        assert world.store.reauthed == ["190"]
        assert (world.status, world.store.jobs[other.message_id].status) == ("failed", "failed")
        assert world.notes.kinds() == ["message.status", "message.status", "account.status", "notification"]


class Crash(BaseException):
    """The sender process dies here (kill -9): nothing after it runs, nothing is rolled back."""


@dataclasses.dataclass
class StallingPacer(FakePacer):
    """Grants every slot, but the first acquisition crashes or waits for ``resume`` (a slow sender)."""

    crash: bool = False
    resume: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    stalled: int = 0

    async def acquire_all(self, checks: Checks, max_wait_s: float) -> Paced:
        self.stalled += 1
        if self.stalled == 1:
            if self.crash:
                raise Crash
            await self.resume.wait()
        return await super().acquire_all(checks, max_wait_s)


class CrashingGraph(FakeGraph):
    """The request leaves, then the sender dies before Meta's answer reaches it."""

    async def send_message(self, *args: Any, **kwargs: Any) -> SendResult:
        await super().send_message(*args, **kwargs)
        raise Crash


class TestADeadSendersClaims:
    """A sender died holding claims: only those whose call provably never started are sent again."""

    async def test_claimed_but_never_called_is_requeued_by_the_redelivery_and_sent_once(self) -> None:
        fence = FakeFence()
        world = World(pacer=StallingPacer(crash=True), fence=fence)
        with pytest.raises(Crash):  # dies waiting for its pacing slot, the reply claimed `sending`
            await world.send()
        assert (world.status, world.graph.calls) == ("sending", [])

        world.now = NOW + timedelta(minutes=5)  # redelivered past the in-flight grace
        await world.send()

        assert world.status == "sent"
        assert len(world.graph.calls) == 1
        assert sorted(fence.marks.values()) == ["abandoned", "started"]  # the dead claim, the new one

    async def test_a_call_that_started_before_the_crash_stays_may_have_been_delivered(self) -> None:
        world = World(fence=FakeFence())
        world.graph = world.deps.graph = CrashingGraph()
        with pytest.raises(Crash):
            await world.send()

        world.now = NOW + timedelta(minutes=5)
        await world.send()

        assert len(world.graph.calls) == 1
        assert (world.status, world.error[0]) == ("failed", OUTCOME_UNKNOWN)

    async def test_a_slow_original_that_resumes_after_being_abandoned_never_calls_meta(self) -> None:
        pacer = StallingPacer()
        world = World(pacer=pacer, fence=FakeFence())
        original = asyncio.create_task(world.send())
        while pacer.stalled == 0:  # claimed, now waiting for its slot
            await asyncio.sleep(0)

        world.now = NOW + timedelta(minutes=5)
        await world.send()  # a redelivery abandons its claim, requeues and sends it
        assert (world.status, len(world.graph.calls)) == ("sent", 1)

        pacer.resume.set()
        await original

        assert (world.status, len(world.graph.calls)) == ("sent", 1)
        assert world.notes.kinds() == ["message.status"]  # the one "sent"

    async def test_a_slow_original_refused_its_slot_after_being_abandoned_leaves_the_row_alone(self) -> None:
        world = World(fence=FakeFence())
        claimed = await world.deps.claims.submit(TENANT, world.job.message_id)
        assert claimed is not None
        world.now = NOW + timedelta(minutes=5)
        world.graph.answers.append(GraphError("timeout", error_class=ErrorClass.AMBIGUOUS))
        await world.send()  # abandons the first claim, sends on its own: no answer came back
        assert (world.status, world.error[0]) == ("failed", OUTCOME_UNKNOWN)

        # The first claim's attempt would now put the message back to `queued`: not its row any more.
        moved = await world.store.move(
            TENANT,
            world.job.message_id,
            status="queued",
            now=world.now,
            from_statuses=("sending", "failed"),
            error_code=None,
            error_message=None,
            attempted_at=claimed.job.send_attempted_at,
        )
        assert not moved
        assert world.status == "failed"

    async def test_without_a_shared_store_a_dead_senders_claim_ends_as_today(self) -> None:
        world = World(pacer=StallingPacer(crash=True))  # no Redis: NoFence, no evidence
        with pytest.raises(Crash):
            await world.send()

        world.now = NOW + timedelta(minutes=5)
        await world.send()

        assert world.graph.calls == []
        assert (world.status, world.error[0]) == ("failed", OUTCOME_UNKNOWN)

    async def test_a_fence_down_when_abandoning_ends_as_today(self) -> None:
        fence = FakeFence()
        world = World(pacer=StallingPacer(crash=True), fence=fence)
        with pytest.raises(Crash):
            await world.send()

        fence.down = True
        world.now = NOW + timedelta(minutes=5)
        await world.send()

        assert world.graph.calls == []
        assert (world.status, world.error[0]) == ("failed", OUTCOME_UNKNOWN)


class TestAFenceDownBeforeTheCall:
    """No call without its mark: unmarked, it could later pass for one that never started."""

    async def test_the_reply_is_requeued_and_retried(self) -> None:
        world = World(fence=FakeFence(down=True))

        with pytest.raises(Retry) as later:
            await world.send()

        assert later.value.reason == reasons.FENCE_UNAVAILABLE
        assert (world.status, world.graph.calls, world.notes.events) == ("queued", [], [])

    async def test_on_the_last_attempt_it_fails_as_not_sent(self) -> None:
        world = World(fence=FakeFence(down=True))

        await world.send(attempt=RETRIES + 1)

        assert world.graph.calls == []
        assert (world.status, world.error[0]) == ("failed", reasons.FENCE_UNAVAILABLE)
