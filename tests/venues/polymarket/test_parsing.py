"""Market-channel frames into core books: both wire forms, staleness marks, counters."""

from __future__ import annotations

import json
from typing import Any

from arbiter.venues.polymarket.parsing import MarketBooks

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
    books.apply_frame(json.dumps({"event_type": "new_market", "id": "1"}), 3)
    books.apply_frame(json.dumps([{"event_type": "market_resolved"}, _book(U)]), 4)
    books.apply_frame(json.dumps(_pc({"asset_id": T, "price": "0.505", "size": "1",
                                      "side": "BUY"})), 5)  # off the 0.01 grid
    books.apply_frame(json.dumps(_pc({"asset_id": T, "price": "0.5", "size": "1",
                                      "side": "HOLD"})), 6)
    books.apply_frame(json.dumps({"event_type": "book", "asset_id": T, "bids": "x"}), 7)
    stats = books.stats
    assert (stats.malformed, stats.rejected, stats.ignored) == (3, 1, 2)
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
