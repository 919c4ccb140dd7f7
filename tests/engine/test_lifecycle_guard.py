"""Lifecycle in the engine: the Kalshi feed, the guard, the detector and the tenant's orders and
positions, against the local Kalshi over loopback (no Ray: the guard is what the arbiter runs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.lifecycle import MarketPhase
from arbiter.core.pairs import Pair
from arbiter.core.positions import PositionBook
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.core.units import PRICE_SCALE, parse_price, parse_size
from arbiter.execution.lifecycle import LifecycleGuard
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.base import Action, ExchangeClient, OrderRequest, OrderStatus
from arbiter.venues.kalshi.ws import KalshiFeed
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from tests.sim.polymarket.conftest import KEY_A, funded_exchange, one_market_spec
from tests.venues.kalshi.support import TRADER, client_for, make_key
from tests.venues.kalshi.test_rest import req
from tests.venues.kalshi.test_ws import config, eventually, running

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TICKER = "KXSTATIC-A"


@dataclass
class _Executor:
    positions: PositionBook = field(default_factory=PositionBook)


@dataclass
class Tenant:
    name: str
    clients: dict[str, ExchangeClient]
    executor: _Executor = field(default_factory=_Executor)


@pytest.mark.integration
async def test_pause_close_and_settlement_reach_detection_orders_and_positions(
    sim: KalshiSim,
) -> None:
    detector = Detector([Pair("p", TICKER, "111", "222")], DetectionConfig())
    async with client_for(sim) as client:
        tenant = Tenant("t1", {"kalshi": client})
        guard = LifecycleGuard(detector, lambda: [tenant])
        feed = KalshiFeed(config(sim), make_key(TRADER).signer(), [TICKER],
                          on_lifecycle=guard.on_update, on_lifecycle_error=guard.on_error)
        feed.books[TICKER] = detector.kalshi_book(TICKER)
        async with running(feed):
            assert await feed.wait_synced(15)
            resting = await client.place_order(req("r1", price=3000))
            # we hold 10 YES bought at 0.40 (as the executor would have recorded it)
            tenant.executor.positions.apply_fill("kalshi", TICKER, Outcome.YES, "buy", 10 * ONE,
                                                 4000 * 10 * ONE)
            sim.lifecycle(TICKER, "deactivate")
            await eventually(lambda: detector.halted(TICKER) is not None)
            assert "inactive" in (detector.halted(TICKER) or "")
            await guard.drain()
            assert (await client.get_order(resting.order_id)).status is OrderStatus.CANCELED
            sim.lifecycle(TICKER, "activate")
            await eventually(lambda: detector.halted(TICKER) is None)
            sim.settle(TICKER, "yes")
            await eventually(lambda: feed.phases.get(TICKER) is MarketPhase.FINALIZED)
            assert detector.halted(TICKER) is not None
            pos = tenant.executor.positions.get("kalshi", TICKER, Outcome.YES)
            assert pos.settled and pos.size == 0
            assert pos.realised == 10 * ONE * (PRICE_SCALE - 4000)  # $6.00 on 10 at 0.40
            sim.publish_lifecycle(sim.exchange.settle_events(TICKER, "yes"))  # a repeat pays once
            await eventually(lambda: feed.stats.lifecycle >= 6)
            assert pos.realised == 10 * ONE * (PRICE_SCALE - 4000)
        assert any("settled yes for t1" in line for line in guard.log)


@pytest.mark.integration
async def test_a_market_not_active_at_start_is_never_traded(sim: KalshiSim) -> None:
    detector = Detector([Pair("p", TICKER, "111", "222")], DetectionConfig())
    guard = LifecycleGuard(detector, lambda: [])
    sim.exchange.close(TICKER)
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), [TICKER],
                      on_lifecycle=guard.on_update, on_lifecycle_error=guard.on_error)
    async with running(feed):
        await eventually(lambda: feed.phases.get(TICKER) is MarketPhase.CLOSED)
        assert "closed" in (detector.halted(TICKER) or "")


@pytest.mark.integration
async def test_a_lifecycle_message_we_cannot_read_halts_the_market(sim: KalshiSim) -> None:
    detector = Detector([Pair("p", TICKER, "111", "222")], DetectionConfig())
    guard = LifecycleGuard(detector, lambda: [])
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), [TICKER],
                      on_lifecycle=guard.on_update, on_lifecycle_error=guard.on_error)
    async with running(feed):
        assert await feed.wait_synced(15)
        sim.publish_lifecycle([{"market_ticker": TICKER, "event_type": "suspended"}])
        await eventually(lambda: detector.halted(TICKER) is not None)
        assert "unknown lifecycle event 'suspended'" in (detector.halted(TICKER) or "")


@pytest.mark.integration
async def test_a_fee_change_while_running_halts_the_pair_until_its_fees_are_re_read(
    sim: KalshiSim,
) -> None:
    """``event_fee_update`` (docs /websockets/market-and-event-lifecycle) on the pair's event:
    the pair stops at once; the feed re-reads the schedule (series + event override) and the
    pair trades again only when the venue charges what the pairs file states."""
    pair = Pair("p", TICKER, "111", "222")
    detector = Detector([pair], DetectionConfig())
    guard = LifecycleGuard(detector, lambda: [])
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), [TICKER],
                      fees={TICKER: pair.kalshi_fees}, backoff_s=0.01,
                      on_lifecycle=guard.on_update, on_lifecycle_error=guard.on_error)
    feed.books[TICKER] = detector.kalshi_book(TICKER)
    async with running(feed):
        assert await feed.wait_synced(15)
        assert detector.halted(TICKER) is None
        # maker fees on the event: not what detection prices with -> halted, and stays so
        sim.set_event_fees("KXSTATIC", "quadratic_with_maker_fees", "1")
        await eventually(lambda: detector.halted(TICKER) is not None)
        assert "fee override of event KXSTATIC changed" in (detector.halted(TICKER) or "")
        await eventually(lambda: "pairs refresh" in feed.fee_halted.get(TICKER, ""))
        assert "quadratic_with_maker_fees" in feed.fee_halted[TICKER]
        # the venue says the market is active: not enough while its fees are unconfirmed
        sim.publish_lifecycle([{"market_ticker": TICKER, "event_type": "activated"}])
        await eventually(lambda: feed.stats.lifecycle >= 1)
        assert detector.halted(TICKER) is not None
        # the override now equals the pair's schedule: re-read, confirmed, trading again
        sim.set_event_fees("KXSTATIC", "quadratic", "1")
        await eventually(lambda: detector.halted(TICKER) is None)
        assert TICKER not in feed.fee_halted
        # cleared (both overrides null): back to the series' quadratic x 1, still fine
        sim.set_event_fees("KXSTATIC", None)
        await eventually(lambda: feed.stats.fee_changes == 3)
        await eventually(lambda: detector.halted(TICKER) is None and not feed.fee_halted)
    assert sum("fee override of event KXSTATIC" in line for line in guard.log) == 3


def test_event_fee_frames_are_read_as_the_docs_state(sim: KalshiSim) -> None:
    """The AsyncAPI example frame; an event we do not trade is ignored; a frame missing a
    required key is malformed (counted), never read as "cleared"."""
    feed = KalshiFeed(config(sim), None, [TICKER], fees={TICKER: Pair("p", TICKER, "1", "2")
                                                            .kalshi_fees})
    feed.event_markets["KXSTATIC"] = {TICKER}
    halted: list[tuple[str, str]] = []
    feed.on_lifecycle_error = lambda t, why: halted.append((t, why))
    feed.process('{"type": "event_fee_update", "sending_ts_ms": 1669149841234, "sid": 5, '
                 '"seq": 9, "msg": {"event_ticker": "KXBTCD-26MAY2018", '
                 '"fee_type_override": "quadratic", "fee_multiplier_override": 1}}')
    assert halted == [] and feed.stats.malformed == 0
    feed.process('{"type": "event_fee_update", "sid": 5, "seq": 10, "msg": '
                 '{"event_ticker": "KXSTATIC", "fee_type_override": null}}')
    assert halted == [] and feed.stats.malformed == 1
    feed.process('{"type": "event_fee_update", "sid": 5, "seq": 11, "msg": '
                 '{"event_ticker": "KXSTATIC", "fee_type_override": "flat", '
                 '"fee_multiplier_override": 0.5}}')
    assert halted and halted[0][0] == TICKER and "flat x 0.5" in halted[0][1]
    assert feed.fee_halted[TICKER].startswith("fee override of event KXSTATIC changed")


@pytest.mark.integration
async def test_a_resolved_polymarket_market_cancels_our_resting_orders() -> None:
    """``market_resolved`` -> the guard cancels every tenant's resting orders on the market's
    tokens (the local venue is not told of the resolution here, so only our cancel can do it),
    and leaves orders on other markets alone."""
    exchange = funded_exchange(one_market_spec())
    sim = PolymarketSim(exchange, scenario=None, seed=7, step_ms=50)
    await sim.start()
    market = next(iter(exchange.markets.values()))
    client = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": KEY_A}), sim.url)
    try:
        resting = await client.place_order(OrderRequest(
            market=market.yes_token, outcome=Outcome.YES, action=Action.BUY,
            price=parse_price("0.30"), size=parse_size("10"), client_order_id="rest-1"))
        assert resting.status is OrderStatus.OPEN
        detector = Detector([Pair("p", TICKER, market.yes_token, market.no_token)],
                            DetectionConfig())
        tenant = Tenant("t1", {"polymarket": client})
        guard = LifecycleGuard(detector, lambda: [tenant])
        guard.on_polymarket_resolved("0xother", ["999"])  # another market: nothing to cancel
        await guard.drain()
        assert (await client.get_order(resting.order_id)).status is OrderStatus.OPEN
        guard.on_polymarket_resolved(market.condition_id, [market.yes_token, market.no_token])
        await guard.drain()
        assert (await client.get_order(resting.order_id)).status is OrderStatus.CANCELED
        assert any(f"cancelled {resting.order_id} of t1" in line for line in guard.log)
    finally:
        await client.close()
        await sim.stop()
