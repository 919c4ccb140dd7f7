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
    "LifecycleEvent",
    "MarketEvent",
    "MarketResolvedEvent",
    "NewMarketEvent",
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
    #: observed on the live feed (third-party capture, docs/polymarket.md "Feeds"); optional
    tick_size: str = ""

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
    #: oldest form, one change at the top level (NautilusTrader's captured
    #: ``tests/integration_tests/adapters/polymarket/resources/ws_messages/price_change.json``)
    price: str = ""
    size: str = ""
    side: str = ""

    def levels(self) -> list[PriceChange]:
        if self.price_changes:
            return self.price_changes
        if self.changes:
            return self.changes
        if self.price or self.size or self.side:
            return [PriceChange(self.price, self.size, self.side, self.asset_id)]
        return []


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
    #: no default of "0": an absent fee is unknown, never free (parsing refuses it as a fee)
    fee_rate_bps: str = ""
    timestamp: str = ""
    transaction_hash: str = ""


class BestBidAskEvent(msgspec.Struct, frozen=True, tag="best_bid_ask", tag_field="event_type"):
    asset_id: str
    market: str = ""
    best_bid: str = ""
    best_ask: str = ""
    spread: str = ""
    timestamp: str = ""


class MarketResolvedEvent(
    msgspec.Struct, frozen=True, tag="market_resolved", tag_field="event_type"
):
    """``market_resolved`` (custom feature): the market stops trading for good.

    Fields per docs ``/market-data/websocket/market-channel``, ``polymarket-client`` 0.14.0
    ``models/clob/market_events.py`` (``MarketResolvedPayload``, which also accepts the
    ``winning_token_id`` spelling) and NautilusTrader's capture ``ws_market_resolved_msg.json``.
    """

    market: str
    assets_ids: list[str] = []
    winning_asset_id: str = ""
    winning_token_id: str = ""
    winning_outcome: str = ""
    id: str = ""
    timestamp: str = ""

    @property
    def winner(self) -> str:
        return self.winning_asset_id or self.winning_token_id


class NewMarketEvent(msgspec.Struct, frozen=True, tag="new_market", tag_field="event_type"):
    """``new_market`` (custom feature): a market was listed (``NewMarketPayload`` in
    ``polymarket-client``; NautilusTrader's ``ws_market_new_market_msg.json``)."""

    market: str
    assets_ids: list[str] = []
    outcomes: list[str] = []
    question: str = ""
    slug: str = ""
    id: str = ""
    order_price_min_tick_size: str = ""
    active: bool | None = None
    timestamp: str = ""


MarketEvent = (
    BookEvent
    | PriceChangeEvent
    | TickSizeChangeEvent
    | LastTradePriceEvent
    | BestBidAskEvent
    | MarketResolvedEvent
    | NewMarketEvent
)
MARKET_EVENT_TYPES = frozenset(
    {"book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask",
     "market_resolved", "new_market"}
)
#: the events that change what may be traded, not the book: delivered to ``on_lifecycle``
LifecycleEvent = MarketResolvedEvent | NewMarketEvent | TickSizeChangeEvent


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
    #: the order's state (``polymarket-client`` 0.14.0 ``UserOrderPayload.status``, optional
    #: there too); read through ``order_status`` like a REST state
    status: str = ""
    maker_address: str = ""


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
    #: the match time, Unix seconds: ``match_time`` today (venues.md §0.1; ``polymarket-client``
    #: ``UserTradePayload.matched_at`` reads ``match_time``, then the older ``matchtime``)
    match_time: str = ""
    matchtime: str = ""
    last_update: str = ""
    timestamp: str = ""
    fee_rate_bps: str = "0"
    trader_side: str = ""
    maker_orders: list[MakerOrderRef] | None = None

    @property
    def matched_at(self) -> str:
        return self.match_time or self.matchtime


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
