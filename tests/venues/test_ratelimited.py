"""RateLimitedClient: the deployment's limiter decides before any request leaves the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.core.book import Outcome
from arbiter.core.ratelimit import SECOND_NS, RateLimiter
from arbiter.core.saga import Ending
from arbiter.core.units import Price, Size
from arbiter.execution.executor import SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.venues.base import (
    Action,
    DryRunClient,
    ExchangeClient,
    OrderRequest,
    RateLimitedError,
    TimeInForce,
    unwrap,
)
from arbiter.venues.ratelimited import RateLimitedClient
from tests.execution.factories import PAIR, C, opportunity
from tests.execution.fakes import FakeVenue
from tests.execution.test_executor import FAST, world

K = PAIR.kalshi_ticker


class Clock:
    def __init__(self) -> None:
        self.now = 10 * SECOND_NS

    def __call__(self) -> int:
        return self.now


def order(cid: str) -> OrderRequest:
    return OrderRequest(K, Outcome.YES, Action.BUY, Price(4000), Size(C), cid, TimeInForce.IOC)


def limited(venue: FakeVenue, clock: Clock, burst: int) -> RateLimitedClient:
    limiter = RateLimiter(clock())
    limiter.add_tenant("alice", orders_per_second=1, order_burst=burst, now_ns=clock())
    return RateLimitedClient(venue, limiter, "alice", clock)


async def test_the_order_past_the_burst_is_refused_and_never_sent() -> None:
    venue = FakeVenue("kalshi")
    venue.add_liquidity(K, Outcome.YES, "ask", 4000, 100 * C)
    clock = Clock()
    client = limited(venue, clock, burst=3)
    assert isinstance(client, ExchangeClient) and client.venue == "kalshi"
    for i in range(3):
        await client.place_order(order(f"ok-{i}"))
    with pytest.raises(RateLimitedError) as refused:
        await client.place_order(order("refused"))
    assert refused.value.retry_after == 1.0  # one order per second: the next token is 1 s away
    assert refused.value.status is None  # answered locally, no HTTP exchange happened
    assert "refused" not in venue.submissions and sum(venue.submissions.values()) == 3
    assert "refused" not in venue.by_cid
    clock.now += SECOND_NS // 2
    with pytest.raises(RateLimitedError) as again:
        await client.place_order(order("still-early"))
    assert again.value.retry_after == 0.5
    clock.now += SECOND_NS // 2
    await client.place_order(order("after-refill"))
    assert venue.submissions["after-refill"] == 1
    # reads are charged against the venue key's read budget, not the tenant's order budget
    assert (await client.get_order(client_order_id="after-refill")).client_order_id == "after-refill"
    await client.close()


async def test_a_venue_429_drains_the_budget_for_everyone_on_it() -> None:
    class Throttling(FakeVenue):
        async def balance(self) -> int:  # type: ignore[override]
            raise RateLimitedError("too_many_requests", "slow down", 429)

    clock = Clock()
    client = limited(Throttling("kalshi"), clock, burst=5)
    with pytest.raises(RateLimitedError) as venue_said:
        await client.balance()
    assert venue_said.value.status == 429
    with pytest.raises(RateLimitedError) as local:  # backed off: refused without asking the venue
        await client.positions()
    assert local.value.status is None and local.value.retry_after is not None
    assert local.value.retry_after > 0


async def test_a_refused_order_in_a_saga_is_rejected_at_once_not_resent(tmp_path: Path) -> None:
    wd = world(tmp_path)
    clock = Clock()
    # time stands still: one order token in all, and read budgets deep enough for every lookup
    limiter = RateLimiter(clock(), kalshi_tier="prime")
    limiter.add_tenant("alice", orders_per_second=1, order_burst=1, now_ns=clock())
    clients = {v: RateLimitedClient(c, limiter, "alice", clock) for v, c in wd.clients.items()}
    with Journal(wd.path, tenant="alice") as j:
        ex = SagaExecutor(j, clients, {PAIR.name: PAIR}, config=FAST)
        saga = (await ex.submit(opportunity())).saga
        assert saga is not None
        # leg 1 used the only token; leg 2 was refused locally (rejected without a lookup:
        # nothing left the process), and leg 1's unwind was refused as well: nothing was ever
        # sent twice, nothing left open
        assert saga.ending is Ending.FAILED
        l2 = saga.orders["L2"].final
        assert l2 is not None and (l2.status, l2.source) == ("rejected", "rejected")
        assert "local_rate_limit" in l2.detail
        assert all(o.final is not None and o.final.source != "absent" for o in saga.orders.values())
        assert "unknown" not in {kind for kind, _ in j.raw_events(saga.saga_id)}
        assert j.unfinished() == []
        assert wd.all_orders_unique()
        assert sum(wd.kalshi.submissions.values()) + sum(wd.poly.submissions.values()) == 1
    await wd.kalshi.close()
    await wd.poly.close()


def test_unwrap_finds_the_venue_client_under_every_wrapper() -> None:
    venue = FakeVenue("polymarket")
    clock = Clock()
    wrapped = DryRunClient(limited(venue, clock, burst=1))
    assert unwrap(wrapped) is venue
    assert unwrap(venue) is venue


async def test_after_a_refusal_the_saga_waits_for_a_token_and_hedges(tmp_path: Path) -> None:
    """A refused leg 2 must not burn the hedge attempts on instant refusals: the executor waits
    the limiter's ``retry_after`` and the completing order then gets a token."""
    import time

    wd = world(tmp_path)
    limiter = RateLimiter(time.time_ns(), kalshi_tier="prime")
    # one token, refilled every 50 ms: leg 1 takes it, leg 2 is refused, the hedge waits
    limiter.add_tenant("alice", orders_per_second=20, order_burst=1, now_ns=time.time_ns())
    clients = {v: RateLimitedClient(c, limiter, "alice") for v, c in wd.clients.items()}
    with Journal(wd.path, tenant="alice") as j:
        ex = SagaExecutor(j, clients, {PAIR.name: PAIR}, config=FAST)
        saga = (await ex.submit(opportunity())).saga
        assert saga is not None
        l2 = saga.orders["L2"].final
        assert l2 is not None and l2.status == "rejected" and "local_rate_limit" in l2.detail
        assert saga.ending is not Ending.FAILED, saga.describe()
        assert wd.all_orders_unique() and j.unfinished() == []
    await wd.kalshi.close()
    await wd.poly.close()
