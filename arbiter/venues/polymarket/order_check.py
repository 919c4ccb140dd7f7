"""What the Polymarket CLOB refuses in an order, checked without signing or sending it.

The dry run's check (issue 23): the rules, from the token's own book (``GET /book``:
``tick_size`` and ``min_order_size``, docs.polymarket.com ``/api-reference/orderbook/get-book``;
the SDKs read the same keys), each refused with the venue's sentence:

* the price is a multiple of the tick and within ``[tick, 1 - tick]`` (py-clob-client-v2 1.2.1
  ``utilities.price_valid``; the CLOB answers ``order is invalid. Price (...) breaks minimum tick
  size rule: ...``, ``INVALID_ORDER_MIN_TICK_SIZE`` in the docs' placement table);
* shares carry at most 2 decimals (``ROUNDING_CONFIG`` ``size=2`` in py-clob-client-v2 1.2.1
  ``order_builder/builder.py``): like the real client (:func:`arbiter.venues.polymarket.orders.
  order_amounts`) the extra digits are dropped before signing, and what is left must be positive;
* the shares are at least ``min_order_size`` (``order is invalid. Size (...) lower than the
  minimum: ...``, ``INVALID_ORDER_MIN_SIZE``).

The refusal goes through :func:`arbiter.venues.polymarket.rest.error_from_message`, the mapping
the client applies to the venue's answer, so it is the same typed
:class:`~arbiter.venues.base.RejectedError` with the same code.
"""

from __future__ import annotations

from arbiter.core.units import PRICE_SCALE, UnitError, parse_size, parse_tick, price_str, size_str
from arbiter.venues.base import OrderRequest, RejectedError
from arbiter.venues.polymarket.errors import min_size_message, tick_message
from arbiter.venues.polymarket.orders import SHARE_STEP
from arbiter.venues.polymarket.rest import error_from_message
from arbiter.venues.polymarket.schemas import OrderBookSummary

__all__ = ["check_order"]


def check_order(book: OrderBookSummary, request: OrderRequest) -> None:
    """Raise the venue's refusal of ``request`` against the token's ``book``, or return."""
    try:
        tick = parse_tick(book.tick_size)
        minimum = parse_size(book.min_order_size)
    except UnitError as exc:  # unknown is never zero: a market we cannot read is not traded
        raise RejectedError("MARKET_DATA_UNKNOWN",
                            f"/book {request.market}: {exc}; the order cannot be checked") from None
    price = request.price
    if price % tick or not tick <= price <= PRICE_SCALE - tick:
        raise error_from_message(400, tick_message(price_str(price), book.tick_size))
    shares = request.size - request.size % SHARE_STEP
    if shares <= 0:
        raise RejectedError("INVALID_ORDER", f"size {size_str(request.size)} is below one "
                                             "hundredth of a share")
    if shares < minimum:
        raise error_from_message(400, min_size_message(size_str(shares), book.min_order_size))
