"""Frames and REST bodies published by NautilusTrader (fixtures/README.md): each one is parsed to
exact integer units, checked against an independent Decimal reading of the same file, or refused
with a typed error. The files are read as bytes and never edited."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arbiter.core.book import TokenBook
from arbiter.venues.polymarket.parsing import LastTrade, MarketBooks, ParseError, book_from_rest
from arbiter.venues.polymarket.schemas import (
    LifecycleEvent,
    MarketResolvedEvent,
    NewMarketEvent,
    TickSizeChangeEvent,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _json(name: str) -> Any:
    return json.loads(_raw(name))


def _units(text: str, scale: int) -> int:
    """The oracle: the decimal string times the scale, exactly (refuses anything inexact)."""
    value = Decimal(text) * scale
    assert value == value.to_integral_value(), text
    return int(value)


def _levels(raw: list[dict[str, str]], best_first_desc: bool) -> list[tuple[int, int]]:
    out = [(_units(lv["price"], 10_000), _units(lv["size"], 1_000_000)) for lv in raw]
    return sorted(out, reverse=best_first_desc)


def _books() -> tuple[MarketBooks, list[LifecycleEvent]]:
    seen: list[LifecycleEvent] = []
    return MarketBooks(on_lifecycle=seen.append), seen


def test_every_fixture_is_applied_or_refused_without_escaping() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        books, _ = _books()
        books.apply_frame(path.read_bytes(), 1)  # must not raise, whatever it holds
        stats = books.stats
        assert stats.frames == 1
        assert stats.events + stats.malformed + stats.ignored >= 1, path.name


def test_captured_book_frame_exact_units() -> None:
    books, _ = _books()
    body = _json("ws_book.json")
    assert books.apply_frame(_raw("ws_book.json"), 7) == 1
    book = books.book(body["asset_id"])
    assert book is not None and not books.stale
    assert list(book.bids) == _levels(body["bids"], True)
    assert list(book.asks) == _levels(body["asks"], False)
    assert (len(list(book.bids)), len(list(book.asks))) == (76, 86)
    assert (book.best_bid, book.best_ask) == (5110, 5140)  # 0.511 / 0.514
    assert book.tick == 10  # prices such as 0.999 put the book on the 0.001 grid
    assert list(book.asks)[-1] == (9990, 10_500_100_000_000)  # "0.999" x "10500100"
    assert books.market_of[body["asset_id"]] == body["market"]


def test_oldest_price_change_form_after_the_captured_book() -> None:
    """Top-level price/side/size, no changes array: the same asset as ws_book.json."""
    books, _ = _books()
    books.apply_frame(_raw("ws_book.json"), 1)
    change = _json("ws_price_change_oldest.json")
    assert books.apply_frame(_raw("ws_price_change_oldest.json"), 2) == 1
    book = books.book(change["asset_id"])
    assert book is not None
    assert book.asks.size_at(5140) == 21_574_080_000  # SELL 0.514 is now 21574.08
    assert book.ts_ns == 2 and not books.stale


def test_price_change_v2_crossing_batch_is_refused_as_a_unit() -> None:
    """The captured batch rests a BUY at 0.7 while best_ask is 0.7: applied atomically, the
    group would cross, so none of it is applied and the token is stale (resynced)."""
    books, _ = _books()
    frame = _json("ws_price_change_v2.json")
    asset = frame["price_changes"][0]["asset_id"]
    books.books[asset] = TokenBook(asset)
    books.books[asset].apply_snapshot([(6000, 1_000_000)], [(7000, 1_000_000)], 1)
    books.apply_frame(_raw("ws_price_change_v2.json"), 2)
    book = books.books[asset]
    assert list(book.bids) == [(6000, 1_000_000)] and asset in books.stale
    assert books.stats.rejected == 1


def test_price_change_for_an_unknown_token_marks_it_stale() -> None:
    books, _ = _books()
    books.apply_frame(_raw("ws_price_change.json"), 1)
    assert books.stats.mismatches == 1 and len(books.stale) == 1


def test_small_book_then_best_bid_ask_check() -> None:
    books, _ = _books()
    body = _json("ws_book_small.json")
    books.apply_frame(_raw("ws_book_small.json"), 1)
    book = books.book(body["asset_id"])
    assert book is not None and (book.best_bid, book.best_ask) == (5000, 5100)
    assert list(book.bids) == [(5000, 200_000_000), (4900, 350_000_000)]
    # the captured best_bid_ask is for another token: no book, no mismatch, nothing stale
    books.apply_frame(_raw("ws_best_bid_ask.json"), 2)
    assert not books.stale and books.stats.events == 2


@pytest.mark.parametrize(
    ("name", "price", "size", "side"),
    [("ws_last_trade_price.json", 4910, 85_360_000, "SELL"),
     ("ws_last_trade_small.json", 5100, 25_000_000, "BUY")],
)
def test_last_trade_price_size_side_fee(name: str, price: int, size: int, side: str) -> None:
    books, _ = _books()
    body = _json(name)
    books.apply_frame(_raw(name), 1)
    trade = books.trades[body["asset_id"]]
    assert trade == LastTrade(price, size, side, 0, int(body["timestamp"]))
    assert books.last_trade[body["asset_id"]] == price


def test_tick_size_changes_reach_the_hook_and_the_book() -> None:
    books, seen = _books()
    frame = _json("ws_tick_size_coarse_to_fine.json")
    asset = frame["asset_id"]
    books.books[asset] = TokenBook(asset, tick=1000)
    books.books[asset].apply_snapshot([(4000, 1)], [(6000, 1)], 1, tick=1000)
    books.apply_frame(_raw("ws_tick_size_coarse_to_fine.json"), 2)
    assert books.books[asset].tick == 100 and list(books.books[asset].bids) == [(4000, 1)]
    books.apply_frame(_raw("ws_tick_size_change.json"), 3)  # a token we hold no book of
    assert [type(e) for e in seen] == [TickSizeChangeEvent, TickSizeChangeEvent]
    assert isinstance(seen[1], TickSizeChangeEvent) and seen[1].new_tick_size == "0.001"


def test_new_market_and_market_resolved_are_lifecycle_events() -> None:
    books, seen = _books()
    resolved = _json("ws_market_resolved.json")
    yes, no = resolved["assets_ids"]
    for token in (yes, no):
        books.books[token] = TokenBook(token)
    books.apply_frame(_raw("ws_new_market.json"), 1)
    books.apply_frame(_raw("ws_market_resolved.json"), 2)
    new, done = seen
    assert isinstance(new, NewMarketEvent) and new.assets_ids == [yes, no]
    assert new.order_price_min_tick_size == "0.01" and new.active is True
    assert isinstance(done, MarketResolvedEvent) and done.winner == yes
    assert done.winning_outcome == "Yes" and books.halted == {yes, no}
    assert books.stats.malformed == 0 and books.stats.lifecycle == 2


def test_rest_bodies_exact_or_typed_refusal() -> None:
    body = _json("rest_book.json")
    book = book_from_rest(body)
    assert book.tick is None and book.min_order_size == 0  # this capture predates both keys
    assert sorted(book.bids) == sorted(_levels(body["bids"], True))
    assert sorted(book.asks) == sorted(_levels(body["asks"], False))
    assert max(book.bids) == (1000, 125_000_000) and min(book.asks) == (1400, 705_000_000)
    small = book_from_rest(_json("rest_book_no_tick.json"))
    assert max(small.bids)[0] == 5000 and min(small.asks)[0] == 5100
    # the feed's resync applies both through the same reader
    books, _ = _books()
    assert books.apply_rest(body, 5) and books.apply_rest(_json("rest_book_no_tick.json"), 5)
    # a frame is not a REST body: refused with a typed error naming the field
    with pytest.raises(ParseError, match="bids"):
        book_from_rest(_json("ws_market_resolved.json"))
