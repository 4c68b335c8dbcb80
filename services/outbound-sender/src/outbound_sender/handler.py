"""Send one queued message through its conversation's account: checks, pacing, the call, the outcome.

Any outbound kind: text, reaction, WhatsApp template, file (uploaded first, ``upload.py``); what may
go when, and with which tag, is ``content.py`` (the one window rule of ``domain.reply_window``).
Template refusals (132000-132016, 132068/132069) fail at once with a plain reason and an owner's
notice; never retried.

Never sent twice: the attempt is claimed (``sending``, committed) before it is paced, and marks its
claim ``started`` in the fence (``fence.py``) right before Meta is called. A redelivery that finds
``sending`` calls Meta again only for a claim it could mark ``abandoned`` (its call never started).
Meta's answer is kept in the acceptance journal (``journal.py``) the moment it arrives: a redelivery
caused by our side (the database busy or down, a channel closed by our own error) completes the send
from it. Only a call that started and whose answer never came (a timeout or reset after the request
left, a crash before the answer reached the journal), or any ``sending`` left by a crash without
Redis (no fence then), ends ``failed`` with ``outcome_unknown`` ("may have been delivered"); staff
decide whether to send it again. Collaborators come in through ``SenderDeps`` (``deps.py``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from datetime import datetime

import structlog

from omni_common.broker.outcomes import DeadLetter, Retry
from omni_common.contracts import SendReply, reasons
from omni_common.db.trouble import DATABASE_TROUBLE
from omni_common.domain.accounts import reauth_reason
from omni_common.errors import DecryptionError
from omni_common.graph import ErrorClass, GraphError, PayloadError, plain_reason
from omni_common.tenancy.accounts import AccountNotFound
from outbound_sender.backoff import Action, decide, is_last_attempt
from outbound_sender.content import check_payload, content_of, needs_upload, refusal
from outbound_sender.deps import SenderDeps
from outbound_sender.fence import Claim, FenceUnavailable
from outbound_sender.journal import Answer
from outbound_sender.metrics import SENDS
from outbound_sender.notify import emit
from outbound_sender.policy import account_key, pacing_checks, pair_key
from outbound_sender.store import Accepted, SendJob
from outbound_sender.upload import tell_owner_template_refused, upload, upload_failure

__all__ = ["OUTCOME_UNKNOWN", "OUTCOME_UNKNOWN_REASON", "handle_send", "refusal"]

log = structlog.get_logger(__name__)

# A send whose outcome cannot be known ends ``failed`` with this code and reason, never resent: the
# code tells it apart from a refusal (the inbox shows it as "may have been delivered").
OUTCOME_UNKNOWN = "outcome_unknown"
OUTCOME_UNKNOWN_REASON = (
    "may have been delivered — Meta did not confirm whether it accepted this reply, so it was not "
    "resent (to avoid a duplicate); check with the customer before sending it again"
)
RATE_LIMITED_REASON = "Meta is limiting how fast we can send and the retries are spent — send it again later"
NOT_SENT_REASON = "not sent — the sender could not make sure it would go only once; send it again"
CREDENTIALS_REASON = "the account's stored token cannot be read — the owner must reconnect the account"


def _error_code(err: GraphError) -> str:
    return str(err.code) if err.code is not None else err.error_class.value


async def handle_send(
    deps: SenderDeps, command: SendReply, *, attempt: int, correlation_id: str | None
) -> None:
    """Handle one ``SendReply``; returns when the outcome is committed, raises Retry/DeadLetter otherwise."""
    bound = log.bind(
        tenant_id=str(command.tenant_id),
        channel=command.channel,
        chat_message_id=str(command.message_id),
        correlation_id=correlation_id,
        attempt=attempt,
    )
    send = _Send(deps, command, bound, attempt)
    await send.run()


class _Send:
    """One attempt; a class only to keep the shared context out of every helper's signature."""

    def __init__(
        self, deps: SenderDeps, command: SendReply, log_: structlog.BoundLogger, attempt: int
    ) -> None:
        self.deps = deps
        self.cmd = command
        self.log = log_
        self.attempt = attempt
        self.last = is_last_attempt(attempt, deps.retry_delays)
        self.resent = False  # a claim abandoned by this attempt was requeued and claimed again

    async def run(self) -> None:
        deps, cmd = self.deps, self.cmd
        # Claim first (queued -> sending, committed): from here on a crash leads to a resend only if the
        # claim's fence proves its call never started (``_start``, ``_reconcile``).
        claimed = await deps.claims.submit(cmd.tenant_id, cmd.message_id)
        if claimed is None:
            await self._not_claimable()
            return
        job = claimed.job
        attempted_at = job.send_attempted_at or deps.clock()
        refused = refusal(job, attempted_at)
        if refused is not None:
            await self._finish(job, "failed", ("sending",), refused[0], refused[1])
            return
        try:  # validate the request before Meta is called: a bad one never reaches Meta
            check_payload(job, attempted_at)
        except PayloadError as exc:
            await self._finish(job, "failed", ("sending",), "invalid_message", str(exc))
            return
        try:
            token = deps.tokens.get(cmd.tenant_id, job.account_id, claimed.credentials)
        except (DecryptionError, AccountNotFound) as exc:
            # Retrying cannot fix a token we cannot read (key removed from the ring, no credentials).
            self.log.error("credentials_unreadable", error=type(exc).__name__)
            await self._finish(job, "failed", ("sending",), "credentials_unreadable", CREDENTIALS_REASON)
            return
        ref: str | None = None
        if needs_upload(job, attempted_at):  # a file Meta does not hold yet (or any more)
            ref = await self._upload(job, token)
            if ref is None:
                return
        content = content_of(job, attempted_at, ref=ref)
        # Pace last, right before the call: a slot taken earlier (before the claim's wait for a
        # connection) let requests that left the pacer evenly reach Meta bunched.
        if not await self._pace(job) or not await self._start(job, attempted_at):
            return
        try:
            result = await deps.graph.send_message(
                job.channel,
                job.account_external_id,
                token,
                to=job.recipient,
                text=job.text or "",
                reply_to_external_id=job.reply_to_external_id,
                kind=job.kind,
                template=content.template,
                media=content.media,
                tag=content.tag,
            )
        except GraphError as err:
            await self._on_error(job, err)
            return
        # platform_timestamp is our attempt time, before Meta's own clock read it: Messenger's read
        # watermark then covers this message.
        answer = Answer(result.external_message_id, attempted_at)
        # Meta's answer is known from here on: kept apart from the database first, so a failure to
        # record it below (ours, not Meta's) can never turn into "may have been delivered".
        await deps.journal.remember(cmd.tenant_id, job.message_id, answer)
        if deps.after_accept is not None:
            await deps.after_accept()
        await self._record_sent(job, answer)

    async def _upload(self, job: SendJob, token: str) -> str | None:
        """Meta's id of the job's uploaded file; None when the message is settled (or another attempt
        owns it) instead."""
        attempted_at = job.send_attempted_at or self.deps.clock()
        done = await upload(self.deps, self.cmd.tenant_id, job, token, attempted_at=attempted_at)
        if done.ref is not None:
            return done.ref
        if done.lost:
            self.log.info("upload_superseded")  # requeued by a later delivery meanwhile: it sends
            return None
        if done.problem is not None:
            await self._finish(job, "failed", ("sending",), "file_missing", done.problem)
            return None
        err = done.error
        assert err is not None
        self.log.warning(
            "upload_error", error_class=err.error_class.value, code=err.code, subcode=err.subcode
        )
        if err.error_class is ErrorClass.AUTH:
            await self._reauth(job, err)
            return None
        failure = upload_failure(err, last=self.last)
        if failure.retry:
            await self._finish(job, "queued", ("sending",), _error_code(err), failure.reason, announce=False)
            raise Retry(err.error_class.value, f"upload code={err.code}")
        await self._finish(job, "failed", ("sending",), _error_code(err), failure.reason)
        return None

    async def _record_sent(self, job: SendJob, answer: Answer) -> None:
        """Commit ``sent`` with the platform id, retried a while when the database is busy or down.

        Past ``accept_retry_s`` the message goes back through the delay queues; its redelivery finds
        the answer in the journal and completes it (``_not_claimable``).
        """
        deps, cmd = self.deps, self.cmd
        accepted = Accepted(job, answer.external_message_id, platform_timestamp=answer.platform_timestamp)
        deadline = time.monotonic() + deps.accept_retry_s
        delay = 0.2
        while True:
            try:
                await deps.accepts.submit(cmd.tenant_id, accepted)
                break
            except DATABASE_TROUBLE as exc:
                if time.monotonic() + delay > deadline:
                    self.log.warning(
                        "acceptance_not_recorded_yet", error=f"{type(exc).__name__}: {exc}"[:200]
                    )
                    raise Retry(
                        reasons.TENANT_DB_UNAVAILABLE, "Meta accepted the reply; recording it is retried"
                    ) from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        await deps.journal.forget(cmd.tenant_id, job.message_id)
        SENDS.labels(job.channel, "sent", "").inc()
        self.log.info("reply_sent", external_message_id=answer.external_message_id)
        await self._announce(job, "sent")

    async def _not_claimable(self) -> None:
        """The claim found nothing: read the message to say why (rare: duplicates, redeliveries)."""
        cmd = self.cmd
        job = await self.deps.store.load(cmd.tenant_id, cmd.message_id)
        if job is None:
            raise DeadLetter(
                reasons.MESSAGE_NOT_FOUND, f"no message {cmd.message_id} in tenant {cmd.tenant_id}"
            )
        if job.direction != "outbound":
            raise DeadLetter(reasons.NOT_OUTBOUND, f"message {cmd.message_id} is {job.direction}")
        if job.status in ("sending", "failed", "unknown"):
            answer = await self.deps.journal.recall(cmd.tenant_id, job.message_id)
            if answer is not None:  # Meta accepted it before; only recording it failed
                self.log.info("acceptance_recovered", external_message_id=answer.external_message_id)
                await self._record_sent(job, answer)
                return
        if job.status == "sending":
            await self._reconcile(job)
            return
        if job.status == "queued":  # changed under us (e.g. retried by another replica): try later
            raise Retry(reasons.CLAIM_RACED, "the message was queued again while being claimed")
        self.log.info("send_skipped", status=job.status)  # a duplicate command: already handled

    async def _pace(self, job: SendJob) -> bool:
        """Wait for the customer's, then the account's slot; False (message settled) if too long.

        The message is already ``sending`` here; a wait beyond ``max_pace_wait_s`` puts it back to
        ``queued`` (no call was made) and defers it through the retry queue instead of holding it.
        """
        deps = self.deps
        checks = pacing_checks(deps.policy, job.channel, job.account_external_id, job.recipient)
        # One reservation for both slots (one Redis round trip); none is taken if either is too far.
        paced = await deps.pacer.acquire_all(checks, deps.max_pace_wait_s)
        if not paced.granted:
            if self.last:
                await self._finish(job, "failed", ("sending",), "rate_limited", RATE_LIMITED_REASON)
                return False
            await self._finish(job, "queued", ("sending",), None, None, announce=False)
            self.log.info("send_paced_later", key=paced.refused_key)
            raise Retry(reasons.PACED, f"pacing {paced.refused_key} needs more than {deps.max_pace_wait_s}s")
        if paced.wait_s:
            self.log.debug("send_paced", waited_s=round(paced.wait_s, 3))
        return True

    async def _start(self, job: SendJob, claimed_at: datetime) -> bool:
        """Mark the claim's call started (``fence.py``), right before it; False: it must not be made."""
        try:
            if await self.deps.fence.start(Claim(self.cmd.tenant_id, job.message_id, claimed_at)):
                return True
        except FenceUnavailable as exc:
            # Unmarked, a call could later pass for one that never started: no call without the mark.
            self.log.warning("send_fence_unavailable", step="start", error=str(exc))
            if self.last:
                await self._finish(job, "failed", ("sending",), reasons.FENCE_UNAVAILABLE, NOT_SENT_REASON)
                return False
            if await self._finish(job, "queued", ("sending",), None, None, announce=False):
                raise Retry(reasons.FENCE_UNAVAILABLE, "the send fence is unreachable") from exc
            return False
        self.log.info("send_superseded")  # abandoned by a redelivery, which requeued it: that one sends
        return False

    async def _reconcile(self, job: SendJob) -> None:
        """A 'sending' message came back: Meta is called again only if the first call never started."""
        now = self.deps.clock()
        started = job.send_attempted_at
        recent = started is not None and (now - started).total_seconds() < self.deps.in_flight_grace_s
        if self.resent:  # requeued by this attempt, then claimed by another at once: that one sends
            return
        if recent and not self.last:
            raise Retry(reasons.SEND_IN_PROGRESS, "another attempt may still be talking to Meta")
        if needs_upload(job, now):
            # Its file's id was never recorded, and it is recorded before the send: the send never
            # started (the attempt stopped while uploading). Sending it is safe.
            if await self._finish(job, "queued", ("sending",), None, None, announce=False):
                raise Retry(reasons.SEND_IN_PROGRESS, "the upload of its file was interrupted")
            return
        if started is not None and await self.deps.fence.abandon(
            Claim(self.cmd.tenant_id, job.message_id, started)
        ):
            # Its call never started and now never will: requeued, and sent by this attempt.
            self.log.info("send_abandoned", claimed_at=started.isoformat())
            if await self._finish(job, "queued", ("sending",), None, None, announce=False):
                self.resent = True
                await self.run()
            return
        await self._outcome_unknown(job, cause="redelivered_while_sending")

    async def _on_error(self, job: SendJob, err: GraphError) -> None:
        deps = self.deps
        decision = decide(
            err.error_class,
            attempt=self.attempt,
            retry_delays=deps.retry_delays,
            retry_after_s=err.retry_after_s,
        )
        if decision.hold_account_s > 0:
            rate = deps.policy.account_rate(job.channel, job.account_external_id)
            await deps.pacer.hold(
                account_key(job.channel, job.account_external_id), decision.hold_account_s, rate
            )
        if decision.hold_pair_s > 0:
            await deps.pacer.hold(
                pair_key(job.channel, job.account_external_id, job.recipient),
                decision.hold_pair_s,
                deps.policy.pair_rate(job.channel),
            )
        reason = plain_reason(err)
        self.log.warning(
            "send_error",
            action=decision.action.value,
            error_class=err.error_class.value,
            code=err.code,
            subcode=err.subcode,
            fbtrace_id=err.fbtrace_id,
        )
        if decision.action is Action.RETRY:
            await self._finish(job, "queued", ("sending",), _error_code(err), reason, announce=False)
            raise Retry(err.error_class.value, f"code={err.code} subcode={err.subcode}")
        if decision.action is Action.UNKNOWN:
            await self._outcome_unknown(job, cause=f"{err.error_class.value}:{_error_code(err)}")
        elif decision.action is Action.REAUTH:
            await self._reauth(job, err)
        else:
            if err.retryable:  # retryable class, but this was the last attempt
                reason = f"{reason.split(' — ')[0]}; gave up after {self.attempt} attempts"
            moved = await self._finish(job, "failed", ("sending",), _error_code(err), reason)
            if moved and err.error_class is ErrorClass.TEMPLATE:
                await tell_owner_template_refused(
                    self.deps, self.cmd.tenant_id, job, _error_code(err), reason
                )

    async def _outcome_unknown(self, job: SendJob, *, cause: str) -> None:
        """The call may have reached Meta: end ``failed``/``outcome_unknown``, never call Meta again."""
        if await self._finish(job, "failed", ("sending",), OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_REASON):
            # Operators look for this event (docs/runbook.md); the cause says why nobody can tell.
            self.log.warning("send_outcome_unknown", cause=cause)

    async def _reauth(self, job: SendJob, err: GraphError) -> None:
        """Token dead: flag the account, fail this and its other queued sends, notify the owner once."""
        deps, cmd = self.deps, self.cmd
        failed = await deps.store.fail_for_reauth(
            cmd.tenant_id,
            job,
            why=err.message,
            error_code=_error_code(err),
            reason=reauth_reason(job.channel),
            now=deps.clock(),
        )
        # Operators alert on this event name.
        self.log.error(
            "account_needs_reauth",
            account_id=job.account_external_id,
            code=err.code,
            subcode=err.subcode,
            failed_pending=len(failed.others),
            first=failed.first,
        )
        await self._announce(job, "failed")
        tell = functools.partial(emit, deps.notify, cmd.tenant_id, chat_id=None)
        for other in failed.others:
            await tell("message.status", message_id=other, data={"status": "failed"})
        for event in failed.events:
            await tell(event.kind, message_id=None, data=event.data)

    async def _finish(
        self,
        job: SendJob,
        status: str,
        from_statuses: tuple[str, ...],
        error_code: str | None,
        reason: str | None,
        *,
        announce: bool = True,
    ) -> bool:
        """Move the message to ``status`` if still in ``from_statuses``; True when it moved."""
        changed = await self.deps.store.move(
            self.cmd.tenant_id,
            job.message_id,
            status=status,
            now=self.deps.clock(),
            from_statuses=from_statuses,
            error_code=error_code,
            error_message=reason,
            attempted_at=job.send_attempted_at,  # only while the row is still this claim's
        )
        if changed:
            SENDS.labels(job.channel, status, error_code or "").inc()
        if changed and status == "failed" and error_code != OUTCOME_UNKNOWN:
            self.log.warning("reply_not_sent", status=status, error_code=error_code, reason=reason)
        if changed and announce:
            await self._announce(job, status)
        return changed

    async def _announce(self, job: SendJob, status: str) -> None:
        data: dict[str, object] = {"status": status}
        await emit(
            self.deps.notify,
            self.cmd.tenant_id,
            "message.status",
            chat_id=job.chat_id,
            message_id=job.message_id,
            data=data,
        )
