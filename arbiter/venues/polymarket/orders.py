"""From (price, size, side, tick) to a signed order and its exact POST body.

The official order builder does the amount math in binary floats and so turns 33.37 shares into
33.36 (vector ``sdk_amount_float_quirk``); here it is integer arithmetic on the core units
(venues.md §2.3): the price must already be on the tick (never rounded), the share count is
floored to 2 decimals, and the USDC amount is the exact product. Base units are 1e-6 for both
USDC and shares, which is exactly the core ``Size`` unit, and a ``Price`` unit is $0.0001.

The body is serialized here, once, with the same compact ``json.dumps`` call as the SDK, because
the L2 HMAC covers those exact bytes: a retry must resend the same string.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from arbiter.core.units import PRICE_SCALE, SIZE_SCALE, UnitError, format_price
from arbiter.venues.polymarket.constants import (
    ORDER_TYPES,
    SIDE_BUY,
    SIDE_NAMES,
    SIDE_SELL,
    SIG_EOA,
    SIG_POLY_1271,
    V2,
    ZERO_ADDRESS,
    ZERO_BYTES32,
    ExchangeVersion,
    exchange_for,
)
from arbiter.venues.polymarket.signing import (
    OrderV1,
    OrderV2,
    Signer,
    checksum,
    domain_separator,
    typed_data_sign_digest,
    wrap_erc7739,
)

__all__ = [
    "SHARE_STEP",
    "OrderSpec",
    "SignedOrder",
    "build_order",
    "implied_price",
    "new_salt",
    "order_amounts",
]

#: Shares carry at most 2 decimals: one step is 0.01 share = 10_000 base units.
SHARE_STEP = SIZE_SCALE // 100
#: A ``Price`` unit ($0.0001) times shares in 1e-6 units gives USDC in 1e-10; /10^4 → 1e-6.
_USDC_PER_PRICE_SHARE = PRICE_SCALE


def order_amounts(side: int, price: int, size: int, tick: int) -> tuple[int, int]:
    """(makerAmount, takerAmount) in 6-decimal base units; exact, or :class:`UnitError`."""
    if side not in (SIDE_BUY, SIDE_SELL):
        raise UnitError(f"side {side!r} is not BUY (0) or SELL (1)")
    if price % tick:
        raise UnitError(f"price {format_price(price)} is not on the tick {format_price(tick)}")
    if not tick <= price <= PRICE_SCALE - tick:
        raise UnitError(
            f"price {format_price(price)} is outside [{format_price(tick)}, "
            f"{format_price(PRICE_SCALE - tick)}]"
        )
    shares = size - size % SHARE_STEP
    if shares <= 0:
        raise UnitError(f"size {size} base units is below one hundredth of a share")
    usdc = shares * price // _USDC_PER_PRICE_SHARE  # exact: shares is a multiple of 10^4
    return (usdc, shares) if side == SIDE_BUY else (shares, usdc)


def implied_price(side: int, maker_amount: int, taker_amount: int) -> tuple[int, int]:
    """(price in ``Price`` units, remainder numerator) implied by signed amounts.

    A zero remainder means the amounts encode an exact $0.0001 price; market orders built by the
    SDK (USDC amount / price) usually leave one, and the caller decides what that means.
    """
    if side == SIDE_BUY:
        usdc, shares = maker_amount, taker_amount
    else:
        usdc, shares = taker_amount, maker_amount
    if shares <= 0 or usdc < 0:
        raise UnitError("order amounts must be positive")
    return divmod(usdc * _USDC_PER_PRICE_SHARE, shares)


def new_salt(version: int, rng: random.Random | None = None) -> int:
    """Salt as each SDK generation draws it (any uint256 is valid; this keeps it a small int)."""
    r = (rng or random).random()
    if version == 1:
        return round(time.time() * r)
    return int(r * time.time() * 1000)


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """Everything that decides an order's signed bytes; ``salt`` fixed makes it reproducible."""

    token_id: str
    side: int
    price: int
    size: int
    tick: int
    neg_risk: bool = False
    fee_rate_bps: int = 0
    order_type: str = "GTC"
    post_only: bool = False
    expiration: int = 0
    nonce: int = 0
    salt: int | None = None
    signature_type: int = SIG_EOA
    funder: str | None = None
    timestamp_ms: int | None = None
    metadata: str = ZERO_BYTES32
    builder: str = ZERO_BYTES32

    def __post_init__(self) -> None:
        if self.order_type not in ORDER_TYPES:
            raise UnitError(f"order type {self.order_type!r} is not one of {ORDER_TYPES}")
        if self.post_only and self.order_type not in ("GTC", "GTD"):
            raise UnitError("post-only orders must be GTC or GTD")
        if self.order_type == "GTD" and self.expiration <= 0:
            raise UnitError("GTD orders need an expiration")
        if self.order_type != "GTD" and self.expiration:
            raise UnitError("only GTD orders carry an expiration")
        if not 0 <= self.signature_type <= SIG_POLY_1271:
            raise UnitError(f"signature type {self.signature_type} is unknown")
        if self.signature_type != SIG_EOA and not self.funder:
            raise UnitError("proxy and Safe signature types need a funder address")


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """A signed order plus the exact JSON the venue receives for it."""

    version: int
    order: OrderV1 | OrderV2
    signature: str
    order_hash: str
    order_type: str
    post_only: bool
    expiration: int
    _body_order: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def salt(self) -> int:
        return self.order.salt

    def order_json(self) -> dict[str, Any]:
        return dict(self._body_order)

    def body(self, owner: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "order": self.order_json(),
            "owner": owner,
            "orderType": self.order_type,
        }
        if self.version >= 2:
            out["deferExec"] = False
        out["postOnly"] = self.post_only
        return out

    def serialize(self, owner: str) -> str:
        """The SDK's serialization, byte for byte (the L2 HMAC covers these bytes)."""
        return json.dumps(self.body(owner), separators=(",", ":"), ensure_ascii=False)


def build_order(
    spec: OrderSpec,
    signer: Signer,
    chain_id: int,
    exchange: ExchangeVersion = V2,
    rng: random.Random | None = None,
) -> SignedOrder:
    """Sign ``spec`` for ``exchange`` (v1 for the SDK-era venue and the sim, v2 live).

    On a V2 venue a protocol-V2 market (its outcome id a position id) is signed for ExchangeV3,
    domain version "3" (:func:`~arbiter.venues.polymarket.constants.exchange_for`). A deposit
    wallet (signature type 3, POLY_1271) is both maker and signer, and its owner signs the
    ERC-7739 ``TypedDataSign`` envelope of the order, as ``polymarket-client`` 0.14.0 and
    ``py-clob-client-v2`` 1.2.1 do (vectors in ``tests/vectors/polymarket-v3-vectors.json``).
    """
    exchange = exchange_for(exchange, spec.token_id)
    maker_amount, taker_amount = order_amounts(spec.side, spec.price, spec.size, spec.tick)
    maker = checksum(spec.funder) if spec.funder else signer.address
    if spec.signature_type == SIG_POLY_1271 and exchange.version == 1:
        raise UnitError("deposit wallets (signature type 3) sign V2 orders only")
    salt = spec.salt if spec.salt is not None else new_salt(exchange.version, rng)
    domain = domain_separator(
        chain_id, exchange.verifying_contract(spec.neg_risk), exchange.domain_version
    )
    side_name = SIDE_NAMES[spec.side]
    order: OrderV1 | OrderV2
    if exchange.version == 1:
        order = OrderV1(
            salt=salt,
            maker=maker,
            signer=signer.address,
            taker=ZERO_ADDRESS,
            token_id=int(spec.token_id),
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            expiration=spec.expiration,
            nonce=spec.nonce,
            fee_rate_bps=spec.fee_rate_bps,
            side=spec.side,
            signature_type=spec.signature_type,
        )
        digest = order.digest(domain)
        signature = signer.sign(digest)
        body: dict[str, Any] = {
            "salt": salt,
            "maker": maker,
            "signer": signer.address,
            "taker": ZERO_ADDRESS,
            "tokenId": spec.token_id,
            "makerAmount": str(maker_amount),
            "takerAmount": str(taker_amount),
            "expiration": str(spec.expiration),
            "nonce": str(spec.nonce),
            "feeRateBps": str(spec.fee_rate_bps),
            "side": side_name,
            "signatureType": spec.signature_type,
            "signature": signature,
        }
    elif exchange.version in (2, 3):
        ts_ms = spec.timestamp_ms if spec.timestamp_ms is not None else int(time.time() * 1000)
        order_signer = maker if spec.signature_type == SIG_POLY_1271 else signer.address
        order = OrderV2(
            salt=salt,
            maker=maker,
            signer=order_signer,
            token_id=int(spec.token_id),
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side=spec.side,
            signature_type=spec.signature_type,
            timestamp_ms=ts_ms,
            metadata=spec.metadata,
            builder=spec.builder,
        )
        digest = order.digest(domain)
        if spec.signature_type == SIG_POLY_1271:
            contents = order.struct_hash()
            inner = signer.sign(typed_data_sign_digest(domain, contents, chain_id, maker))
            signature = wrap_erc7739(inner, domain, contents)
        else:
            signature = signer.sign(digest)
        body = {
            "salt": salt,
            "maker": maker,
            "signer": order_signer,
            "tokenId": spec.token_id,
            "makerAmount": str(maker_amount),
            "takerAmount": str(taker_amount),
            "side": side_name,
            "expiration": str(spec.expiration),
            "signatureType": spec.signature_type,
            "timestamp": str(ts_ms),
            "metadata": spec.metadata,
            "builder": spec.builder,
            "signature": signature,
        }
    else:  # pragma: no cover - three generations exist
        raise UnitError(f"exchange version {exchange.version} is not supported")
    return SignedOrder(
        version=exchange.version,
        order=order,
        signature=signature,
        order_hash="0x" + digest.hex(),
        order_type=spec.order_type,
        post_only=spec.post_only,
        expiration=spec.expiration,
        _body_order=body,
    )

