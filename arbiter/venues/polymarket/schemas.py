"""Wire messages of the Polymarket CLOB as typed ``msgspec`` structs, decoded once at the edge.

WebSocket events are a tagged union on ``event_type``, so one decoder dispatches a frame (a single
event or a JSON array of them) without hand-written ``if`` chains. Prices and sizes stay strings
here; :mod:`arbiter.venues.polymarket.parsing` turns them into exact core units. Unknown fields are
ignored (the venue adds fields without notice); where the venue renamed a field both names are
accepted (``bids``/``buys``, ``price_changes``/``changes``).

The same structs serve the local Polymarket, which decodes what the client encodes: both sides
of the wire are checked against one definition.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BestBidAskEvent",
    "BookEvent",
    "LastTradePriceEvent",
    "Level",
    "MarketEvent",
    "OrderBookSummary",
    "PostOrderBody",
    "PostOrderResponse",
    "PriceChange",
    "PriceChangeEvent",
    "TickSizeChangeEvent",
    "UserOrderEvent",
    "UserTradeEvent",
    "WireOrder",
]


class Level(msgspec.Struct, frozen=True):
    price: str
    size: str


class BookEvent(msgspec.Struct, frozen=True, tag="book", tag_field="event_type"):
    asset_id: str
    market: str = ""
    bids: list[Level] | None = None
    asks: list[Level] | None = None
    buys: list[Level] | None = None  # older feeds
    sells: list[Level] | None = None
    timestamp: str = ""
    hash: str = ""

    def bid_levels(self) -> list[Level]:
        return self.bids if self.bids is not None else (self.buys or [])

    def ask_levels(self) -> list[Level]:
        return self.asks if self.asks is not None else (self.sells or [])


class PriceChange(msgspec.Struct, frozen=True):
    price: str
    size: str
    side: str
    asset_id: str = ""
    hash: str = ""
    best_bid: str | None = None
    best_ask: str | None = None


class PriceChangeEvent(msgspec.Struct, frozen=True, tag="price_change", tag_field="event_type"):
    market: str = ""
    timestamp: str = ""
    price_changes: list[PriceChange] | None = None
    asset_id: str = ""  # legacy form: one asset, ``changes``
    changes: list[PriceChange] | None = None
    hash: str = ""


class TickSizeChangeEvent(
    msgspec.Struct, frozen=True, tag="tick_size_change", tag_field="event_type"
):
    asset_id: str
    new_tick_size: str
    market: str = ""
    old_tick_size: str = ""
    timestamp: str = ""


class LastTradePriceEvent(
    msgspec.Struct, frozen=True, tag="last_trade_price", tag_field="event_type"
):
    asset_id: str
    price: str
    market: str = ""
    side: str = ""
    size: str = ""
    fee_rate_bps: str = "0"
    timestamp: str = ""


class BestBidAskEvent(msgspec.Struct, frozen=True, tag="best_bid_ask", tag_field="event_type"):
    asset_id: str
    market: str = ""
    best_bid: str = ""
    best_ask: str = ""
    spread: str = ""
    timestamp: str = ""


MarketEvent = (
    BookEvent | PriceChangeEvent | TickSizeChangeEvent | LastTradePriceEvent | BestBidAskEvent
)
MARKET_EVENT_TYPES = frozenset(
    {"book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask"}
)


class MakerOrderRef(msgspec.Struct, frozen=True):
    order_id: str
    matched_amount: str = "0"
    price: str = ""
    owner: str = ""
    maker_address: str = ""
    asset_id: str = ""
    outcome: str = ""
    side: str = ""
    fee_rate_bps: str = "0"


class UserOrderEvent(msgspec.Struct, frozen=True, tag="order", tag_field="event_type"):
    id: str
    type: str = ""
    owner: str = ""
    order_owner: str = ""
    market: str = ""
    asset_id: str = ""
    side: str = ""
    price: str = ""
    original_size: str = "0"
    size_matched: str = "0"
    outcome: str = ""
    associate_trades: list[str] | None = None
    timestamp: str = ""


class UserTradeEvent(msgspec.Struct, frozen=True, tag="trade", tag_field="event_type"):
    id: str
    type: str = "TRADE"
    status: str = ""
    taker_order_id: str = ""
    market: str = ""
    asset_id: str = ""
    side: str = ""
    size: str = "0"
    price: str = ""
    outcome: str = ""
    owner: str = ""
    trade_owner: str = ""
    matchtime: str = ""
    last_update: str = ""
    timestamp: str = ""
    fee_rate_bps: str = "0"
    trader_side: str = ""
    maker_orders: list[MakerOrderRef] | None = None


UserEvent = UserOrderEvent | UserTradeEvent

# -- REST ------------------------------------------------------------------------------------


class OrderBookSummary(msgspec.Struct):
    """``GET /book``; all ten keys are read by the SDK, so the simulator emits every one."""

    market: str
    asset_id: str
    timestamp: str
    hash: str
    bids: list[Level]
    asks: list[Level]
    min_order_size: str
    tick_size: str
    neg_risk: bool
    last_trade_price: str


class PostOrderResponse(msgspec.Struct):
    success: bool = False
    errorMsg: str = ""
    orderID: str = ""
    status: str = ""
    makingAmount: str = ""
    takingAmount: str = ""
    transactionsHashes: list[str] | None = None
    tradeIDs: list[str] | None = None


class WireOrder(msgspec.Struct):
    """The ``order`` object of ``POST /order``: the union of the v1 and v2 field sets."""

    salt: int
    maker: str
    signer: str
    tokenId: str
    makerAmount: str
    takerAmount: str
    side: str
    signatureType: int
    signature: str
    taker: str | None = None
    expiration: str = "0"
    nonce: str | None = None
    feeRateBps: str | None = None
    timestamp: str | None = None
    metadata: str | None = None
    builder: str | None = None

    @property
    def version(self) -> int:
        """v2 orders carry ``timestamp`` and no ``taker``/``nonce``/``feeRateBps``."""
        return 2 if self.timestamp is not None and self.taker is None else 1


class PostOrderBody(msgspec.Struct):
    order: WireOrder
    owner: str
    orderType: str = "GTC"
    postOnly: bool = False
    deferExec: bool = False
