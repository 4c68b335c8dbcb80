"""The connection budget's bookkeeping: whatever the order of leases, releases and closes, a server's
connections never exceed its limit and every lease has a connection counted for it."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from omni_common.db.budget import DEFAULT_CONNECTIONS, ServerBudgets, Slot, default_connections

SERVERS = ("a:5432", "b:5432")


class BudgetMachine(RuleBasedStateMachine):
    """Random use of the budget by tenants on two servers; pools may lose connections (errors)."""

    def __init__(self) -> None:
        super().__init__()
        self.budgets = ServerBudgets(limit=3)
        self.slots = [Slot(SERVERS[i % 2]) for i in range(6)]
        self.real = [0] * 6  # connections really open in each pool (what a failed connect leaves)

    @rule(i=st.integers(0, 5))
    def lease(self, i: int) -> None:
        slot = self.slots[i]
        before = self.budgets.used(slot.server)
        if self.budgets.try_lease(slot):
            if slot.conns > self.real[i]:
                self.real[i] += 1  # the pool opens the connection the lease counted
        else:
            assert before == self.budgets.limit
            assert slot.idle == 0

    @rule(i=st.integers(0, 5), lost=st.booleans())
    def release(self, i: int, lost: bool) -> None:
        slot = self.slots[i]
        if slot.leases == 0:
            with pytest.raises(ValueError, match="release without a lease"):
                self.budgets.release(slot)
            return
        if lost and self.real[i]:
            self.real[i] -= 1  # the connection broke and the pool dropped it
        self.budgets.release(slot, self.real[i] if slot.leases == 1 else None)

    @precondition(lambda self: any(s.leases == 0 and s.conns for s in self.slots))
    @rule(data=st.data())
    def close_idle_pool(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from([k for k, s in enumerate(self.slots) if s.leases == 0 and s.conns]))
        self.budgets.closed(self.slots[i])
        self.real[i] = 0

    @invariant()
    def servers_stay_within_their_limit(self) -> None:
        for server in SERVERS:
            counted = sum(s.conns for s in self.slots if s.server == server)
            assert counted == self.budgets.used(server) <= self.budgets.limit

    @invariant()
    def every_lease_has_a_connection_and_nothing_real_is_uncounted(self) -> None:
        for slot, real in zip(self.slots, self.real, strict=True):
            assert 0 <= slot.leases <= slot.conns
            assert real <= slot.conns


TestBudgetMachine = BudgetMachine.TestCase


def test_a_leased_pool_cannot_be_closed_and_limits_are_positive() -> None:
    budgets = ServerBudgets(limit=1)
    slot = Slot("a:5432")
    assert budgets.try_lease(slot)
    with pytest.raises(ValueError, match="unleased"):
        budgets.closed(slot)
    with pytest.raises(ValueError, match="at least 1"):
        ServerBudgets(limit=0)


def test_the_default_budgets_of_one_replica_of_everything_leave_room_on_a_default_server() -> None:
    catalog_pools = 3 * 6  # every process's catalog engine (pool 1 + overflow 2)
    sessions = 2  # the router's LISTEN and the monitor's advisory lock
    assert sum(DEFAULT_CONNECTIONS.values()) + catalog_pools + sessions <= 70
    assert default_connections("cli") == 4
