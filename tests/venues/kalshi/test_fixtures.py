"""Frames captured from the real venue (fixtures/README.md), parsed exactly or refused."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

from arbiter.core.book import Outcome
from arbiter.core.units import ONE_CONTRACT as ONE
from arbiter.venues.kalshi.config import KalshiConfig
from arbiter.venues.kalshi.ws import KalshiFeed, TickerQuote, TradePrint, iso_ns

FIXTURES = Path(__file__).parent / "fixtures"
S = 1_000_000_000


def lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def feed_for(frames: list[str]) -> KalshiFeed:
    tickers = [json.loads(f)["msg"]["market_ticker"] for f in frames]
    return KalshiFeed(KalshiConfig(), None, tickers, check_grids=False)


def test_captured_ticker_frames() -> None:
    frames = lines("ws_ticker_ssmd.jsonl")
    feed = feed_for(frames)
    for f in frames:
        feed.process(f)
    assert feed.stats.malformed == 0 and feed.stats.tickers == len(frames)
    assert feed.quotes["KXXRP-26FEB1317-B1.3899500"] == TickerQuote(
        "KXXRP-26FEB1317-B1.3899500", 400, 9500, 1400, 1770897976 * S)
    # "yes_ask_dollars": "1.0000" is the venue's empty-ask sentinel, "price_dollars": "0.0000"
    # means no trade yet: neither is a price
    assert feed.quotes["KXETHD-26FEB1217-T1819.99"].yes_ask is None
    assert feed.quotes["KXETHD-26FEB1217-T1779.99"].last is None
    for f in frames:  # every frame's dollar fields agree with its legacy integer twins
        m = json.loads(f)["msg"]
        q = feed.quotes[m["market_ticker"]]
        assert q.yes_bid == (m["yes_bid"] * 100 or None)
        assert q.yes_ask == (None if m["yes_ask"] == 100 else m["yes_ask"] * 100)


def test_captured_trade_frames() -> None:
    frames = lines("ws_trade_ssmd.jsonl")
    feed = feed_for(frames)
    for f in frames:
        feed.process(f)
    assert feed.stats.malformed == 0 and feed.stats.trades == len(frames)
    last = json.loads(frames[-1])["msg"]
    print_ = feed.trades[last["market_ticker"]]
    assert print_ == TradePrint(last["trade_id"], last["market_ticker"],
                                last["yes_price"] * 100, last["count"] * ONE,
                                last["taker_side"], last["ts"] * S)


def test_nautilus_frames_snapshot_delta_and_trade() -> None:
    feed = KalshiFeed(KalshiConfig(), None, ["KXBTC-25MAR15-B100000"], check_grids=False)
    feed.process((FIXTURES / "nautilus_ws_orderbook_snapshot.json").read_text())
    book = feed.books["KXBTC-25MAR15-B100000"]
    assert book.bids(Outcome.YES).size_at(4200) == 13 * ONE
    assert book.best_ask(Outcome.YES) == 4400  # 1 - best NO bid 0.56
    feed.process((FIXTURES / "nautilus_ws_orderbook_delta.json").read_text())
    assert book.bids(Outcome.YES).size_at(4200) == 63 * ONE
    # the delta carries only the RFC 3339 "ts": its exact instant stamps the book
    expected = calendar.timegm((2025, 3, 1, 18, 26, 53, 0, 0, 0)) * S + 361_842_000
    assert book.ts_ns == expected == iso_ns("2025-03-01T18:26:53.361842Z")
    feed.process((FIXTURES / "nautilus_ws_trade.json").read_text())
    assert feed.trades["KXBTC-25MAR15-B100000"] == TradePrint(
        "d91bc706-ee49-470d-82d8-11418bda6fed", "KXBTC-25MAR15-B100000", 3600, 136 * ONE, "no",
        1741052641 * S)
    assert feed.stats.malformed == 0 and feed.stats.gaps == 0


def test_broken_variants_are_refused_not_guessed() -> None:
    base = json.loads(lines("ws_ticker_ssmd.jsonl")[0])
    feed = feed_for([json.dumps(base)])
    bad = json.loads(json.dumps(base))
    bad["msg"]["yes_bid_dollars"] = "0.04x"
    feed.process(json.dumps(bad))
    trade = json.loads(lines("ws_trade_ssmd.jsonl")[0])
    trade["msg"]["market_ticker"] = base["msg"]["market_ticker"]
    trade["msg"]["taker_side"] = "maybe"
    feed.process(json.dumps(trade))
    delta = json.loads((FIXTURES / "nautilus_ws_orderbook_delta.json").read_text())
    delta["msg"]["ts"] = "yesterday"
    snap = json.loads((FIXTURES / "nautilus_ws_orderbook_snapshot.json").read_text())
    other = KalshiFeed(KalshiConfig(), None, ["KXBTC-25MAR15-B100000"], check_grids=False)
    other.process(json.dumps(snap))
    other.process(json.dumps(delta))
    assert feed.stats.malformed == 2 and base["msg"]["market_ticker"] not in feed.quotes
    assert base["msg"]["market_ticker"] not in feed.trades
    assert other.stats.malformed == 1 and other.stats.gaps == 1  # its seq is spent: resync
    assert other.books["KXBTC-25MAR15-B100000"].bids(Outcome.YES).size_at(4200) == 13 * ONE
