"""What Kalshi refuses in an order create, checked without sending it (the dry run's check).

A dry run that accepts an order the venue would refuse rehearses nothing: an off-grid price or a
fractional count on a whole-contract market looked fine in ``--dry-run`` and failed live. The
rules, each from the venue's own statement of the market (``GET /markets/{ticker}``):

* the market trades only while ``status`` is ``active`` (docs ``/getting_started/market_lifecycle``;
  read by :func:`arbiter.core.lifecycle.phase_from_status`);
* the price must lie on the market's price grid: "the ``price_ranges`` array provides the exact
  valid price intervals and tick sizes for that market" (docs
  ``/getting_started/fixed_point_migration``, "Subpenny Pricing"); a NO price ``p`` is the YES
  price ``1 - p`` on the same book;
* the count is positive with at most 2 decimals ("Requests accept 0-2 decimal places",
  ``count_fp`` of ``CreateOrderRequest``, kalshi-python-sync 3.34.0 / docs ``/api-reference``), and
  whole unless the market says ``fractional_trading_enabled`` ("Whether fractional order sizes are
  accepted", the same migration page); so the minimum is 1 contract, or 0.01 where fractional.

The refusal is built by :func:`arbiter.venues.kalshi.errors.error_from_response` from the 400 body
the local Kalshi answers for the same order (``arbiter/sim/kalshi/exchange.py`` ``place``), so a
dry-run refusal is the same typed :class:`~arbiter.venues.base.RejectedError`, code and all, as the
client raises for the venue's. Kalshi does not publish its REST error code strings; the class and
status are what callers act on.
"""

from __future__ import annotations

import json

from arbiter.core.book import Outcome
from arbiter.core.units import PRICE_SCALE, SIZE_SCALE, format_price
from arbiter.venues.base import OrderRequest, VenueError
from arbiter.venues.kalshi.errors import error_from_response
from arbiter.venues.kalshi.wire import KalshiMarket

__all__ = ["check_order"]

#: count_fp carries at most 2 decimals: 0.01 contract
COUNT_STEP = SIZE_SCALE // 100


def _refusal(code: str, message: str) -> VenueError:
    return error_from_response(400, json.dumps({"error": {"code": code, "message": message}}))


def check_order(market: KalshiMarket, request: OrderRequest) -> None:
    """Raise the venue's refusal of ``request`` on ``market``, or return if it would be accepted
    (balance aside: that is the account's, and the dry run's reads show it)."""
    ticker = market.ticker
    if market.phase is None or not market.phase.trades:
        raise _refusal("market_closed", f"market {ticker} is not open for trading")
    price = request.price
    yes_price = price if request.outcome is Outcome.YES else PRICE_SCALE - price
    if market.grid is None or not market.grid.contains(yes_price):
        shown = format_price(price) if 0 < price < PRICE_SCALE else str(price)
        described = market.grid.describe() if market.grid is not None else "unknown"
        raise _refusal("invalid_price", f"{ticker}: price {shown} is not on the market's price "
                                        f"grid ({described})")
    if request.size <= 0 or request.size % COUNT_STEP:
        raise _refusal("invalid_count", "count must be positive with at most 2 decimals")
    if not market.fractional and request.size % SIZE_SCALE:
        raise _refusal("invalid_count", "fractional counts are not enabled on this market")
