"""Market-channel frames into core books: both wire forms, staleness marks, counters."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from arbiter.venues.polymarket.parsing import (
    MarketBooks,
    ParseError,
    RestBook,
    book_from_rest,
    parse_levels,
)
from arbiter.venues.polymarket.schemas import Level, OrderBookSummary
from arbiter.venues.polymarket.ws import apply_rest_book

T = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
U = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def _book(asset: str = T, **kw: Any) -> dict[str, Any]:
    return {
        "event_type": "book", "asset_id": asset, "market": "0xabc", "timestamp": "1",
        "bids": [{"price": "0.48", "size": "30"}, {"price": "0.49", "size": "20.5"}],
        "asks": [{"price": "0.53", "size": "60"}, {"price": "0.52", "size": "25"}], **kw,
    }


def _pc(*changes: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": "price_change", "market": "0xabc", "timestamp": "2",
            "price_changes": list(changes)}


def test_snapshot_sorted_on_ingest_and_array_frames() -> None:
    books = MarketBooks()
    assert books.apply_frame(json.dumps([_book(), _book(U)]), 1) == 2
    book = books.book(T)
    assert book is not None
    assert list(book.bids) == [(4900, 20_500_000), (4800, 30_000_000)]
    assert list(book.asks) == [(5200, 25_000_000), (5300, 60_000_000)]
    assert books.market_of[T] == "0xabc" and books.book(U) is not None


def test_price_change_current_and_legacy_forms() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 1)
    books.apply_frame(json.dumps(_pc(
        {"asset_id": T, "price": "0.5", "size": "7", "side": "BUY", "best_bid": "0.5",
         "best_ask": "0.52"},
    )), 2)
    book = books.book(T)
    assert book is not None and book.best_bid == 5000 and not books.stale
    legacy = {"event_type": "price_change", "asset_id": T, "market": "0xabc",
              "changes": [{"price": "0.52", "side": "SELL", "size": "0"}]}
    books.apply_frame(json.dumps(legacy), 3)
    assert book.best_ask == 5300
    old_names = {"event_type": "book", "asset_id": U, "buys": [{"price": "0.1", "size": "1"}],
                 "sells": []}
    books.apply_frame(json.dumps(old_names), 4)
    other = books.book(U)
    assert other is not None and other.best_bid == 1000 and other.best_ask is None
    assert books.stats.malformed == 0 and books.stats.mismatches == 0


def test_batch_that_moves_the_market_does_not_cross_half_way() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 1)
    # new bid at 0.52 listed *before* the ask at 0.52 disappears
    books.apply_frame(json.dumps(_pc(
        {"asset_id": T, "price": "0.52", "size": "5", "side": "BUY"},
        {"asset_id": T, "price": "0.52", "size": "0", "side": "SELL", "best_bid": "0.52",
         "best_ask": "0.53"},
    )), 2)
    book = books.book(T)
    assert book is not None and (book.best_bid, book.best_ask) == (5200, 5300)
    assert not books.stale


def test_top_of_book_mismatch_marks_stale() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 1)
    books.apply_frame(json.dumps(_pc(
        {"asset_id": T, "price": "0.47", "size": "1", "side": "BUY", "best_bid": "0.5",
         "best_ask": "0.52"},
    )), 2)
    assert books.stale == {T} and books.stats.mismatches == 1
    books.apply_frame(json.dumps(_book()), 3)  # a fresh snapshot clears the doubt
    assert not books.stale


def test_empty_side_markers_and_unknown_asset() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book(bids=[], asks=[])), 1)
    books.apply_frame(json.dumps(_pc(
        {"asset_id": T, "price": "0.4", "size": "0", "side": "BUY", "best_bid": "0",
         "best_ask": "1"},
    )), 2)
    assert not books.stale
    books.apply_frame(json.dumps(_pc({"asset_id": U, "price": "0.4", "size": "1",
                                      "side": "BUY"})), 3)
    assert U in books.stale


def test_malformed_and_unknown_frames_are_counted_not_fatal() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 1)
    books.apply_frame(b"{not json", 2)
    # lifecycle events are parsed now: without their ``market`` they are malformed
    books.apply_frame(json.dumps({"event_type": "new_market", "id": "1"}), 3)
    books.apply_frame(json.dumps([{"event_type": "market_resolved"}, _book(U)]), 4)
    books.apply_frame(json.dumps({"event_type": "sports_result", "id": "1"}), 4)
    books.apply_frame(json.dumps(_pc({"asset_id": T, "price": "0.505", "size": "1",
                                      "side": "BUY"})), 5)  # off the 0.01 grid
    books.apply_frame(json.dumps(_pc({"asset_id": T, "price": "0.5", "size": "1",
                                      "side": "HOLD"})), 6)
    books.apply_frame(json.dumps({"event_type": "book", "asset_id": T, "bids": "x"}), 7)
    stats = books.stats
    assert (stats.malformed, stats.rejected, stats.ignored) == (5, 1, 1)
    assert stats.errors == {"json": 1, "schema": 3, "value": 1}
    assert books.book(U) is not None and T in books.stale
    book = books.book(T)
    assert book is not None and book.best_bid == 4900  # last good state kept


def test_tick_change_and_snapshot_on_finer_grid() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 1)
    books.apply_frame(json.dumps({"event_type": "tick_size_change", "asset_id": T,
                                  "old_tick_size": "0.01", "new_tick_size": "0.001"}), 2)
    book = books.book(T)
    assert book is not None and book.tick == 10 and book.best_bid == 4900
    books.apply_frame(json.dumps({"event_type": "tick_size_change", "asset_id": T,
                                  "new_tick_size": "0.1"}), 3)
    assert T in books.stale and book.tick == 1000 and book.best_bid is None
    # a snapshot on a finer grid than we believe in is still usable
    books.apply_frame(json.dumps(_book(bids=[{"price": "0.481", "size": "1"}], asks=[])), 4)
    assert book.best_bid == 4810 and T not in books.stale
    books.apply_frame(json.dumps({"event_type": "last_trade_price", "asset_id": T,
                                  "price": "0.481", "side": "BUY", "size": "1"}), 5)
    assert books.last_trade[T] == 4810


# -- the REST ``/book`` body: one reader for the client, the resync path and ``arbiter scan`` ----

def _rest(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "market": "0xabc", "asset_id": T, "timestamp": "1700000000123", "hash": "",
        "bids": [{"price": "0.48", "size": "30"}, {"price": "0.49", "size": "20.5"}],
        "asks": [{"price": "0.53", "size": "60"}, {"price": "0.52", "size": "25"}],
        "min_order_size": "5", "tick_size": "0.01", "neg_risk": False, "last_trade_price": "0.50",
    }
    body.update(kw)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP: Any = object()


def test_rest_book_all_ten_keys_and_trimmed_forms() -> None:
    book = book_from_rest(_rest())
    assert book == RestBook(
        bids=[(4800, 30_000_000), (4900, 20_500_000)],
        asks=[(5300, 60_000_000), (5200, 25_000_000)],
        tick=100, min_order_size=5_000_000,
    )
    trimmed = book_from_rest({"bids": [], "asks": [{"price": "0.5005", "size": "1.000001"}]})
    assert trimmed == RestBook([], [(5005, 1_000_001)], None, 0)
    # extra keys (the venue adds fields without notice) are ignored
    assert book_from_rest(_rest(new_field={"x": 1})) == book


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'bids' is null, not a list of {price, size} levels"),
        ({"error": "No orderbook exists for the requested token id"}, "'bids' is null"),
        (_rest(asks=_DROP), "'asks' is null, not a list"),
        (_rest(bids=None), "'bids' is null, not a list"),
        (_rest(bids={"0.48": "30"}), "'bids' is dict, not a list"),
        (_rest(asks="[]"), "'asks' is str, not a list"),
        ([{"bids": []}], "book body is list, not an object"),
        (_rest(bids=[["0.48", "30"]]), "bids[0]: ['0.48', '30'] lacks price/size"),
        (_rest(asks=[{"price": "0.53"}]), "asks[0]: {'price': '0.53'} lacks price/size"),
        (_rest(asks=[{"price": "0.53", "qty": "1"}]), "lacks price/size"),
        (_rest(bids=[{"price": "0.48", "size": "1"}, "0.47"]), "bids[1]: '0.47' lacks price/size"),
        (_rest(bids=[{"price": 0.48, "size": "1"}]),
         "bids[0]: price and size must be decimal strings, got 0.48, '1'"),
        (_rest(bids=[{"price": "0.48", "size": 1}]), "must be decimal strings"),
        (_rest(bids=[{"price": "1", "size": "1"}]),
         "bids[0]: price '1' is outside the open interval (0, 1)"),
        (_rest(asks=[{"price": "0", "size": "1"}]), "asks[0]: price '0' is outside"),
        (_rest(asks=[{"price": "-0.5", "size": "1"}]), "asks[0]: price '-0.5' is outside"),
        (_rest(bids=[{"price": "0.485", "size": "1"}]),
         "bids[0]: price '0.485' is not a multiple of the tick 0.0100"),
        (_rest(bids=[{"price": "0.48", "size": "0"}]), "bids[0]: size '0' is not positive"),
        (_rest(bids=[{"price": "0.48", "size": "-3"}]), "bids[0]: size '-3' is negative"),
        (_rest(asks=[{"price": "0.53", "size": "ten"}]),
         "asks[0]: size 'ten' is not a decimal number"),
        (_rest(asks=[{"price": "0.53", "size": "1e3"}]), "is not a decimal number"),
        (_rest(tick_size="0.05"), "tick_size: tick size '0.05' is not one of 0.1, 0.01"),
        (_rest(tick_size=0.01), "tick_size: 0.01 is not a decimal string"),
        (_rest(min_order_size=5), "min_order_size: 5 is not a decimal string"),
        (_rest(min_order_size="-5"), "min_order_size: size '-5' is negative"),
    ],
)
def test_rest_book_refuses_malformed_shapes(body: Any, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        book_from_rest(body)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_book_frame_with_bad_level_is_malformed_and_keeps_last_state() -> None:
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 1)
    books.apply_frame(json.dumps(_book(bids=[{"price": "0.48", "size": "0"}])), 2)
    books.apply_frame(json.dumps(_book(asks=[{"price": "1.5", "size": "1"}])), 3)
    assert books.stats.malformed == 2 and T in books.stale
    book = books.book(T)
    assert book is not None and (book.best_bid, book.best_ask) == (4900, 5200)
    with pytest.raises(ParseError, match=r"^asks\[1\]: size '0' is not positive$"):
        parse_levels([Level("0.5", "1"), Level("0.51", "0")], side="asks")


def test_rest_resync_parses_with_the_shared_reader() -> None:
    books = MarketBooks()
    apply_rest_book(books, msgspec.convert(_rest(), OrderBookSummary), 1)
    book = books.book(T)
    assert book is not None and book.tick == 100 and (book.best_bid, book.best_ask) == (4900, 5200)
    books.mark_stale(T)
    off_tick = _rest(bids=[{"price": "0.485", "size": "1"}])
    apply_rest_book(books, msgspec.convert(off_tick, OrderBookSummary), 2)
    assert books.stats.malformed == 1 and T in books.stale and book.best_bid == 4900


def test_cross_check_outcomes() -> None:
    """The quiet watchdog's verdicts: live, same (confirms the book), stalled (replaces it)."""
    books = MarketBooks()
    books.apply_frame(json.dumps(_book()), 100)
    book = books.book(T)
    assert book is not None
    assert books.cross_check(_rest(), asked_ns=50, now_ns=200) == "live"  # changed since asked
    assert books.cross_check(_rest(), asked_ns=150, now_ns=200) == "same" and book.ts_ns == 200
    moved = _rest(bids=[{"price": "0.45", "size": "1"}])
    assert books.cross_check(moved, asked_ns=250, now_ns=300) == "stalled"
    assert book.best_bid == 4500 and book.ts_ns == 300 and books.stats.stalls == 1
    finer = _rest(bids=[{"price": "0.45", "size": "1"}], tick_size="0.001")
    assert books.cross_check(finer, asked_ns=350, now_ns=400) == "stalled"  # a missed tick
    assert book.tick == 10
    assert books.cross_check({"bids": []}, 0, 1) == "refused"
    assert books.cross_check(["x"], 0, 1) == "refused" and books.stats.errors["value"] == 2
    books.halted.add(T)
    assert books.cross_check(_rest(), asked_ns=500, now_ns=600) == "refused"


def test_refusals_log_first_then_powers_of_ten(caplog: pytest.LogCaptureFixture) -> None:
    books = MarketBooks()
    with caplog.at_level("WARNING", logger="arbiter.venues.polymarket.parsing"):
        for _ in range(120):
            books.apply_frame(b"{not json", 1)
    assert books.stats.errors == {"json": 120}
    assert [r.getMessage().split("#")[1].split(" ")[0] for r in caplog.records] == ["1", "10",
                                                                                     "100"]


def test_new_ticks_and_lifecycle_hook() -> None:
    seen: list[object] = []
    books = MarketBooks(on_lifecycle=seen.append)
    books.apply_frame(json.dumps(_book()), 1)
    for text, units in (("0.005", 50), ("0.0025", 25), ("0.0001", 1), ("0.1", 1000)):
        books.apply_frame(json.dumps({"event_type": "tick_size_change", "asset_id": T,
                                      "new_tick_size": text}), 2)
        book = books.book(T)
        assert book is not None and book.tick == units
    assert len(seen) == 4 and books.stats.lifecycle == 4
    books.apply_frame(json.dumps({"event_type": "tick_size_change", "asset_id": T,
                                  "new_tick_size": "0.05"}), 3)
    assert books.stats.errors == {"value": 1} and T in books.stale
