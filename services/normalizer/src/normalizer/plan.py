"""How a batch of one tenant's events is written, decided from the events and their accounts (no I/O).

New messages go first and together (four statements for all of them). Then the rest (reactions,
edits, deletes, replies, repeats) one by one, in order, so they find a message of the same batch.
Statuses last, in one statement per channel: an outbound echo in the same batch is then already there
for its status, and statuses only move forward, so the order among them is kept; a second status of
the same message in the batch is applied one by one after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from normalizer.model import AccountKey, AccountRow, NewMessage
from omni_common.broker.outcomes import DeadLetter
from omni_common.channels.inbound import InboundMessage, NormalizedEvent, StatusUpdate
from omni_common.contracts import RoutedEvent, reasons
from omni_common.domain.accounts import receives
from omni_common.domain.channels import Channel


class Step(NamedTuple):
    """One normalized item written on its own, and the event (by position) it came from."""

    position: int
    event: RoutedEvent
    account: AccountRow
    item: NormalizedEvent


@dataclass(frozen=True)
class BatchPlan:
    """What a batch writes, in the order it writes it."""

    refused: dict[int, DeadLetter] = field(default_factory=dict)  # by event position
    accounts: dict[AccountKey, AccountRow] = field(default_factory=dict)  # the usable ones, touched last
    fresh: list[tuple[int, NewMessage]] = field(default_factory=list)
    one_by_one: list[Step] = field(default_factory=list)
    statuses: dict[Channel, list[tuple[int, StatusUpdate]]] = field(default_factory=dict)  # distinct ids
    status_repeats: list[Step] = field(default_factory=list)

    @property
    def one_statement(self) -> bool:
        """Only distinct statuses of one channel, on accounts whose webhook time is already recorded:
        one UPDATE, atomic on its own (BEGIN and COMMIT would be two more round trips)."""
        if self.fresh or self.one_by_one or self.status_repeats or len(self.statuses) != 1:
            return False
        return all(a.webhook_recorded for a in self.accounts.values())


def usable(account: AccountRow | None, event: RoutedEvent) -> AccountRow | DeadLetter:
    """The account if its events may be written; else the dead letter that says why."""
    if account is None:
        # The catalog routed it here but the tenant has no such account: never write.
        return DeadLetter(reasons.ACCOUNT_NOT_IN_TENANT, f"{event.channel} account {event.account_id}")
    if not receives(account.status, account.is_active):
        return DeadLetter(reasons.CHANNEL_DISABLED, f"{event.channel} account {event.account_id} is disabled")
    return account


def plan_batch(
    events: list[RoutedEvent],
    normalized: dict[int, list[NormalizedEvent]],
    found: dict[AccountKey, AccountRow],
) -> BatchPlan:
    """Sort the items of ``normalized`` (event position -> its items) by how they are written."""
    plan = BatchPlan()
    checked: dict[AccountKey, AccountRow | DeadLetter] = {}
    fresh_ids: set[tuple[str, str]] = set()
    status_ids: set[tuple[str, str]] = set()
    for i, items in normalized.items():
        event = events[i]
        key = (event.channel, event.account_id)
        if key not in checked:
            checked[key] = usable(found.get(key), event)
        account = checked[key]
        if isinstance(account, DeadLetter):
            plan.refused[i] = account
            continue
        plan.accounts[key] = account
        for item in items:
            if isinstance(item, StatusUpdate):
                ref = (event.channel, item.external_message_id)
                if ref in status_ids:
                    plan.status_repeats.append(Step(i, event, account, item))
                else:
                    status_ids.add(ref)
                    plan.statuses.setdefault(event.channel, []).append((i, item))
            elif (
                isinstance(item, InboundMessage)
                and item.reply_to_external_id is None
                and (event.channel, item.external_message_id) not in fresh_ids
            ):
                fresh_ids.add((event.channel, item.external_message_id))
                plan.fresh.append((i, NewMessage(event.tenant_id, event.channel, account, item)))
            else:
                plan.one_by_one.append(Step(i, event, account, item))
    return plan
