"""The engine's Polymarket wiring (``actors.detector_books``, as ``Arbiter._boot`` uses it) against
the local Polymarket: the detector trades the feed's live books, never a book that is being
resynced, too old, or of a resolved market; the engine's default age budget is real."""

from __future__ import annotations

import time

import aiohttp
import pytest

from arbiter.app.config import EngineConfig, _book_age_ns
from arbiter.app.feeds import detector_books
from arbiter.core.detection import DEFAULT_MAX_BOOK_AGE_NS, DetectionConfig, Detector
from arbiter.core.pairs import Pair
from arbiter.core.units import ONE_CONTRACT, Size
from arbiter.engine.arbiter import _NotIn
from arbiter.venues.polymarket.ws import Backoff, MarketFeed
from tests.sim.polymarket.conftest import SimHandle, bare_sim, place_raw
from tests.sim.polymarket.test_market_feed import _until

__all__ = ["bare_sim"]  # the fixture, imported for this module
pytestmark = pytest.mark.integration
C = 100


def test_engine_default_book_age_is_real() -> None:
    assert EngineConfig.__dataclass_fields__["detection"].default_factory().max_book_age_ns == (
        DEFAULT_MAX_BOOK_AGE_NS) == 15_000_000_000
    assert _book_age_ns({}) == DEFAULT_MAX_BOOK_AGE_NS
    assert _book_age_ns({"max_book_age_ms": 2500}) == 2_500_000_000
    for bad in (0, -1, "15", True, 1.5):
        with pytest.raises(ValueError, match="max_book_age_ms"):
            _book_age_ns({"max_book_age_ms": bad})


def test_kalshi_tickers_not_valid_are_blocked() -> None:
    valid = {"KX-1"}
    blocked = _NotIn(valid, frozenset({"KX-1", "KX-2"}))
    assert "KX-2" in blocked and "KX-1" not in blocked
    assert "7132" not in blocked  # a Polymarket token is never blocked by Kalshi validity
    valid.add("KX-2")  # the live set is read, no copy
    assert "KX-2" not in blocked


async def test_detector_trades_live_books_only(bare_sim: SimHandle) -> None:
    m = bare_sim.market
    # the venue's market data, as the engine's start-up refresh states it (ADR 0037)
    pair = Pair("p", "KX-T", m.yes_token, m.no_token, polymarket_fee=m.fee,
                polymarket_min_order_size=Size(m.min_order_size))
    detector = Detector([pair], DetectionConfig(max_book_age_ns=DEFAULT_MAX_BOOK_AGE_NS))
    found: list[int] = []
    pbooks = detector_books(
        detector, lambda token: found.append(len(detector.on_token(token, time.time_ns()))))
    # YES bids at 0.50 on the venue: the NO token's ask is 0.50; Kalshi YES ask 0.47 beside it
    place_raw(bare_sim.exchange, m, m.yes_token, "BUY", 50 * C, 40 * ONE_CONTRACT)
    detector.kalshi_book("KX-T").apply_snapshot(yes=[], no=[(53 * C, 40 * ONE_CONTRACT)],
                                                ts_ns=time.time_ns())
    feed = MarketFeed([m.yes_token, m.no_token], ws_url=bare_sim.ws_url, books=pbooks, seed=3,
                      backoff=Backoff(initial_s=0.01, max_s=0.05), quiet_after_s=None)
    async with feed:
        await _until(lambda: not pbooks.stale and pbooks.books[m.no_token].best_ask == 50 * C)
        assert detector.evaluate("p", time.time_ns())  # the arb is there, and tradable
        pbooks.stale.add(m.no_token)  # e.g. a best_bid mismatch: resyncing
        assert detector.evaluate("p", time.time_ns()) == []
        pbooks.stale.discard(m.no_token)
        later = time.time_ns() + DEFAULT_MAX_BOOK_AGE_NS + 1
        assert detector.evaluate("p", later) == []  # nothing confirmed it for 15 s
        async with aiohttp.ClientSession() as http, http.post(
            f"{bare_sim.url}/_sim/market-feed",
            json={"action": "resolve", "token_id": m.yes_token, "winner": m.yes_token},
            headers=bare_sim.sim.admin_headers(),
        ) as resp:
            assert resp.status == 200
        await _until(lambda: m.no_token in pbooks.halted)
        detector.kalshi_book("KX-T").ts_ns = time.time_ns()
        assert detector.evaluate("p", time.time_ns()) == []  # resolved: never again
    assert detector.skipped["blocked:polymarket"] >= 2
    assert detector.skipped["age:kalshi"] + detector.skipped.get("age:polymarket", 0) >= 1


def test_arbiter_exports_feed_health_and_skips_as_metrics() -> None:
    """``Arbiter._export_feed_health`` (run every second by the actor's export loop), on a bare
    instance holding only what it reads: counts become Prometheus counters, once each."""
    from prometheus_client import generate_latest

    from arbiter.engine.arbiter import Arbiter
    from arbiter.telemetry.metrics import Metrics
    from arbiter.venues.polymarket.parsing import MarketBooks

    arbiter = Arbiter.__new__(Arbiter)
    arbiter.metrics = Metrics()
    arbiter.poly_books = MarketBooks()
    arbiter.detector = Detector([Pair("p", "KX-T", "1", "2")], DetectionConfig())
    arbiter._feed_seen = {}
    arbiter.feeds = None  # no Kalshi feed: its gaps and reconnects are counted elsewhere
    arbiter.poly_books.apply_frame(b"[" * 10_000, 1)
    arbiter.poly_books.stats.stalls = 2
    arbiter.detector.skipped.update({"age:kalshi": 3, "blocked:polymarket": 1})
    arbiter._export_feed_health()
    arbiter._export_feed_health()  # diffed: nothing counted twice
    body = generate_latest(arbiter.metrics.registry).decode()
    assert 'arbiter_feed_errors_total{kind="nesting",venue="polymarket"} 1.0' in body
    assert 'arbiter_feed_stale_total{reason="stall",venue="polymarket"} 2.0' in body
    assert 'arbiter_stale_books_skipped_total{reason="age",venue="kalshi"} 3.0' in body
    assert 'arbiter_stale_books_skipped_total{reason="blocked",venue="polymarket"} 1.0' in body
