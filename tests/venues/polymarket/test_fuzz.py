"""The market-channel parser under hostile input: nothing escapes ``MarketBooks.apply_frame`` and
no book it touches is ever crossed, negative or off its grid (issue 18).

Seeds are the captured frames in ``fixtures/`` (verbatim, NautilusTrader) and the bench's
consistent stream; mutations come from ``bench.fuzz.mutate`` (driven by hypothesis's seeds) and
from hypothesis-built JSON documents that use the schema's own field names with values of any
type. ``python -m bench.fuzz`` runs the same over 100,000 frames.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbiter.venues.polymarket.parsing import MarketBooks
from bench.fuzz import FIXTURES, check_token_book, mutate, run_polymarket

SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.json"))]
_FIELDS = ["event_type", "asset_id", "market", "bids", "asks", "buys", "sells", "price", "size",
           "side", "price_changes", "changes", "best_bid", "best_ask", "new_tick_size",
           "old_tick_size", "fee_rate_bps", "timestamp", "assets_ids", "winning_asset_id",
           "tick_size", "hash"]
_TYPES = ["book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask",
          "market_resolved", "new_market"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12) | st.sampled_from(["0.5", "0.01", "0.0025", "1", "0", "-1", "BUY"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(_FIELDS), inner, max_size=5),
    max_leaves=25,
)
events = st.fixed_dictionaries(
    {"event_type": st.sampled_from(_TYPES) | json_values},
    optional={name: json_values for name in _FIELDS[1:]},
)


def _apply_checked(books: MarketBooks, touched: set[str], frame: bytes | str) -> None:
    books.apply_frame(frame, 1)  # an exception here fails the test: that is the point
    for asset in touched:
        assert not check_token_book(books.books[asset]), asset
    touched.clear()


def _primed() -> tuple[MarketBooks, set[str]]:
    touched: set[str] = set()
    books = MarketBooks(on_change=touched.add)
    for frame in SEEDS:
        books.apply_frame(frame, 0)
    touched.clear()
    return books, touched


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(SEEDS) - 1))
def test_mutated_real_frames_never_escape(seed: int, which: int) -> None:
    books, touched = _primed()
    rng = random.Random(seed)
    frame = SEEDS[which]
    for _ in range(4):
        frame = mutate(frame, rng)
        _apply_checked(books, touched, frame)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(events, st.lists(events, max_size=3), json_values))
def test_any_json_document_is_applied_or_counted(doc: Any) -> None:
    books, touched = _primed()
    before = books.stats.malformed + books.stats.events + books.stats.ignored
    _apply_checked(books, touched, json.dumps(doc))
    after = books.stats.malformed + books.stats.events + books.stats.ignored
    assert after >= before  # every frame lands in a counter; none vanishes, none raises


def test_known_killers_are_counted_by_kind() -> None:
    """The two escapes the reviewer measured on main, and their neighbours."""
    books, touched = _primed()
    for frame in (b"[" * 100_000, b'{"event_type": {"a": 1}}', b'{"event_type": [1]}',
                  b'{"event_type":"book","asset_id":"x","bids":' + b"[" * 5000 + b"]" * 5000
                  + b"}", b'[{"event_type": "price_change", "price_changes": [1]}]'):
        _apply_checked(books, touched, frame)
    assert books.stats.errors["nesting"] == 2 and books.stats.errors["schema"] >= 3


def test_ten_thousand_frames_half_mutated() -> None:
    result = run_polymarket(10_000, seed=18)
    assert result["escapes"] == 0, result["escape_types"]
    assert (result["crossed"], result["negative"], result["off_grid"]) == (0, 0, 0)
    assert result["mutated"] == 5_000 and result["malformed"] > 1_000
