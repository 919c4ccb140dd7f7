"""The local Polymarket's exchange state: markets, wallets, API keys, orders and settlement.

No I/O here (the aiohttp shell is :mod:`server`): every method takes ``now_ns`` and returns or
emits plain dicts, so the behaviour is testable without sockets and reproducible from a seed.

Matching runs on the shared :class:`~arbiter.core.matching.MatchingBook`, one per market, on the
YES price axis (docs/adr/0031): BUY YES @p = BUY p, SELL YES @p = SELL p, BUY NO @q = SELL 1-q
(a *mint* when it meets a BUY YES), SELL NO @q = BUY 1-q (a *merge* against a SELL YES). Each
participant settles only its own order's flows — a BUY pays its token price times size and
receives tokens, a SELL delivers tokens and receives collateral — which conserves collateral
and tokens for all four pairings. The NO token's book is the mirror of the YES axis, so a resting
BUY NO shows up in the YES book as an ask (the venue's displayed mirroring is believed, not
confirmed; venues.md §2.1).

Money is exact: collateral in ``Money`` (1e-10 $), tokens in ``Size`` (1e-6 share); wire amounts
(6 decimals) are converted at the edge.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.matching import (
    Fill,
    LevelChange,
    MatchingBook,
    MatchResult,
    Order,
    OrderSide,
    TimeInForce,
)
from arbiter.core.matching import OrderStatus as EngineStatus
from arbiter.core.units import (
    PRICE_SCALE,
    SIZE_SCALE,
    UnitError,
    price_str,
    size_str,
)
from arbiter.sim.polymarket import prose
from arbiter.venues.polymarket.auth import ApiCreds
from arbiter.venues.polymarket.constants import (
    POLYGON_CHAIN_ID,
    SIDE_CODES,
    SIG_EOA,
    SIG_POLY_1271,
    V3,
    VERSIONS,
    ZERO_ADDRESS,
)
from arbiter.venues.polymarket.schemas import PostOrderBody, WireOrder
from arbiter.venues.polymarket.signing import (
    ORDER_V2_TYPE,
    OrderV1,
    OrderV2,
    SignatureError,
    book_hash,
    checksum,
    exchange_domain,
    parse_erc7739,
    recover_signer,
    typed_data_sign_digest,
)

__all__ = ["Exchange", "SimMarket", "SimOrder", "SimReject", "Wallet"]

#: Money units per 6-decimal collateral base unit.
_MONEY_PER_USDC_UNIT: Final = 10**4
#: Shares are accurate to 2 decimals: every official builder rounds sizes to 2 places for every
#: tick (``polymarket-client`` 0.14.0 ``_internal/actions/orders/context.py``
#: ``_ROUNDING_BY_TICK`` ``size=2``; venues.md §2.3). The venue's rule, kept here apart from the
#: client's order builder so the two are not one assumption.
SHARE_STEP: Final = SIZE_SCALE // 100
#: 6-decimal base units per (``Price`` unit x share): price = usdc * 1e4 / shares
_USDC_PER_PRICE_SHARE: Final = PRICE_SCALE
_NS: Final = 1_000_000_000
UNLIMITED_ALLOWANCE: Final = str(2**256 - 1)
#: A GTD order must expire at least 3 minutes ahead, "orders expiring sooner are rejected"
#: (docs /trading/place-orders, "Limit Orders"; the venue also retires a GTD order one minute
#: before its stated expiration, the "security threshold" of /trading/orders/overview). The
#: refusal is the sentence ``polymarket-client`` maps to ``invalid_expiration``.
GTD_MIN_LEAD_S: Final = 180
#: ... and is retired this long before its stated expiration (docs /trading/place-orders: "GTD
#: orders expire one minute before their stated expiration as a security threshold")
GTD_SECURITY_THRESHOLD_S: Final = 60


class SimReject(Exception):
    """A request the venue refuses: HTTP status, venue code (``errorMsg``) and message."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class SimMarket:
    key: str
    condition_id: str
    question: str
    yes_token: str
    no_token: str
    tick: int = 100
    min_order_size: int = 5 * SIZE_SCALE
    neg_risk: bool = False
    #: taker fee curve (construction only: :attr:`fee` is what ``/clob-markets`` serves as
    #: ``fd`` and every match is charged; replace it to re-price the market): docs
    #: ``/trading/fees``, ``C x rate x (p(1-p))^e`` pUSD, floored to $0.00001
    fee_rate: Fraction = Fraction(0)
    fee_exponent: int = 1
    #: the *legacy* base fee of ``/fee-rate`` (and v1 ``feeRateBps``): 1000 on fee-charging
    #: markets, 0 on fee-free ones (py-clob-client-v2 issue #107); it prices nothing
    fee_bps: int = 0
    end_date_iso: str = "2026-12-31T00:00:00Z"
    description: str = ""
    slug: str = ""
    active: bool = True
    last_trade: int | None = None
    #: matching delay of marketable orders (the venue's ``seconds_delay``, e.g. sports markets):
    #: such orders are answered ``delayed`` and matched this much later (0: at once)
    match_delay_ms: int = 0
    #: the winning token once resolved (``market_resolved``); the market takes no more orders
    winner: str | None = None
    #: a protocol-V2 market: its outcome ids are position ids and its orders are signed for
    #: ExchangeV3, domain version "3" (docs /protocol-v2-migration; ADR 0123)
    position_ids: bool = False
    #: last published top of book per token (``best_bid_ask`` goes out when it moves)
    tops: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    engine: MatchingBook = field(init=False)
    fee: PolymarketFeeModel = field(init=False)

    def __post_init__(self) -> None:
        self.engine = MatchingBook(self.condition_id, tick=self.tick, lot=SHARE_STEP)
        self.fee = PolymarketFeeModel(Fraction(self.fee_rate), self.fee_exponent)

    def fee_bound(self, price: int, size: int) -> int:
        """Most fee an order of ``size`` with limit ``price`` can pay (for its reservation)."""
        return self.fee.level_term(min(price, PRICE_SCALE // 2), size)

    def outcome(self, token: str) -> str:
        return "Yes" if token == self.yes_token else "No"

    def to_axis(self, token: str, side: str, price: int) -> tuple[OrderSide, int]:
        """A token order as a YES-axis order (the NO token trades the mirrored price)."""
        if token == self.yes_token:
            return (OrderSide.BUY if side == "BUY" else OrderSide.SELL), price
        return (OrderSide.SELL if side == "BUY" else OrderSide.BUY), PRICE_SCALE - price

    def token_price(self, token: str, axis_price: int) -> int:
        return axis_price if token == self.yes_token else PRICE_SCALE - axis_price

    def levels(self, token: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) of one token, best first."""
        bids = self.engine.depth(OrderSide.BUY)
        asks = self.engine.depth(OrderSide.SELL)
        if token == self.yes_token:
            return bids, asks
        return [(PRICE_SCALE - p, s) for p, s in asks], [(PRICE_SCALE - p, s) for p, s in bids]

    def crosses(self, token: str, side: str, price: int) -> bool:
        """Would an order on ``token`` at ``price`` trade on arrival (is it marketable)?"""
        axis_side, axis_price = self.to_axis(token, side, price)
        if axis_side is OrderSide.BUY:
            ask = self.engine.best_ask()
            return ask is not None and axis_price >= ask
        bid = self.engine.best_bid()
        return bid is not None and axis_price <= bid

    def top(self, token: str) -> tuple[int | None, int | None]:
        bid, ask = self.engine.best_bid(), self.engine.best_ask()
        if token == self.yes_token:
            return bid, ask
        return (
            None if ask is None else PRICE_SCALE - ask,
            None if bid is None else PRICE_SCALE - bid,
        )

    @property
    def tick_text(self) -> str:
        return price_str(self.tick)


@dataclass
class Wallet:
    address: str
    collateral: int = 0  # Money
    tokens: dict[str, int] = field(default_factory=dict)  # Size per token id
    reserved_collateral: int = 0
    reserved_tokens: dict[str, int] = field(default_factory=dict)
    #: funded but not yet seen by the venue's cached balance: credited by
    #: ``GET /balance-allowance/update`` (venues.md §0.1; docs ``/api-reference``
    #: "update balance allowance")
    unseen_collateral: int = 0
    unseen_tokens: dict[str, int] = field(default_factory=dict)

    def free_collateral(self) -> int:
        return self.collateral - self.reserved_collateral

    def free_tokens(self, token: str) -> int:
        return self.tokens.get(token, 0) - self.reserved_tokens.get(token, 0)


@dataclass(eq=False)
class SimOrder:
    id: str
    owner: str  # API key (or a maker's label)
    maker: str  # funder address
    signer: str
    market: SimMarket
    token: str
    side: str  # BUY / SELL (of ``token``)
    price: int  # token price
    size: int
    order_type: str
    created_at: int
    expiration: int = 0
    status: str = "LIVE"
    size_matched: int = 0
    trades: list[str] = field(default_factory=list)
    engine_order: Order | None = None
    reserved: int = 0  # Money (BUY) or Size (SELL) still reserved
    fees_paid: int = 0  # Money charged to this order as a taker

    @property
    def outcome(self) -> str:
        return self.market.outcome(self.token)

    def open_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "owner": self.owner,
            "maker_address": self.maker,
            "market": self.market.condition_id,
            "asset_id": self.token,
            "side": self.side,
            "original_size": size_str(self.size),
            "size_matched": size_str(self.size_matched),
            "price": price_str(self.price),
            "outcome": self.outcome,
            "associate_trades": list(self.trades),
            "created_at": self.created_at,
            "expiration": str(self.expiration),
            "order_type": self.order_type,
        }

    def user_event(self, kind: str, ts_ms: int) -> dict[str, Any]:
        return {
            "event_type": "order",
            "type": kind,
            "id": self.id,
            "owner": self.owner,
            "order_owner": self.owner,
            "market": self.market.condition_id,
            "asset_id": self.token,
            "side": self.side,
            "price": price_str(self.price),
            "original_size": size_str(self.size),
            "size_matched": size_str(self.size_matched),
            "outcome": self.outcome,
            "associate_trades": list(self.trades),
            "order_type": self.order_type,
            "status": self.status,
            # as ``polymarket-client`` 0.14.0 ``UserOrderPayload`` reads them
            "maker_address": self.maker,
            "created_at": str(self.created_at),
            "expiration": str(self.expiration),
            "timestamp": str(ts_ms),
        }


@dataclass(frozen=True)
class KeyRecord:
    creds: ApiCreds
    address: str
    nonce: int


MarketSink = Callable[[list[dict[str, Any]]], None]
UserSink = Callable[[str, dict[str, Any]], None]


class Exchange:
    """All venue state. ``on_market``/``on_user`` receive events to publish on the channels."""

    def __init__(
        self,
        *,
        chain_id: int = POLYGON_CHAIN_ID,
        seed: int = 0,
        auth_window_s: int = 300,
        gtd_min_lead_s: int = GTD_MIN_LEAD_S,
        version: int = 1,
    ) -> None:
        self.chain_id = chain_id
        self.seed = seed
        self.auth_window_s = auth_window_s
        self.gtd_min_lead_s = gtd_min_lead_s
        self.version = version
        self.markets: dict[str, SimMarket] = {}  # by condition id
        self.tokens: dict[str, SimMarket] = {}  # by token id
        self.wallets: dict[str, Wallet] = {}
        #: proxy/Safe wallet -> (controlling EOA, signature type)
        self.funders: dict[str, tuple[str, int]] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.keys_by_owner: dict[tuple[str, int], KeyRecord] = {}
        self.orders: dict[str, SimOrder] = {}
        self.trades: list[dict[str, Any]] = []
        self.trading_mode = "on"  # on | cancel-only | off
        self.on_market: MarketSink | None = None
        self.on_user: UserSink | None = None
        self._trade_n = 0
        #: marketable orders held by their market's matching delay: (due ns, order, tif, post-only)
        self._delayed: list[tuple[int, SimOrder, TimeInForce, bool]] = []
        #: trade id -> [(order id, Money moved)] of both participants (POST /order amounts)
        self._trade_flows: dict[str, list[tuple[str, int]]] = {}

    # -- setup ------------------------------------------------------------------------------
    def add_market(self, market: SimMarket) -> None:
        self.markets[market.condition_id] = market
        self.tokens[market.yes_token] = market
        self.tokens[market.no_token] = market

    def wallet(self, address: str) -> Wallet:
        address = checksum(address)
        w = self.wallets.get(address)
        if w is None:
            w = self.wallets[address] = Wallet(address)
        return w

    def fund(
        self, address: str, collateral: int = 0, tokens: Mapping[str, int] | None = None,
        *, unseen: bool = False,
    ) -> None:
        """Credit an address; ``unseen`` funds (a deposit the venue's balance cache has not
        picked up yet) count only after :meth:`refresh_balance`."""
        w = self.wallet(address)
        if unseen:
            w.unseen_collateral += collateral
            for token, size in (tokens or {}).items():
                w.unseen_tokens[token] = w.unseen_tokens.get(token, 0) + size
            return
        w.collateral += collateral
        for token, size in (tokens or {}).items():
            w.tokens[token] = w.tokens.get(token, 0) + size

    def refresh_balance(self, address: str) -> None:
        """``GET /balance-allowance/update``: the venue re-reads the chain for this address."""
        w = self.wallet(address)
        self.fund(address, w.unseen_collateral, w.unseen_tokens)
        w.unseen_collateral = 0
        w.unseen_tokens = {}

    def register_funder(self, funder: str, signer: str, signature_type: int) -> None:
        self.funders[checksum(funder)] = (checksum(signer), signature_type)

    def set_api_key(self, address: str, creds: ApiCreds, nonce: int = 0) -> None:
        record = KeyRecord(creds, checksum(address), nonce)
        self.keys[creds.api_key] = record
        self.keys_by_owner[(record.address, nonce)] = record

    # -- API keys (L1) ---------------------------------------------------------------------
    def _derive(self, address: str, nonce: int) -> ApiCreds:
        digest = hashlib.sha256(f"{self.seed}:{address}:{nonce}".encode()).digest()
        key = str(uuid.UUID(bytes=digest[:16], version=4))
        secret = base64.urlsafe_b64encode(hashlib.sha256(digest + b"secret").digest()).decode()
        passphrase = hashlib.sha256(digest + b"pass").hexdigest()
        return ApiCreds(key, secret, passphrase)

    def create_api_key(self, address: str, nonce: int) -> ApiCreds:
        address = checksum(address)
        if (address, nonce) in self.keys_by_owner:
            raise SimReject(400, "Could not create api key")
        creds = self._derive(address, nonce)
        self.set_api_key(address, creds, nonce)
        return creds

    def derive_api_key(self, address: str, nonce: int) -> ApiCreds:
        record = self.keys_by_owner.get((checksum(address), nonce))
        if record is None:
            raise SimReject(400, "Could not derive api key!")
        return record.creds

    def delete_api_key(self, api_key: str) -> None:
        record = self.keys.pop(api_key, None)
        if record is not None:
            self.keys_by_owner.pop((record.address, record.nonce), None)

    # -- orders -----------------------------------------------------------------------------
    def _verify_signature(
        self, wire: WireOrder, market: SimMarket, side: int
    ) -> tuple[str, str]:
        """Recompute the signed struct from the body, verify its signature: (order hash, EOA).

        Every signature type is verified before anything else happens to the order: 0-2 by
        recovering the ECDSA signer of the order digest (it must be ``signer``); 3 (deposit
        wallet, POLY_1271) by opening the ERC-7739 envelope -- its app domain must be this
        exchange's, its contents hash this order's ``hashStruct``, its contents type the order
        type -- and recovering the wallet owner from the ``TypedDataSign`` digest, which is what
        the wallet's ERC-1271 check does on chain. Position-id markets verify under ExchangeV3.
        """
        version = wire.version
        # the market's own protocol decides the contract (the venue knows its markets; it does
        # not guess from the id as a client must): protocol-V2 markets settle on ExchangeV3
        generation = V3 if version >= 2 and market.position_ids else VERSIONS[version]
        domain = exchange_domain(self.chain_id, generation, market.neg_risk)
        try:
            order: OrderV1 | OrderV2
            if version == 1:
                order = OrderV1(
                    salt=wire.salt,
                    maker=wire.maker,
                    signer=wire.signer,
                    taker=wire.taker or ZERO_ADDRESS,
                    token_id=int(wire.tokenId),
                    maker_amount=int(wire.makerAmount),
                    taker_amount=int(wire.takerAmount),
                    expiration=int(wire.expiration),
                    nonce=int(wire.nonce or "0"),
                    fee_rate_bps=int(wire.feeRateBps or "0"),
                    side=side,
                    signature_type=wire.signatureType,
                )
            else:
                order = OrderV2(
                    salt=wire.salt,
                    maker=wire.maker,
                    signer=wire.signer,
                    token_id=int(wire.tokenId),
                    maker_amount=int(wire.makerAmount),
                    taker_amount=int(wire.takerAmount),
                    side=side,
                    signature_type=wire.signatureType,
                    timestamp_ms=int(wire.timestamp or "0"),
                    metadata=wire.metadata or "0x" + "00" * 32,
                    builder=wire.builder or "0x" + "00" * 32,
                )
            digest = order.digest(domain)
            if wire.signatureType == SIG_POLY_1271 and version >= 2:
                envelope = parse_erc7739(wire.signature)
                if (envelope.app_domain != domain or envelope.contents_type != ORDER_V2_TYPE
                        or envelope.contents_hash != order.struct_hash()):
                    raise SimReject(400, "invalid signature", "INVALID_ORDER_ERROR")
                owner = recover_signer(
                    typed_data_sign_digest(domain, envelope.contents_hash, self.chain_id,
                                           wire.signer),
                    envelope.inner,
                )
                return "0x" + digest.hex(), owner
            recovered = recover_signer(digest, wire.signature)
        except (SignatureError, ValueError):
            raise SimReject(400, "Invalid order payload") from None
        if recovered != checksum(wire.signer):
            raise SimReject(400, "invalid signature", "INVALID_ORDER_ERROR")
        return "0x" + digest.hex(), recovered

    def post_order(
        self, body: PostOrderBody, api_key: str, now_ns: int
    ) -> dict[str, Any]:
        """``POST /order`` after L2 auth succeeded; returns the 200 answer or raises."""
        record = self.keys[api_key]
        if self.trading_mode == "off":
            raise SimReject(503, "Trading is currently disabled. Check polymarket.com for updates")
        if self.trading_mode == "cancel-only":
            raise SimReject(
                503, "Trading is currently cancel-only. Check polymarket.com for updates"
            )
        if body.owner != api_key:
            raise SimReject(400, "the order owner has to be the owner of the API KEY")
        wire = body.order
        market = self.tokens.get(wire.tokenId)
        if market is None:
            raise SimReject(400, "Invalid token id")
        if wire.side not in SIDE_CODES:
            raise SimReject(400, "Invalid side")
        order_type = body.orderType.upper()
        if order_type not in ("GTC", "GTD", "FOK", "FAK"):
            raise SimReject(400, "Invalid order payload")
        if self.version >= 2 and wire.version == 1:
            # the live venue since the V2 cutover: a v1 order is refused with this token, which
            # py-clob-client-v2 / clob-client-v2 look for to re-read GET /version
            raise SimReject(400, prose.VERSION_MISMATCH, "ORDER_VERSION_MISMATCH")
        order_hash, signer = self._verify_signature(wire, market, SIDE_CODES[wire.side])
        if signer != record.address:
            raise SimReject(400, "the order signer address has to be the address of the API KEY")
        maker = checksum(wire.maker)
        if wire.signatureType == SIG_POLY_1271 and checksum(wire.signer) != maker:
            raise SimReject(400, "invalid signer: a deposit wallet order is signed by the wallet",
                            "INVALID_ORDER_ERROR")
        if wire.signatureType == SIG_EOA:
            if maker != signer:
                raise SimReject(400, "invalid maker: an EOA order's maker must be its signer",
                                "INVALID_ORDER_ERROR")
        else:
            owner = self.funders.get(maker)
            if owner is None or owner[0] != signer or owner[1] != wire.signatureType:
                raise SimReject(
                    400,
                    f"invalid maker {maker}: not a registered wallet of {signer} for "
                    f"signature type {wire.signatureType}",
                    "INVALID_ORDER_ERROR",
                )
        if wire.version == 1 and int(wire.feeRateBps or "0") != market.fee_bps:
            raise SimReject(
                400,
                f"invalid fee rate ({wire.feeRateBps}), current market's fee rate is "
                f"{market.fee_bps}",
                "INVALID_ORDER_ERROR",
            )
        if order_hash in self.orders:
            raise SimReject(400, prose.DUPLICATED, "INVALID_ORDER_DUPLICATED")
        side = wire.side
        maker_amount, taker_amount = int(wire.makerAmount), int(wire.takerAmount)
        try:
            price, rest = _implied_price(side, maker_amount, taker_amount)
        except UnitError:
            raise SimReject(400, "Invalid order payload") from None
        shares = taker_amount if side == "BUY" else maker_amount
        marketable_type = order_type in ("FOK", "FAK")
        if marketable_type:
            # SDK market orders (USDC amount / price) leave a remainder: the nearest grid price
            # is the limit, and the share count is cut to the venue's 2 decimals.
            tick = market.tick
            if rest or price % tick:
                price = (2 * price + tick) // (2 * tick) * tick
            shares -= shares % SHARE_STEP
        elif rest or price % market.tick or not market.tick <= price <= PRICE_SCALE - market.tick:
            raise SimReject(
                400, prose.tick_message(_ratio(SIDE_CODES[side], maker_amount,
                                                      taker_amount), market.tick_text),
                "INVALID_ORDER_MIN_TICK_SIZE",
            )
        if not market.tick <= price <= PRICE_SCALE - market.tick:
            raise SimReject(400, prose.tick_message(price_str(price), market.tick_text),
                            "INVALID_ORDER_MIN_TICK_SIZE")
        if shares % SHARE_STEP and not marketable_type:
            raise SimReject(
                400,
                "INVALID_ORDER_ERROR: invalid amounts, shares support a max accuracy of 2 decimals",
                "INVALID_ORDER_ERROR",
            )
        if shares <= 0 or shares < market.min_order_size:
            raise SimReject(
                400, prose.min_size_message(size_str(shares),
                                                   size_str(market.min_order_size)),
                "INVALID_ORDER_MIN_SIZE",
            )
        now_s = now_ns // _NS
        expiration = int(wire.expiration or "0")
        if order_type == "GTD":
            if expiration < now_s + self.gtd_min_lead_s:
                raise SimReject(400, prose.INVALID_EXPIRATION, "INVALID_ORDER_EXPIRATION")
        elif expiration and expiration <= now_s:
            raise SimReject(400, prose.INVALID_EXPIRATION, "INVALID_ORDER_EXPIRATION")
        if body.postOnly and order_type not in ("GTC", "GTD"):
            raise SimReject(400, "INVALID_POST_ONLY_ORDER_TYPE: post-only requires GTC or GTD",
                            "INVALID_POST_ONLY_ORDER_TYPE")
        if not market.active:
            raise SimReject(400, prose.MARKET_NOT_READY, "MARKET_NOT_READY")
        wallet = self.wallet(maker)
        if side == "BUY":
            # the fee is paid in pUSD on top of the notional, so a BUY must cover it too
            need = price * shares + market.fee_bound(price, shares)
            if wallet.free_collateral() < need:
                raise SimReject(400, prose.NOT_ENOUGH_BALANCE,
                                "INVALID_ORDER_NOT_ENOUGH_BALANCE")
        else:
            need = shares
            if wallet.free_tokens(wire.tokenId) < need:
                raise SimReject(400, prose.NOT_ENOUGH_BALANCE,
                                "INVALID_ORDER_NOT_ENOUGH_BALANCE")
        order = SimOrder(
            id=order_hash,
            owner=api_key,
            maker=maker,
            signer=signer,
            market=market,
            token=wire.tokenId,
            side=side,
            price=price,
            size=shares,
            order_type=order_type,
            created_at=now_s,
            expiration=expiration if order_type == "GTD" else 0,
        )
        tif = {"FOK": TimeInForce.FOK, "FAK": TimeInForce.IOC}.get(order_type, TimeInForce.GTC)
        if market.match_delay_ms and not body.postOnly and market.crosses(
            order.token, side, price
        ):
            return self._hold(order, tif, now_ns)
        result = self.submit(order, tif, body.postOnly, now_ns)
        if result.reject_reason is not None:
            code, message = {
                "fok_not_filled": ("FOK_ORDER_NOT_FILLED_ERROR", prose.FOK_NOT_FILLED),
                "post_only_would_cross": ("INVALID_POST_ONLY_ORDER",
                                          prose.POST_ONLY_CROSSES),
                "expired": ("INVALID_ORDER_EXPIRATION", prose.INVALID_EXPIRATION),
            }.get(result.reject_reason, ("EXECUTION_ERROR", prose.EXECUTION_FAILED))
            raise SimReject(400, message, code)
        filled = order.size_matched
        if order_type == "FAK" and not filled:
            # today's venue: a FAK that matched nothing is an HTTP 400 (venues.md §0.1;
            # polymarket-client maps this sentence to ``fak_not_filled``)
            raise SimReject(400, prose.FAK_NOT_FILLED, "FAK_ORDER_NOT_FILLED_ERROR")
        if side == "BUY":
            making = sum(self._fill_cost(t, order) for t in order.trades)
            making_s, taking_s = _usdc_text(making), size_str(filled)
        else:
            taking = sum(self._fill_cost(t, order) for t in order.trades)
            making_s, taking_s = size_str(filled), _usdc_text(taking)
        status = "live" if order.status == "LIVE" else "matched" if filled else "unmatched"
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order_hash,
            "status": status,
            "makingAmount": making_s if filled else "",
            "takingAmount": taking_s if filled else "",
            "transactionsHashes": [],
            "tradeIDs": list(order.trades),
        }

    def _hold(self, order: SimOrder, tif: TimeInForce, now_ns: int) -> dict[str, Any]:
        """Accept a marketable order on a delayed market: funds reserved, matched later.

        The answer is ``status: "delayed"`` with an empty ``errorMsg`` (``polymarket-client``
        0.14.0 ``order_response._is_accepted`` takes exactly that as accepted; docs
        ``/trading/orders/overview``: marketable orders on markets with a matching delay);
        lookups say ``DELAYED`` until :meth:`release_delayed` matches it.
        """
        self._reserve(order)
        order.status = "DELAYED"
        self.orders[order.id] = order
        self._delayed.append((now_ns + order.market.match_delay_ms * 1_000_000, order, tif, False))
        self._emit_user(order.owner, order.user_event("PLACEMENT", now_ns // 1_000_000))
        return {
            "success": True,
            "errorMsg": "",
            "orderID": order.id,
            "status": "delayed",
            "makingAmount": "",
            "takingAmount": "",
            "transactionsHashes": [],
            "tradeIDs": [],
        }

    def release_delayed(self, now_ns: int) -> None:
        """Match every held order whose delay is over, against the book as it is *now*."""
        due = [d for d in self._delayed if d[0] <= now_ns]
        if not due:
            return
        self._delayed = [d for d in self._delayed if d[0] > now_ns]
        for _, order, tif, post_only in due:
            result = self.submit(order, tif, post_only, now_ns, reserved=True)
            if result.reject_reason is not None:  # FOK that cannot fill in full: killed
                self._emit_user(order.owner, order.user_event("CANCELLATION", now_ns // 1_000_000))

    def _fill_cost(self, trade_id: str, order: SimOrder) -> int:
        return sum(m for oid, m in self._trade_flows.get(trade_id, ()) if oid == order.id)

    def _reserve(self, order: SimOrder) -> None:
        wallet = self.wallet(order.maker)
        if order.side == "BUY":
            # the taker fee is paid in pUSD on top of the notional: hold its bound too
            order.reserved = order.price * order.size + order.market.fee_bound(
                order.price, order.size
            )
            wallet.reserved_collateral += order.reserved
        else:
            order.reserved = order.size
            wallet.reserved_tokens[order.token] = (
                wallet.reserved_tokens.get(order.token, 0) + order.size
            )

    def submit(
        self, order: SimOrder, tif: TimeInForce, post_only: bool, now_ns: int,
        *, reserved: bool = False,
    ) -> MatchResult:
        """Reserve funds (unless held already), match on the YES axis, settle, publish."""
        market = order.market
        axis_side, axis_price = market.to_axis(order.token, order.side, order.price)
        engine_order = Order(
            order_id=order.id,
            account=order.maker,
            side=axis_side,
            price=axis_price,
            size=order.size,
            tif=tif,
            post_only=post_only,
            expires_at_ns=(
                (order.expiration - GTD_SECURITY_THRESHOLD_S) * _NS if order.expiration else None
            ),
            meta=order,
        )
        order.engine_order = engine_order
        if not reserved:
            self._reserve(order)
        result = market.engine.submit(engine_order, now_ns)
        ts_ms = now_ns // 1_000_000
        if result.reject_reason is not None:
            self._release(order)
            order.status = "CANCELED"
            self._finish_side_effects(market, result, ts_ms)
            return result
        self.orders[order.id] = order
        if not reserved:  # a held (delayed) order announced its placement when accepted
            self._emit_user(order.owner, order.user_event("PLACEMENT", ts_ms))
        for fill in result.fills:
            self._settle(market, fill, ts_ms)
        if engine_order.status is EngineStatus.RESTING:
            order.status = "LIVE"
        else:
            if engine_order.status is EngineStatus.CANCELED and order.size_matched < order.size:
                self._release(order)
                order.status = "CANCELED" if not order.size_matched else "MATCHED"
                if not order.size_matched:
                    self._emit_user(order.owner, order.user_event("CANCELLATION", ts_ms))
            else:
                order.status = "MATCHED"
        self._finish_side_effects(market, result, ts_ms)
        return result

    def _finish_side_effects(self, market: SimMarket, result: MatchResult, ts_ms: int) -> None:
        for gone in [*result.self_trade_canceled, *result.expired]:
            sim = gone.meta
            if isinstance(sim, SimOrder):
                self._release(sim)
                sim.status = "CANCELED"
                self._emit_user(sim.owner, sim.user_event("CANCELLATION", ts_ms))
        self._publish_levels(market, result.level_changes, ts_ms, traded=bool(result.fills))

    def _release(self, order: SimOrder) -> None:
        wallet = self.wallet(order.maker)
        if order.side == "BUY":
            wallet.reserved_collateral -= order.reserved
        else:
            wallet.reserved_tokens[order.token] = (
                wallet.reserved_tokens.get(order.token, 0) - order.reserved
            )
        order.reserved = 0

    def _settle_one(self, order: SimOrder, axis_price: int, size: int, taker: bool) -> int:
        """Move one participant's funds for ``size`` at ``axis_price``; returns its Money flow."""
        market = order.market
        wallet = self.wallet(order.maker)
        price = market.token_price(order.token, axis_price)
        amount = price * size
        # CLOB V2: the taker pays C x rate x (p(1-p))^e pUSD per match, floored to $0.00001, on
        # top of a BUY's notional or out of a SELL's proceeds; shares are delivered in full
        # (docs /trading/fees; live fill in py-clob-client-v2 issue #107). Makers pay nothing.
        fee = market.fee.match_fee(price, size) if taker else 0
        if order.side == "BUY":
            release = min(order.reserved, order.price * size + market.fee_bound(order.price, size))
            order.reserved -= release
            wallet.reserved_collateral -= release
            wallet.collateral -= amount + fee
            wallet.tokens[order.token] = wallet.tokens.get(order.token, 0) + size
        else:
            order.reserved -= size
            wallet.reserved_tokens[order.token] = wallet.reserved_tokens.get(order.token, 0) - size
            wallet.tokens[order.token] = wallet.tokens.get(order.token, 0) - size
            wallet.collateral += amount - fee
        order.size_matched += size
        order.fees_paid += fee
        return amount

    def _settle(self, market: SimMarket, fill: Fill, ts_ms: int) -> None:
        taker: SimOrder = fill.taker_meta
        maker: SimOrder = fill.maker_meta
        self._trade_n += 1
        trade_id = f"{self.seed:x}-{self._trade_n:08d}"
        t_amount = self._settle_one(taker, fill.price, fill.size, True)
        m_amount = self._settle_one(maker, fill.price, fill.size, False)
        self._trade_flows[trade_id] = [(taker.id, t_amount), (maker.id, m_amount)]
        taker.trades.append(trade_id)
        maker.trades.append(trade_id)
        for order in (maker, taker):  # the UPDATE below says what the order is now
            if order.size_matched >= order.size:
                order.status = "MATCHED"
        market.last_trade = fill.price
        taker_price = market.token_price(taker.token, fill.price)
        maker_price = market.token_price(maker.token, fill.price)
        match_time = str(ts_ms // 1000)
        trade = {
            "id": trade_id,
            "taker_order_id": taker.id,
            "market": market.condition_id,
            "asset_id": taker.token,
            "side": taker.side,
            "size": size_str(fill.size),
            "fee_rate_bps": str(market.fee_bps),
            "price": price_str(taker_price),
            "status": "CONFIRMED",
            "match_time": match_time,
            "last_update": match_time,
            "outcome": taker.outcome,
            "bucket_index": 0,
            "owner": taker.owner,
            "maker_address": taker.maker,
            "transaction_hash": "0x" + hashlib.sha256(trade_id.encode()).hexdigest(),
            "trader_side": "TAKER",
            "maker_orders": [
                {
                    "order_id": maker.id,
                    "owner": maker.owner,
                    "maker_address": maker.maker,
                    "matched_amount": size_str(fill.size),
                    "price": price_str(maker_price),
                    "fee_rate_bps": "0",
                    "asset_id": maker.token,
                    "outcome": maker.outcome,
                    "side": maker.side,
                }
            ],
        }
        self.trades.append(trade)
        for order, role in ((taker, "TAKER"), (maker, "MAKER")):
            kind = "UPDATE"
            self._emit_user(order.owner, order.user_event(kind, ts_ms))
            # the user channel's trade carries ``match_time`` like REST trades (venues.md
            # §0.1; ``polymarket-client`` 0.14.0 ``models/clob/user_events.py``
            # ``UserTradePayload.matched_at`` reads ``match_time``, ``matchtime`` only as an
            # older alias)
            event = {
                "event_type": "trade",
                "type": "TRADE",
                **trade,
                "trade_owner": order.owner,
                "trader_side": role,
                "timestamp": str(ts_ms),
            }
            self._emit_user(order.owner, event)
        self._emit_market([
            {
                "event_type": "last_trade_price",
                "asset_id": token,
                "market": market.condition_id,
                "price": price_str(market.token_price(token, fill.price)),
                "side": taker.side if token == taker.token else _flip(taker.side),
                "size": size_str(fill.size),
                "fee_rate_bps": str(market.fee_bps),
                "timestamp": str(ts_ms),
            }
            for token in (market.yes_token, market.no_token)
        ])

    def cancel(self, api_key: str | None, order_ids: Iterable[str], now_ns: int) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        ts_ms = now_ns // 1_000_000
        for oid in order_ids:
            order = self.orders.get(oid)
            if order is None or (api_key is not None and order.owner != api_key):
                not_canceled[oid] = "order not found"
                continue
            if order.status == "DELAYED":  # still held by the matching delay: never matched
                self._delayed = [d for d in self._delayed if d[1] is not order]
                self._release(order)
                order.status = "CANCELED"
                canceled.append(oid)
                self._emit_user(order.owner, order.user_event("CANCELLATION", ts_ms))
                continue
            if order.status != "LIVE":
                not_canceled[oid] = "order can't be canceled, already " + order.status.lower()
                continue
            result = order.market.engine.cancel(oid, now_ns)
            self._release(order)
            order.status = "CANCELED"
            canceled.append(oid)
            self._emit_user(order.owner, order.user_event("CANCELLATION", ts_ms))
            self._publish_levels(order.market, result.level_changes, ts_ms, traded=False)
        return {"canceled": canceled, "not_canceled": not_canceled}

    def open_orders_of(self, api_key: str) -> list[SimOrder]:
        return [o for o in self.orders.values()
                if o.owner == api_key and o.status in ("LIVE", "DELAYED")]

    def expire(self, now_ns: int) -> None:
        ts_ms = now_ns // 1_000_000
        for market in self.markets.values():
            for result in market.engine.expire(now_ns):
                sim = result.order.meta
                if isinstance(sim, SimOrder):
                    self._release(sim)
                    sim.status = "CANCELED"
                    self._emit_user(sim.owner, sim.user_event("CANCELLATION", ts_ms))
                self._publish_levels(market, result.level_changes, ts_ms, traded=False)

    def set_tick(self, market: SimMarket, tick: int, now_ns: int) -> None:
        old = market.tick_text
        market.tick = tick
        market.engine.tick = tick
        ts = str(now_ns // 1_000_000)
        self._emit_market([
            {
                "event_type": "tick_size_change",
                "asset_id": token,
                "market": market.condition_id,
                "old_tick_size": old,
                "new_tick_size": market.tick_text,
                "timestamp": ts,
            }
            for token in (market.yes_token, market.no_token)
        ])

    def resolve(self, market: SimMarket, winner: str, now_ns: int) -> None:
        """Resolve a market: no more orders (``MARKET_NOT_READY``), ``market_resolved`` out.

        Shape per docs ``/market-data/websocket/market-channel`` and NautilusTrader's capture
        ``crates/adapters/polymarket/test_data/ws_market_resolved_msg.json``@a95c8042.
        """
        if winner not in (market.yes_token, market.no_token):
            raise ValueError(f"winner {winner!r} is not a token of {market.key}")
        market.active = False
        market.winner = winner
        self._emit_market([{
            "event_type": "market_resolved",
            "id": market.key,
            "market": market.condition_id,
            "assets_ids": [market.yes_token, market.no_token],
            "winning_asset_id": winner,
            "winning_outcome": market.outcome(winner),
            "timestamp": str(now_ns // 1_000_000),
        }])

    def announce(self, market: SimMarket, now_ns: int) -> None:
        """``new_market`` for a listed market (NautilusTrader ``ws_market_new_market_msg.json``)."""
        self._emit_market([{
            "event_type": "new_market",
            "id": market.key,
            "question": market.question,
            "market": market.condition_id,
            "slug": market.slug,
            "description": market.description,
            "assets_ids": [market.yes_token, market.no_token],
            "outcomes": ["Yes", "No"],
            "timestamp": str(now_ns // 1_000_000),
            "condition_id": market.condition_id,
            "active": market.active,
            "clob_token_ids": [market.yes_token, market.no_token],
            "order_price_min_tick_size": market.tick_text,
        }])

    # -- views ------------------------------------------------------------------------------
    def book_json(self, market: SimMarket, token: str, now_ns: int) -> dict[str, Any]:
        """OrderBookSummary with all ten keys; bids ascending, asks descending (best last)."""
        bids, asks = market.levels(token)
        bid_list = [{"price": price_str(p), "size": size_str(s)} for p, s in reversed(bids)]
        ask_list = [{"price": price_str(p), "size": size_str(s)} for p, s in reversed(asks)]
        ts = str(now_ns // 1_000_000)
        last = market.last_trade
        last_text = price_str(market.token_price(token, last)) if last is not None else "0.5"
        min_size = size_str(market.min_order_size)
        out = {
            "market": market.condition_id,
            "asset_id": token,
            "timestamp": ts,
            "hash": "",
            "bids": bid_list,
            "asks": ask_list,
            "min_order_size": min_size,
            "tick_size": market.tick_text,
            "neg_risk": market.neg_risk,
            "last_trade_price": last_text,
        }
        out["hash"] = book_hash(
            market.condition_id, token, ts, bid_list, ask_list, min_size, market.tick_text,
            market.neg_risk, last_text,
        )
        return out

    def book_event(self, market: SimMarket, token: str, now_ns: int) -> dict[str, Any]:
        book = self.book_json(market, token, now_ns)
        return {
            "event_type": "book",
            "asset_id": token,
            "market": market.condition_id,
            "bids": book["bids"],
            "asks": book["asks"],
            "timestamp": book["timestamp"],
            "hash": book["hash"],
        }

    def market_json(self, market: SimMarket) -> dict[str, Any]:
        yes_bid, yes_ask = market.top(market.yes_token)
        mid = (
            (yes_bid + yes_ask) // 2 if yes_bid is not None and yes_ask is not None
            else market.last_trade or PRICE_SCALE // 2
        )
        return {
            "condition_id": market.condition_id,
            "question_id": "0x" + hashlib.sha256(market.key.encode()).hexdigest(),
            "question": market.question,
            "description": market.description,
            "market_slug": market.slug,
            "tokens": [
                {"token_id": market.yes_token, "outcome": "Yes", "price": Decimal(price_str(mid)),
                 "winner": market.winner == market.yes_token},
                {"token_id": market.no_token, "outcome": "No",
                 "price": Decimal(price_str(PRICE_SCALE - mid)),
                 "winner": market.winner == market.no_token},
            ],
            "active": market.active,
            "closed": market.winner is not None,
            "archived": False,
            "accepting_orders": market.active,
            "accepting_order_timestamp": None,
            "enable_order_book": True,
            "minimum_order_size": int(market.min_order_size // SIZE_SCALE),
            "minimum_tick_size": Decimal(market.tick_text),
            "neg_risk": market.neg_risk,
            "neg_risk_market_id": "",
            "neg_risk_request_id": "",
            "end_date_iso": market.end_date_iso,
            "game_start_time": None,
            "seconds_delay": -(-market.match_delay_ms // 1000),
            "maker_base_fee": 0,
            "taker_base_fee": market.fee_bps,
            "notifications_enabled": False,
            "fpmm": "",
            "icon": "",
            "image": "",
            "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
            "tags": ["sim"],
        }

    def balance_of(self, address: str, token: str | None) -> dict[str, Any]:
        wallet = self.wallet(address)
        balance = (
            wallet.tokens.get(token, 0) if token else wallet.collateral // _MONEY_PER_USDC_UNIT
        )
        exchanges = VERSIONS[self.version]
        allowances = {
            exchanges.exchange: UNLIMITED_ALLOWANCE,
            exchanges.neg_risk_exchange: UNLIMITED_ALLOWANCE,
        }
        if self.version >= 2:  # protocol-V2 markets settle on ExchangeV3
            allowances[V3.exchange] = UNLIMITED_ALLOWANCE
        return {"balance": str(balance), "allowances": allowances}

    def trades_of(self, api_key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for trade in self.trades:
            if trade["owner"] == api_key:
                out.append(trade)
            elif any(m["owner"] == api_key for m in trade["maker_orders"]):
                out.append({**trade, "trader_side": "MAKER"})
        return out

    # -- publishing -------------------------------------------------------------------------
    def _emit_market(self, events: list[dict[str, Any]]) -> None:
        if self.on_market is not None and events:
            self.on_market(events)

    def _emit_user(self, owner: str, event: dict[str, Any]) -> None:
        if self.on_user is not None:
            self.on_user(owner, event)

    def _publish_levels(
        self, market: SimMarket, changes: list[LevelChange], ts_ms: int, traded: bool
    ) -> None:
        if not changes:
            return
        if traded:  # the venue re-sends full books when trades change them
            now_ns = ts_ms * 1_000_000
            self._emit_market(
                [self.book_event(market, t, now_ns) for t in (market.yes_token, market.no_token)]
            )
            return
        items: list[dict[str, Any]] = []
        tops = {t: market.top(t) for t in (market.yes_token, market.no_token)}
        for change in changes:
            yes_side = "BUY" if change.side is OrderSide.BUY else "SELL"
            for token, side, price in (
                (market.yes_token, yes_side, change.price),
                (market.no_token, _flip(yes_side), PRICE_SCALE - change.price),
            ):
                bid, ask = tops[token]
                items.append({
                    "asset_id": token,
                    "price": price_str(price),
                    "size": size_str(change.size),
                    "side": side,
                    "hash": "",
                    "best_bid": price_str(bid) if bid is not None else "0",
                    "best_ask": price_str(ask) if ask is not None else "1",
                })
        events: list[dict[str, Any]] = [{
            "event_type": "price_change",
            "market": market.condition_id,
            "timestamp": str(ts_ms),
            "price_changes": items,
        }]
        for token, (bid, ask) in tops.items():  # best_bid_ask (custom feature) when top moves
            if market.tops.get(token) != (bid, ask):
                market.tops[token] = (bid, ask)
                events.append({
                    "event_type": "best_bid_ask",
                    "market": market.condition_id,
                    "asset_id": token,
                    "best_bid": price_str(bid) if bid is not None else "0",
                    "best_ask": price_str(ask) if ask is not None else "1",
                    "spread": price_str(ask - bid) if bid is not None and ask is not None
                    else "1",
                    "timestamp": str(ts_ms),
                })
        self._emit_market(events)


def _flip(side: str) -> str:
    return "SELL" if side == "BUY" else "BUY"


def _usdc_text(money: int) -> str:
    return size_str(money // _MONEY_PER_USDC_UNIT)


def _implied_price(side: str, maker_amount: int, taker_amount: int) -> tuple[int, int]:
    """(price in ``Price`` units, remainder) the signed amounts encode, as the venue reads them:
    a BUY gives ``makerAmount`` collateral for ``takerAmount`` shares, a SELL the reverse (docs
    /trading/orders/overview "makerAmount ... takerAmount"; both 6-decimal base units)."""
    usdc, shares = (maker_amount, taker_amount) if side == "BUY" else (taker_amount, maker_amount)
    if shares <= 0 or usdc < 0:
        raise UnitError("order amounts must be positive")
    return divmod(usdc * _USDC_PER_PRICE_SHARE, shares)


def _ratio(side: int, maker_amount: int, taker_amount: int) -> str:
    """The implied price as the venue prints it in a tick rejection (exact, trailing zeros cut)."""
    num, den = (maker_amount, taker_amount) if side == 0 else (taker_amount, maker_amount)
    if not den:
        return "0"
    return format(Decimal(num) / Decimal(den), "f").rstrip("0").rstrip(".") or "0"
