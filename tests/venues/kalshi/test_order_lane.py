"""Creates through the order lane against the local Kalshi: same answers, same exactly-once."""

from __future__ import annotations

import asyncio

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import (
    NotFoundError,
    OrderStatus,
    RejectedError,
    TimeInForce,
    TransientError,
    submit,
)
from arbiter.venues.kalshi.rest import KalshiRestClient
from tests.venues.kalshi.support import TRADER, client_for
from tests.venues.kalshi.test_rest import TICKER, faults, req

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


async def _laned(sim: KalshiSim, **options: object) -> KalshiRestClient:
    client = client_for(sim, **options)
    await client.open_order_lane(size=2)
    return client


def _count(sim: KalshiSim, cid: str) -> int:
    ex = sim.exchange
    return sum(1 for oid in ex.accounts[TRADER].order_ids if ex.orders[oid].client_order_id == cid)


async def test_submit_is_on_the_wire_before_it_returns(sim: KalshiSim) -> None:
    async with await _laned(sim) as client:
        lane = client.order_lane
        assert lane is not None and lane.idle == 2
        pending = submit(client, req("lane-1", price=4100, size=5, tif=TimeInForce.IOC))
        assert lane.sent == 1 and lane.idle == 1  # written synchronously, no loop turn yet
        ack = await pending
        assert ack.status is OrderStatus.FILLED and ack.filled == 5_000_000
        for i in range(5):  # kept alive: later creates reuse the same two sockets
            assert (await client.place_order(req(f"rest-{i}"))).status is OrderStatus.OPEN
        assert lane.sent == 6 and lane.misses == 0
        assert len(await client.open_orders(TICKER)) == 5


async def test_typed_errors_are_the_same_through_the_lane(sim: KalshiSim) -> None:
    async with await _laned(sim) as client:
        with pytest.raises(NotFoundError) as nf:
            await client.place_order(req("x1", market="KXNOPE"))
        assert nf.value.code == "market_not_found"
        with pytest.raises(RejectedError) as rej:
            await client.place_order(req("x2", price=3050))
        assert rej.value.code == "invalid_price"
        assert client.order_lane is not None and client.order_lane.sent == 2


async def test_lost_answer_on_the_lane_places_exactly_one_order(sim: KalshiSim) -> None:
    async with await _laned(sim) as client:
        await faults(sim, http_burst=[503, 1], http_burst_methods=["POST"], http_burst_after=True)
        ack = await client.place_order(req("once-1"))
        assert ack.status is OrderStatus.OPEN and _count(sim, "once-1") == 1
        await faults(sim, http_burst=[502, 1], http_burst_methods=["POST"], http_burst_after=True)
        ioc = await client.place_order(req("ioc-1", price=4100, size=5, tif=TimeInForce.IOC))
        assert ioc.filled == 5_000_000 and _count(sim, "ioc-1") == 1
        await faults(sim, http_burst=[503, 2], http_burst_methods=["POST"])
        late = await client.place_order(req("late-1"))  # refused before it reached the book
        assert late.status is OrderStatus.OPEN and _count(sim, "late-1") == 1


async def test_busy_lane_falls_back_to_the_pooled_client(sim: KalshiSim) -> None:
    async with await _laned(sim) as client:
        acks = await asyncio.gather(*(client.place_order(req(f"c-{i}")) for i in range(6)))
        assert len({a.order_id for a in acks}) == 6
        lane = client.order_lane
        assert lane is not None and lane.sent == 2 and lane.misses == 4
        assert all(_count(sim, f"c-{i}") == 1 for i in range(6))


async def test_lane_timeout_is_an_unknown_outcome_resolved_by_lookup(sim: KalshiSim) -> None:
    async with await _laned(sim, timeout_s=0.2, max_retries=0) as client:
        await faults(sim, latency_ms=400)
        with pytest.raises(TransientError) as slow:
            await client.place_order(req("slow-1"))
        assert slow.value.code == "timeout"
        await faults(sim, reset=True)
        await asyncio.sleep(0.4)
        # the lane closed the socket it gave up on, and the venue had not read the body yet:
        # no order, and the lookup the executor makes next says so (never a blind resend)
        with pytest.raises(NotFoundError):
            await client.get_order(client_order_id="slow-1")
        assert _count(sim, "slow-1") == 0
        assert (await client.place_order(req("after-1"))).status is OrderStatus.OPEN


async def test_lane_needs_credentials(sim: KalshiSim) -> None:
    from arbiter.venues.base import AuthError
    from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv

    bare = KalshiRestClient(KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url))
    async with bare:
        with pytest.raises(AuthError):
            await bare.open_order_lane()
