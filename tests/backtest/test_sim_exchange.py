"""Simulated exchange: taker walks, partial fills, FIFO queue position, latency, accounting."""

from __future__ import annotations

import asyncio

import pytest

from arbiter.backtest.clock import SimClock
from arbiter.backtest.sim_exchange import (
    DistributionLatency,
    FixedLatency,
    QueueModel,
    RecordedLatency,
    SimExchange,
    latency_from_spec,
)
from arbiter.core.book import KalshiBook, Outcome, Side, TokenBook
from arbiter.core.fees import KalshiFeeModel, PolymarketFeeModel
from arbiter.core.units import MONEY_SCALE, SIZE_SCALE, Money
from arbiter.venues.base import Action, OrderRequest, OrderStatus, RejectedError, TimeInForce

C = SIZE_SCALE  # one contract
TOKEN = "111"
FREE = PolymarketFeeModel.of("0")  # a stated fee-free market: these tests are about matching


def poly(bids: list[tuple[int, int]], asks: list[tuple[int, int]],
         model: QueueModel = QueueModel.FIFO) -> tuple[SimExchange, TokenBook, SimClock]:
    book = TokenBook(TOKEN, 100)
    book.apply_snapshot([(p, s * C) for p, s in bids], [(p, s * C) for p, s in asks], 0)
    clock = SimClock(1_000)
    ex = SimExchange("polymarket", lambda m: book, clock, queue_model=model,
                     cash=Money(1000 * MONEY_SCALE), taker_fees={TOKEN: FREE})
    return ex, book, clock


def req(cid: str, price: int, size: int, action: Action = Action.BUY,
        tif: TimeInForce = TimeInForce.IOC, outcome: Outcome = Outcome.YES,
        market: str = TOKEN) -> OrderRequest:
    return OrderRequest(market, outcome, action, price, size * C, cid, tif)  # type: ignore[arg-type]


def level(ex: SimExchange, book: TokenBook, side: Side, price: int, size: int) -> None:
    """Apply a recorded level change to the book and tell the exchange, as the replayer does."""
    ladder = book.bids if side is Side.BID else book.asks
    old = ladder.size_at(price)
    book.set_level(side, price, size * C, 0)
    ex.on_level(TOKEN, 0 if side is Side.BID else 1, price, old, size * C)


def test_taker_walks_levels_and_fills_partially() -> None:
    ex, _, _ = poly([(3900, 10)], [(4000, 10), (4100, 5), (4300, 50)])
    ack = ex.submit_now(req("a", 4100, 20))
    assert ack.filled == 15 * C and ack.status is OrderStatus.CANCELED
    assert ack.remaining == 0
    order = ex.orders[ack.order_id]
    assert order.cost == 4000 * 10 * C + 4100 * 5 * C
    assert ex.cash == 1000 * MONEY_SCALE - order.cost


def test_taken_liquidity_is_not_reused_until_the_level_changes() -> None:
    ex, book, _ = poly([], [(4000, 10)])
    assert ex.submit_now(req("a", 4000, 6)).filled == 6 * C
    assert ex.submit_now(req("b", 4000, 6)).filled == 4 * C
    assert ex.submit_now(req("c", 4000, 6)).filled == 0
    level(ex, book, Side.ASK, 4000, 8)  # the recording refreshes the level
    assert ex.submit_now(req("d", 4000, 6)).filled == 6 * C


def test_fok_fills_all_or_nothing_and_cid_is_idempotent() -> None:
    ex, _, _ = poly([], [(4000, 10)])
    assert ex.submit_now(req("f", 4000, 11, tif=TimeInForce.FOK)).filled == 0
    first = ex.submit_now(req("g", 4000, 10, tif=TimeInForce.FOK))
    assert first.status is OrderStatus.FILLED
    again = ex.submit_now(req("g", 4000, 10, tif=TimeInForce.FOK))
    assert again.order_id == first.order_id and len(ex.fill_log) == 1


def test_kalshi_buy_yes_lifts_no_bids_with_per_order_fee() -> None:
    book = KalshiBook("KX", 100)
    book.apply_snapshot([(4000, 10 * C)], [(5500, 10 * C)], 0)
    ex = SimExchange("kalshi", lambda m: book, SimClock(), taker_fees={"KX": KalshiFeeModel()})
    ack = ex.submit_now(req("k", 4500, 5, market="KX"))
    assert ack.filled == 5 * C and ack.avg_fill_price == 4500
    # ceil_to_cent(0.07 x 5 x 0.45 x 0.55) = ceil(0.0866) = $0.09
    assert ack.fees == 9 * MONEY_SCALE // 100
    no = ex.submit_now(req("n", 6000, 3, outcome=Outcome.NO, market="KX"))
    assert no.filled == 3 * C and no.avg_fill_price == 6000  # lifts YES bid 0.40


def test_resting_order_waits_behind_displayed_size_fifo() -> None:
    ex, _, _ = poly([(4000, 30)], [(4200, 10)])
    ack = ex.submit_now(req("r", 4000, 10, tif=TimeInForce.GTC))
    assert ack.status is OrderStatus.OPEN and ack.filled == 0
    assert ex.queue_ahead(ack.order_id) == 30 * C
    ex.on_trade(TOKEN, 0, 4000, 20 * C)  # a seller hits the bid: the queue ahead shrinks first
    assert ex.queue_ahead(ack.order_id) == 10 * C
    assert ex.orders[ack.order_id].filled == 0
    ex.on_trade(TOKEN, 0, 4000, 15 * C)  # 10 ahead, then 5 of ours
    order = ex.orders[ack.order_id]
    assert order.filled == 5 * C and order.status is OrderStatus.OPEN
    assert ex.fill_log[-1].is_taker is False and ex.fill_log[-1].price == 4000
    ex.on_trade(TOKEN, 0, 4000, 50 * C)
    assert ex.orders[ack.order_id].status is OrderStatus.FILLED
    assert ex.orders[ack.order_id].filled == 10 * C


def test_cancels_ahead_advance_the_queue_and_joins_go_behind() -> None:
    ex, book, _ = poly([(4000, 30)], [(4200, 10)])
    ack = ex.submit_now(req("r", 4000, 10, tif=TimeInForce.GTC))
    level(ex, book, Side.BID, 4000, 20)  # 10 cancelled: ahead of us (FIFO model)
    assert ex.queue_ahead(ack.order_id) == 20 * C
    level(ex, book, Side.BID, 4000, 50)  # 30 join behind us
    assert ex.queue_ahead(ack.order_id) == 20 * C
    level(ex, book, Side.BID, 4000, 25)  # 25 cancelled: the 20 ahead first, then 5 behind
    assert ex.queue_ahead(ack.order_id) == 0
    ex.on_trade(TOKEN, 0, 4000, 3 * C)
    assert ex.orders[ack.order_id].filled == 3 * C


def test_risk_averse_queue_only_advances_on_trades_while_orders_sit_behind() -> None:
    results = {}
    for model in (QueueModel.FIFO, QueueModel.RISK_AVERSE):
        ex, book, _ = poly([(4000, 30)], [(4200, 10)], model)
        ack = ex.submit_now(req("r", 4000, 10, tif=TimeInForce.GTC))
        level(ex, book, Side.BID, 4000, 50)
        level(ex, book, Side.BID, 4000, 40)
        results[model] = ex.queue_ahead(ack.order_id)
    assert results[QueueModel.FIFO] == 20 * C
    assert results[QueueModel.RISK_AVERSE] == 30 * C


def test_trade_then_level_decrease_is_not_counted_twice() -> None:
    ex, book, _ = poly([(4000, 30)], [(4200, 10)])
    ack = ex.submit_now(req("r", 4000, 10, tif=TimeInForce.GTC))
    ex.on_trade(TOKEN, 0, 4000, 10 * C)
    level(ex, book, Side.BID, 4000, 20)  # the venue's own book update for that trade
    assert ex.queue_ahead(ack.order_id) == 20 * C


def test_book_trading_through_a_resting_order_fills_it_at_its_price() -> None:
    ex, book, _ = poly([(3900, 30)], [(4200, 10)])
    ack = ex.submit_now(req("r", 4000, 10, tif=TimeInForce.GTC))
    assert ex.queue_ahead(ack.order_id) == 0
    level(ex, book, Side.ASK, 4200, 0)
    level(ex, book, Side.ASK, 4000, 5)  # asks now at our bid: we are hit
    order = ex.orders[ack.order_id]
    assert order.status is OrderStatus.FILLED and order.cost == 4000 * 10 * C


def test_cancel_resting_and_positions() -> None:
    ex, _, _ = poly([(4000, 30)], [(4200, 10)])
    ack = ex.submit_now(req("r", 4000, 10, tif=TimeInForce.GTC))
    done = ex.cancel_now(ack.order_id)
    assert done.status is OrderStatus.CANCELED and done.remaining == 0
    ex.submit_now(req("b", 4200, 4))
    ex.submit_now(req("s", 3000, 1, action=Action.SELL))  # hits the 0.40 bid
    positions = asyncio.run(ex.positions())
    assert [(p.market, p.size) for p in positions] == [(TOKEN, 3 * C)]
    assert ex.cash == 1000 * MONEY_SCALE - 4200 * 4 * C + 4000 * 1 * C


async def test_latency_means_the_order_meets_the_book_at_arrival() -> None:
    book = TokenBook(TOKEN, 100)
    book.apply_snapshot([], [(4000, 10 * C)], 0)
    clock = SimClock(0)
    ex = SimExchange("polymarket", lambda m: book, clock, taker_fees={TOKEN: FREE},
                     latency=FixedLatency(10_000_000, 5_000_000))
    task = clock.spawn(ex.place_order(req("l", 4000, 10)))
    await clock.settle()
    assert clock.next_deadline() == 10_000_000 and not task.done()
    book.set_level(Side.ASK, 4000, 4 * C, 5_000_000)  # the book moves while the order travels
    clock.fire_due()
    await clock.settle()
    assert clock.next_deadline() == 15_000_000  # the answer is on its way back
    clock.fire_due()
    await clock.settle()
    ack = task.result()
    assert ack.filled == 4 * C and clock.time_ns() == 15_000_000


def test_latency_models() -> None:
    import random

    assert latency_from_spec("fixed:30").sample(random.Random(0)) == (15_000_000, 15_000_000)
    model = latency_from_spec("lognormal:20:0.3")
    assert isinstance(model, DistributionLatency)
    a = [model.sample(random.Random(5)) for _ in range(3)]
    b = [model.sample(random.Random(5)) for _ in range(3)]
    assert a == b and a[0][0] != 20_000_000
    rec = RecordedLatency(((1, 2), (3, 4)))
    assert rec.sample(random.Random(1)) in ((1, 2), (3, 4))
    with pytest.raises(ValueError, match="bad latency spec"):
        latency_from_spec("warp:1")


def test_polymarket_taker_pays_each_match_and_makers_get_the_backtest_rebate() -> None:
    """Each level taken is one match, charged C x rate x p(1-p) floored to $0.00001 (the local
    venue's rule); a maker fill pays nothing and, only when asked, earns a share back."""
    from fractions import Fraction

    fee = PolymarketFeeModel.of("0.04", 1)
    book = TokenBook(TOKEN, 100)
    book.apply_snapshot([(3900, 30 * C)], [(4000, 7 * C), (4100, 3 * C)], 0)
    ex = SimExchange("polymarket", lambda m: book, SimClock(1_000), taker_fees={TOKEN: fee},
                     cash=Money(1000 * MONEY_SCALE), maker_rebate_share=Fraction(1, 4))
    ack = ex.submit_now(req("t", 4100, 10))
    charged = [f.fee for f in ex.fill_log]
    # 7 x 0.04 x 0.4 x 0.6 = 0.0672; 3 x 0.04 x 0.41 x 0.59 = 0.029028 -> 0.02902 (floored)
    assert charged == [6_720_000_00, 2_902_000_00]
    assert ack.fees == sum(charged)
    assert ex.cash == 1000 * MONEY_SCALE - 4000 * 7 * C - 4100 * 3 * C - sum(charged)
    mbook = TokenBook(TOKEN, 100)
    mbook.apply_snapshot([(3900, 30 * C)], [(4200, 10 * C)], 0)
    maker = SimExchange("polymarket", lambda m: mbook, SimClock(1_000), taker_fees={TOKEN: fee},
                        cash=Money(1000 * MONEY_SCALE), maker_rebate_share=Fraction(1, 4))
    rest = maker.submit_now(req("m", 4000, 10, tif=TimeInForce.GTC))
    level(maker, mbook, Side.ASK, 4200, 0)
    level(maker, mbook, Side.ASK, 4000, 5)  # asks now at our bid: we are hit, as a maker
    order = maker.orders[rest.order_id]
    assert order.status is OrderStatus.FILLED and order.fees == 0
    # 10 x 0.04 x 0.4 x 0.6 = $0.096 fee-equivalent, a quarter of it back: $0.024
    assert maker.rebates == fee.maker_rebate(4000, 10 * C, Fraction(1, 4)) == 2_400_000_00
    assert maker.cash == 1000 * MONEY_SCALE - 4000 * 10 * C + maker.rebates
    off = SimExchange("polymarket", lambda m: book, SimClock(1_000), taker_fees={TOKEN: fee})
    assert off.maker_rebate_share == 0  # off unless a backtest asks: live never counts on it
    with pytest.raises(RejectedError, match="no Polymarket fee model"):
        off.submit_now(req("u", 4100, 1, market="999"))  # a token whose fee is unknown
