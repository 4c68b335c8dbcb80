"""Pacing policy: which rate applies to an account and to one customer of it (pure, from settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from outbound_sender.pacing import Rate

# Meta's published ceilings (meta-api.md §5), kept a little under where the docs disagree.
DEFAULT_ACCOUNT_RATES: dict[str, Rate] = {
    # 80 msg/s per business number by default. GCRA allows rate + burst in any 1-s window, so a burst
    # of 2 keeps every second within 2.5 % of the rate (8 allowed 88 in the first second, +10 %).
    "whatsapp": Rate(80.0, burst=2),
    "facebook": Rate(250.0, burst=25),  # 300 calls/s per Page for text
    "instagram": Rate(100.0, burst=10),  # 100/s is the safe budget
}
# WhatsApp's pair rate is 1 msg / 6 s per customer; Meta tolerates bursts but makes them "borrow"
# quota (a burst of 20 costs ~2 min), so we allow only a small burst a staff member may type.
DEFAULT_PAIR_RATES: dict[str, Rate] = {
    "whatsapp": Rate(1 / 6, burst=4),
    "facebook": Rate(1.0, burst=5),  # "may be rate limited if too many messages to a single thread"
    "instagram": Rate(1.0, burst=5),
}


@dataclass(frozen=True)
class PacingPolicy:
    """Rates per channel, with per-account overrides (e.g. a 1,000 mps or a 20 mps coexistence number)."""

    account_rates: Mapping[str, Rate] = field(default_factory=lambda: dict(DEFAULT_ACCOUNT_RATES))
    pair_rates: Mapping[str, Rate] = field(default_factory=lambda: dict(DEFAULT_PAIR_RATES))
    overrides: Mapping[str, Rate] = field(default_factory=dict)  # external account id -> rate

    def account_rate(self, channel: str, external_account_id: str) -> Rate:
        """The throughput budget of one connected account."""
        return self.overrides.get(external_account_id) or self.account_rates[channel]

    def pair_rate(self, channel: str) -> Rate:
        """The budget for one customer of an account."""
        return self.pair_rates[channel]


def account_key(channel: str, external_account_id: str) -> str:
    """Pacing key of an account (platform ids are unique across tenants, see the catalog)."""
    return f"acct:{channel}:{external_account_id}"


def pair_key(channel: str, external_account_id: str, recipient: str) -> str:
    """Pacing key of one customer of an account."""
    return f"pair:{channel}:{external_account_id}:{recipient.removeprefix('+')}"


def pacing_checks(
    policy: PacingPolicy, channel: str, external_account_id: str, recipient: str
) -> tuple[tuple[str, Rate], ...]:
    """The (key, rate) slots a send must take, in order: the account's, then the customer's.

    Both are taken after the claim, right before the call. The account goes first: while Meta holds
    the account (429 with a regain-access estimate), each attempt that had already taken a customer
    slot wasted it and pushed that customer's next slot later, so retries ran out inside the hold
    (tests/chaos/test_chaos_outbound.py: 48 of 500 replies sent, against 463 in this order).
    Customers' waits are short in practice (one slot per customer every few seconds), so the
    account's slot still lands right before the call.
    """
    return (
        (account_key(channel, external_account_id), policy.account_rate(channel, external_account_id)),
        (pair_key(channel, external_account_id, recipient), policy.pair_rate(channel)),
    )


def parse_overrides(spec: str) -> dict[str, Rate]:
    """``"ID=RATE[/BURST],..."`` (e.g. ``"106540352242922=20/2"``) into per-account rates."""
    result: dict[str, Rate] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        account, _, value = part.partition("=")
        rate, _, burst = value.partition("/")
        if not account.strip() or not rate.strip():
            raise ValueError(f"bad pacing override {part!r}: expected ID=RATE[/BURST]")
        result[account.strip()] = Rate(float(rate), burst=int(burst) if burst.strip() else 1)
    return result
