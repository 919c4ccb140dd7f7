from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.matching import (
    DuplicateOrderError,
    Fill,
    InvalidOrderError,
    InvalidPriceError,
    InvalidSizeError,
    LevelChange,
    MatchingBook,
    MatchingError,
    MatchResult,
    Order,
    OrderSide,
    OrderStatus,
    TimeInForce,
    UnknownOrderError,
)
from arbiter.core.units import PRICE_SCALE, SIZE_SCALE

C = 100  # one cent in price units
N = SIZE_SCALE  # one contract in size units
BUY, SELL = OrderSide.BUY, OrderSide.SELL
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK


def order(
    oid: str,
    side: OrderSide,
    cents: int,
    count: int,
    account: str = "a",
    tif: TimeInForce = GTC,
    **kw: Any,
) -> Order:
    return Order(oid, account, side, cents * C, count * N, tif, **kw)


def levels(book: MatchingBook) -> dict[tuple[OrderSide, int], int]:
    return {(s, p): q for s in (BUY, SELL) for p, q in book.depth(s)}


def assert_changes_are_depth_diff(
    before: dict[tuple[OrderSide, int], int],
    after: dict[tuple[OrderSide, int], int],
    changes: list[LevelChange],
) -> None:
    expected = {
        k: after.get(k, 0) for k in before.keys() | after.keys() if before.get(k, 0) != after.get(k, 0)
    }
    got = {(c.side, c.price): c.size for c in changes}
    assert len(got) == len(changes), "a level is reported twice"
    assert got == expected


# -- price-time priority -------------------------------------------------------------------------
def test_better_price_matches_first_then_earlier_arrival() -> None:
    book = MatchingBook("M")
    book.submit(order("s1", SELL, 42, 5, "m1"), 1)
    book.submit(order("s2", SELL, 41, 5, "m2"), 2)
    book.submit(order("s3", SELL, 41, 5, "m3"), 3)
    res = book.submit(order("b", BUY, 42, 12, "t"), 4)
    assert [(f.maker_order_id, f.price, f.size) for f in res.fills] == [
        ("s2", 41 * C, 5 * N),
        ("s3", 41 * C, 5 * N),
        ("s1", 42 * C, 2 * N),
    ]
    assert res.order.status is OrderStatus.FILLED
    assert book.get("s1") is not None and book.get("s1").remaining == 3 * N  # type: ignore[union-attr]
    assert book.depth(SELL) == [(42 * C, 3 * N)]


def test_sell_taker_hits_highest_bid_first() -> None:
    book = MatchingBook("M")
    book.submit(order("b1", BUY, 40, 1, "m"), 1)
    book.submit(order("b2", BUY, 45, 1, "m"), 2)
    book.submit(order("b3", BUY, 43, 1, "m"), 3)
    res = book.submit(order("s", SELL, 41, 5, "t"), 4)
    assert [f.price for f in res.fills] == [45 * C, 43 * C]
    assert res.order.status is OrderStatus.RESTING
    assert res.order.remaining == 3 * N and res.order.filled == 2 * N
    assert book.best_bid() == 40 * C and book.best_ask() == 41 * C


def test_trade_price_is_the_makers_and_remainder_rests() -> None:
    book = MatchingBook("M")
    book.submit(order("s1", SELL, 40, 2, "m"), 1)
    book.submit(order("s2", SELL, 44, 3, "m"), 2)
    res = book.submit(order("b", BUY, 45, 10, "t"), 3)
    assert [(f.price, f.size) for f in res.fills] == [(40 * C, 2 * N), (44 * C, 3 * N)]
    assert [f.trade_id for f in res.fills] == ["M-T1", "M-T2"]
    assert [f.maker_remaining for f in res.fills] == [0, 0]
    assert [f.taker_remaining for f in res.fills] == [8 * N, 5 * N]
    assert res.order.status is OrderStatus.RESTING and res.order.remaining == 5 * N
    assert res.level_changes == [
        LevelChange(SELL, 40 * C, 0),
        LevelChange(SELL, 44 * C, 0),
        LevelChange(BUY, 45 * C, 5 * N),
    ]
    assert book.get("s1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    assert book.best_ask() is None and book.best_bid() == 45 * C


def test_fill_carries_both_metas_and_accounts() -> None:
    book = MatchingBook("M")
    book.submit(order("s", SELL, 40, 1, "maker", meta={"outcome": "no", "px": 60}), 1)
    res = book.submit(order("b", BUY, 40, 1, "taker", meta="yes"), 7)
    assert res.fills == [
        Fill(
            "M-T1", "b", "s", "taker", "maker", BUY, 40 * C, N, 7, "yes",
            {"outcome": "no", "px": 60}, 0, 0,
        )
    ]


def test_kalshi_buy_no_is_a_sell_on_the_yes_axis() -> None:
    # buy NO @0.60 rests as a YES ask @0.40; a YES buy @0.45 trades at the maker's 0.40
    book = MatchingBook("KX")
    book.submit(order("no", SELL, PRICE_SCALE // C - 60, 3, "x", meta=("no", 60 * C)), 1)
    res = book.submit(order("yes", BUY, 45, 1, "y", meta=("yes", 45 * C)), 2)
    assert res.fills[0].price == 40 * C
    assert res.fills[0].maker_meta == ("no", 60 * C)


# -- time in force -------------------------------------------------------------------------------
def test_ioc_fills_what_it_can_and_cancels_the_rest() -> None:
    book = MatchingBook("M")
    book.submit(order("s", SELL, 40, 2, "m"), 1)
    res = book.submit(order("i", BUY, 41, 5, "t", IOC), 2)
    assert res.order.status is OrderStatus.CANCELED
    assert res.order.filled == 2 * N and res.order.remaining == 0
    assert book.best_bid() is None and len(book) == 0
    res = book.submit(order("i2", BUY, 41, 5, "t", IOC), 3)
    assert res.fills == [] and res.order.status is OrderStatus.CANCELED
    assert res.level_changes == []


def test_fok_is_all_or_nothing_and_leaves_the_book_unchanged() -> None:
    book = MatchingBook("M")
    book.submit(order("s1", SELL, 40, 2, "m"), 1)
    book.submit(order("s2", SELL, 42, 2, "m"), 2)
    before = levels(book)
    res = book.submit(order("f", BUY, 41, 3, "t", FOK), 3)
    assert res.order.status is OrderStatus.REJECTED and res.reject_reason == "fok_not_filled"
    assert res.fills == [] and res.level_changes == [] and levels(book) == before
    assert res.order.remaining == 0 and res.order.filled == 0
    assert book.get("f") is None  # rejected orders are not recorded; the id stays free
    res = book.submit(order("f", BUY, 42, 3, "t", FOK), 4)
    assert res.order.status is OrderStatus.FILLED
    assert [(f.trade_id, f.price, f.size) for f in res.fills] == [
        ("M-T1", 40 * C, 2 * N),
        ("M-T2", 42 * C, N),
    ]


def test_fok_does_not_count_own_orders_under_cancel_resting() -> None:
    book = MatchingBook("M")
    book.submit(order("own", SELL, 40, 5, "t"), 1)
    book.submit(order("other", SELL, 41, 1, "m"), 2)
    assert book.would_fill(BUY, 41 * C, 3 * N) == 3 * N
    assert book.would_fill(BUY, 41 * C, 3 * N, account="t") == N
    res = book.submit(order("f", BUY, 41, 3, "t", FOK), 3)
    assert res.reject_reason == "fok_not_filled"
    assert book.get("own").status is OrderStatus.RESTING  # type: ignore[union-attr]


def test_would_fill_stops_at_the_limit_and_caps_at_size() -> None:
    book = MatchingBook("M")
    book.submit(order("s1", SELL, 40, 2, "m"), 1)
    book.submit(order("s2", SELL, 45, 2, "m"), 2)
    assert book.would_fill(BUY, 39 * C, 10 * N) == 0
    assert book.would_fill(BUY, 44 * C, 10 * N) == 2 * N
    assert book.would_fill(BUY, 45 * C, 10 * N) == 4 * N
    assert book.would_fill(BUY, 45 * C, 3 * N) == 3 * N
    assert book.would_fill(SELL, 1 * C, 3 * N) == 0


def test_gtd_expires_via_expire_and_is_reported() -> None:
    book = MatchingBook("M")
    book.submit(order("g1", BUY, 40, 2, "m", expires_at_ns=100), 1)
    book.submit(order("g2", BUY, 40, 3, "m", expires_at_ns=50), 2)
    book.submit(order("g3", BUY, 39, 1, "m"), 3)
    assert book.expire(49) == []
    results = book.expire(100)
    assert [r.order.order_id for r in results] == ["g2", "g1"]
    assert results[0].level_changes == [LevelChange(BUY, 40 * C, 2 * N)]
    assert results[1].level_changes == [LevelChange(BUY, 40 * C, 0)]
    assert all(r.order.status is OrderStatus.EXPIRED and r.order.remaining == 0 for r in results)
    assert book.depth(BUY) == [(39 * C, N)]
    assert book.expire(10**9) == []


def test_submit_applies_due_expiries_before_matching() -> None:
    book = MatchingBook("M")
    book.submit(order("g", SELL, 40, 2, "m", expires_at_ns=10), 1)
    book.submit(order("s", SELL, 41, 2, "m"), 2)
    res = book.submit(order("b", BUY, 41, 1, "t"), 10)
    assert [o.order_id for o in res.expired] == ["g"]
    assert [f.maker_order_id for f in res.fills] == ["s"]
    assert res.level_changes == [LevelChange(SELL, 40 * C, 0), LevelChange(SELL, 41 * C, N)]


def test_would_fill_ignores_orders_due_to_expire_when_given_now() -> None:
    book = MatchingBook("M")
    book.submit(order("g", SELL, 40, 2, "m", expires_at_ns=10), 1)
    book.submit(order("s", SELL, 41, 1, "m"), 2)
    assert book.would_fill(BUY, 41 * C, 5 * N) == 3 * N
    assert book.would_fill(BUY, 41 * C, 5 * N, now_ns=9) == 3 * N
    assert book.would_fill(BUY, 41 * C, 5 * N, now_ns=10) == N
    res = book.submit(order("f", BUY, 41, 2, "t", FOK), 10)
    assert res.reject_reason == "fok_not_filled" and [o.order_id for o in res.expired] == ["g"]
    assert res.level_changes == [LevelChange(SELL, 40 * C, 0)]


def test_gtd_already_expired_at_submit_is_rejected() -> None:
    book = MatchingBook("M")
    res = book.submit(order("g", BUY, 40, 1, "m", expires_at_ns=5), 5)
    assert res.order.status is OrderStatus.REJECTED and res.reject_reason == "expired"
    assert len(book) == 0


def test_canceled_gtd_is_not_expired_again() -> None:
    book = MatchingBook("M")
    book.submit(order("g", BUY, 40, 1, "m", expires_at_ns=5), 1)
    book.cancel("g", 2)
    assert book.expire(10) == []
    assert book.get("g").status is OrderStatus.CANCELED  # type: ignore[union-attr]


def test_post_only_rests_or_is_rejected_when_crossing() -> None:
    book = MatchingBook("M")
    book.submit(order("s", SELL, 42, 1, "m"), 1)
    res = book.submit(order("p1", BUY, 42, 1, "t", post_only=True), 2)
    assert res.order.status is OrderStatus.REJECTED
    assert res.reject_reason == "post_only_would_cross" and res.fills == []
    res = book.submit(order("p2", BUY, 41, 1, "t", post_only=True), 3)
    assert res.order.status is OrderStatus.RESTING
    assert res.level_changes == [LevelChange(BUY, 41 * C, N)]
    res = book.submit(order("p3", SELL, 41, 1, "u", post_only=True), 4)
    assert res.reject_reason == "post_only_would_cross"
    with pytest.raises(InvalidOrderError):
        book.submit(order("p4", BUY, 30, 1, "t", IOC, post_only=True), 5)


# -- cancel / amend ------------------------------------------------------------------------------
def test_cancel_returns_partly_filled_order_and_removes_it() -> None:
    book = MatchingBook("M")
    book.submit(order("s", SELL, 40, 5, "m"), 1)
    book.submit(order("s2", SELL, 40, 1, "m"), 2)
    book.submit(order("b", BUY, 40, 2, "t"), 3)
    res = book.cancel("s", 4)
    assert res.order.status is OrderStatus.CANCELED
    assert res.order.filled == 2 * N and res.order.remaining == 0 and res.order.size == 5 * N
    assert res.level_changes == [LevelChange(SELL, 40 * C, N)]
    assert book.open_orders() == [book.get("s2")]
    with pytest.raises(UnknownOrderError, match="canceled"):
        book.cancel("s", 5)
    with pytest.raises(UnknownOrderError, match="unknown"):
        book.cancel("nope", 5)
    with pytest.raises(MatchingError):
        book.cancel("b", 5)  # filled


def test_cancel_middle_of_queue_keeps_others_in_order() -> None:
    book = MatchingBook("M")
    for i in range(4):
        book.submit(order(f"s{i}", SELL, 40, 1, f"m{i}"), i)
    book.cancel("s1", 10)
    assert [o.order_id for o in book.queue(SELL, 40 * C)] == ["s0", "s2", "s3"]
    res = book.submit(order("b", BUY, 40, 3, "t"), 11)
    assert [f.maker_order_id for f in res.fills] == ["s0", "s2", "s3"]


def test_amend_size_down_keeps_priority() -> None:
    book = MatchingBook("M")
    book.submit(order("s1", SELL, 40, 5, "m1"), 1)
    book.submit(order("s2", SELL, 40, 5, "m2"), 2)
    res = book.amend_size_down("s1", 2 * N, 3)
    assert res.level_changes == [LevelChange(SELL, 40 * C, 7 * N)]
    assert res.order.remaining == 2 * N and res.order.size == 5 * N
    fills = book.submit(order("b", BUY, 40, 3, "t"), 4).fills
    assert [(f.maker_order_id, f.size) for f in fills] == [("s1", 2 * N), ("s2", N)]
    with pytest.raises(InvalidSizeError):
        book.amend_size_down("s2", 0, 5)
    with pytest.raises(InvalidSizeError):
        book.amend_size_down("s2", 5 * N, 5)
    with pytest.raises(UnknownOrderError):
        book.amend_size_down("s1", N, 5)


# -- self-trade ----------------------------------------------------------------------------------
def test_self_trade_cancels_the_resting_order_and_keeps_matching() -> None:
    book = MatchingBook("M")
    book.submit(order("own", SELL, 40, 2, "t"), 1)
    book.submit(order("other", SELL, 40, 1, "m"), 2)
    book.submit(order("other2", SELL, 41, 5, "m"), 3)
    res = book.submit(order("b", BUY, 41, 3, "t"), 4)
    assert [o.order_id for o in res.self_trade_canceled] == ["own"]
    assert book.get("own").status is OrderStatus.CANCELED  # type: ignore[union-attr]
    assert [(f.maker_order_id, f.size) for f in res.fills] == [("other", N), ("other2", 2 * N)]
    assert res.level_changes == [LevelChange(SELL, 40 * C, 0), LevelChange(SELL, 41 * C, 3 * N)]
    assert book.open_orders("t") == []


def test_self_trade_allowed_when_configured() -> None:
    book = MatchingBook("M", self_trade="allow")
    book.submit(order("own", SELL, 40, 2, "t"), 1)
    res = book.submit(order("b", BUY, 40, 1, "t"), 2)
    assert [(f.maker_account, f.taker_account) for f in res.fills] == [("t", "t")]
    assert res.self_trade_canceled == []
    with pytest.raises(MatchingError):
        MatchingBook("M", self_trade="cancel_both")


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("price", "size", "error"),
    [
        (0, N, InvalidPriceError),
        (PRICE_SCALE, N, InvalidPriceError),
        (-C, N, InvalidPriceError),
        (4050, N, InvalidPriceError),  # off the cent tick
        (True, N, InvalidPriceError),
        (40 * C, 0, InvalidSizeError),
        (40 * C, -N, InvalidSizeError),
        (40 * C, N + 1, InvalidSizeError),  # off the 0.01 lot
    ],
)
def test_bad_orders_raise_typed_errors_and_change_nothing(
    price: int, size: int, error: type[MatchingError]
) -> None:
    book = MatchingBook("M", tick=C, lot=N // 100)
    book.submit(order("s", SELL, 50, 1, "m"), 1)
    before = levels(book)
    with pytest.raises(error):
        book.submit(Order("x", "a", BUY, price, size), 2)
    assert levels(book) == before and book.get("x") is None


def test_duplicate_order_id_is_rejected_even_after_it_finished() -> None:
    book = MatchingBook("M")
    book.submit(order("a", BUY, 40, 1), 1)
    with pytest.raises(DuplicateOrderError):
        book.submit(order("a", BUY, 41, 1), 2)
    book.cancel("a", 3)
    with pytest.raises(DuplicateOrderError):
        book.submit(order("a", BUY, 41, 1), 4)
    assert book.prune() == 1
    assert book.submit(order("a", BUY, 41, 1), 5).order.status is OrderStatus.RESTING


def test_tick_change_applies_to_new_orders_only() -> None:
    book = MatchingBook("PM", tick=100)
    book.submit(order("a", BUY, 97, 1), 1)
    book.tick = 10
    book.submit(Order("b", "a", BUY, 9710, N), 2)
    assert book.depth(BUY) == [(9710, N), (9700, N)]


def test_open_orders_by_account_in_arrival_order() -> None:
    book = MatchingBook("M")
    book.submit(order("x1", BUY, 40, 1, "x"), 1)
    book.submit(order("y1", BUY, 41, 1, "y"), 2)
    book.submit(order("x2", SELL, 60, 1, "x"), 3)
    assert [o.order_id for o in book.open_orders("x")] == ["x1", "x2"]
    assert [o.seq for o in book.open_orders()] == [1, 2, 3]
    assert book.open_orders("nobody") == []
    assert book.depth(BUY, 1) == [(41 * C, N)] and book.depth(BUY, 0) == []


# -- property tests ------------------------------------------------------------------------------
_submit = st.tuples(
    st.just("submit"),
    st.sampled_from([BUY, SELL]),
    st.integers(35, 45),  # cents: a narrow band so streams cross a lot
    st.integers(1, 6),  # size in 0.5-contract lots
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([GTC, GTC, GTC, IOC, FOK]),
    st.booleans(),  # post_only (only with GTC)
    st.one_of(st.none(), st.integers(0, 40)),  # expiry offset
)
_other = st.tuples(
    st.sampled_from(["cancel", "amend", "expire"]),
    st.integers(0, 10**6),
)
_streams = st.lists(st.one_of(_submit, _submit, _submit, _other), max_size=80)


def _run(stream: list[Any], self_trade: str = "cancel_resting") -> list[MatchResult]:
    """Drive a book through a stream, checking every invariant after every step."""
    book = MatchingBook("P", tick=C, lot=N // 2, self_trade=self_trade)
    out: list[MatchResult] = []
    for now, step in enumerate(stream, start=1):
        before = levels(book)
        results: list[MatchResult]
        if step[0] == "submit":
            _, side, cents, lots, account, tif, post_only, expiry = step
            o = Order(
                f"o{now}", account, side, cents * C, lots * (N // 2), tif,
                post_only=post_only and tif is GTC,
                expires_at_ns=None if expiry is None else now + expiry,
            )
            expected_fill = book.would_fill(side, o.price, o.size, account, now)
            res = book.submit(o, now)
            results = [res]
            taker_fill = sum(f.size for f in res.fills)
            assert taker_fill == o.filled <= o.size
            assert o.filled + o.remaining <= o.size
            if res.reject_reason is None and not o.post_only:
                assert taker_fill == min(o.size, expected_fill)
            for f in res.fills:
                assert f.taker_side is side and f.ts_ns == now
                assert (f.price <= o.price) if side is BUY else (f.price >= o.price)
                if self_trade == "cancel_resting":
                    assert f.maker_account != f.taker_account
            if o.tif is FOK:
                assert o.filled in (0, o.size)
            if o.status is OrderStatus.RESTING:
                assert o.tif is GTC and o.remaining > 0
            else:
                assert o.remaining == 0
        elif step[0] == "cancel":
            opened = book.open_orders()
            if not opened:
                continue
            results = [book.cancel(opened[step[1] % len(opened)].order_id, now)]
        elif step[0] == "amend":
            opened = book.open_orders()
            if not opened:
                continue
            target = opened[step[1] % len(opened)]
            lots = target.remaining // (N // 2)
            new = (step[1] % lots + 1) * (N // 2)
            results = [book.amend_size_down(target.order_id, new, now)]
        else:
            results = book.expire(now)
        after = levels(book)
        if len(results) == 1:
            assert_changes_are_depth_diff(before, after, results[0].level_changes)
        out.extend(results)
        # book invariants
        bid, ask = book.best_bid(), book.best_ask()
        assert bid is None or ask is None or bid < ask, "crossed book"
        opened = book.open_orders()
        agg: dict[tuple[OrderSide, int], int] = {}
        for o in opened:
            assert o.status is OrderStatus.RESTING and o.remaining > 0
            assert o.filled + o.remaining <= o.size
            agg[(o.side, o.price)] = agg.get((o.side, o.price), 0) + o.remaining
        assert agg == after
        for side in (BUY, SELL):
            for price, _ in book.depth(side):
                seqs = [o.seq for o in book.queue(side, price)]
                assert seqs == sorted(seqs)
        assert len(book) == len(opened)
    return out


def _digest(results: list[MatchResult]) -> list[Any]:
    return [
        (
            r.order.order_id, r.order.status, r.order.filled, r.order.remaining, r.reject_reason,
            r.fills, r.level_changes, [o.order_id for o in r.self_trade_canceled],
            [o.order_id for o in r.expired],
        )
        for r in results
    ]


@settings(max_examples=300, deadline=None)
@given(_streams)
def test_random_streams_keep_every_invariant(stream: list[Any]) -> None:
    _run(stream)


@settings(max_examples=100, deadline=None)
@given(_streams)
def test_random_streams_with_self_trade_allowed(stream: list[Any]) -> None:
    _run(stream, self_trade="allow")


@settings(max_examples=50, deadline=None)
@given(_streams)
def test_same_stream_gives_identical_results(stream: list[Any]) -> None:
    assert _digest(_run(stream)) == _digest(_run(stream))


def test_maker_conservation_over_a_long_stream() -> None:
    """Every contract a maker gives up shows up in exactly one fill."""
    stream: list[Any] = []
    for i in range(3000):
        side = BUY if (i * 7) % 3 else SELL
        stream.append(("submit", side, 35 + (i * 13) % 11, 1 + i % 6, "abc"[i % 3], GTC, False, None))
        if i % 5 == 0:
            stream.append(("cancel", i))
    results = _run(stream)
    filled_as_maker: dict[str, int] = {}
    filled_as_taker: dict[str, int] = {}
    for r in results:
        for f in r.fills:
            filled_as_maker[f.maker_order_id] = filled_as_maker.get(f.maker_order_id, 0) + f.size
            filled_as_taker[f.taker_order_id] = filled_as_taker.get(f.taker_order_id, 0) + f.size
    orders = {r.order.order_id: r.order for r in results}
    for oid, o in orders.items():
        assert o.filled == filled_as_maker.get(oid, 0) + filled_as_taker.get(oid, 0)
    trade_ids = [f.trade_id for r in results for f in r.fills]
    assert trade_ids == [f"P-T{n}" for n in range(1, len(trade_ids) + 1)]
