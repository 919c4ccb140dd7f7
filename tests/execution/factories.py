"""Builders for pairs, opportunities and plans shared by the execution tests."""

from __future__ import annotations

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.units import ONE_CONTRACT, Money, Size

PAIR = Pair(
    name="FED",
    kalshi_ticker="FED-26DEC-T4.00",
    polymarket_yes_token="1111",
    polymarket_no_token="2222",
    # stated, as every tradable pair must (ADR 0036): a fee-free market, no minimum
    polymarket_fee=PolymarketFeeModel.of("0"),
    polymarket_min_order_size=Size(0),
)
C = ONE_CONTRACT


def price(dollars: str) -> int:
    whole, _, frac = dollars.partition(".")
    return int(whole or "0") * 10_000 + int((frac + "0000")[:4])


def opportunity(
    size: int = 10,
    k_price: str = "0.40",
    p_price: str = "0.55",
    pair: Pair = PAIR,
    k_fee: int = 0,
    ts_ns: int = 1_000,
) -> Opportunity:
    """Kalshi YES + Polymarket NO-token (the token paying when Kalshi NO pays)."""
    sz = Size(size * C)
    kp, pp = price(k_price), price(p_price)
    legs = (
        Leg("kalshi", pair.kalshi_ticker, Outcome.YES, kp, Money(kp * sz), Money(k_fee), ts_ns),
        Leg("polymarket", pair.polymarket_no_token, Outcome.NO, pp, Money(pp * sz), Money(0), ts_ns),
    )
    cost = Money(kp * sz + pp * sz)
    return Opportunity(
        pair=pair.name, direction="kalshi_yes_poly_no", size=sz, legs=legs, cost=cost,
        fees=Money(k_fee), profit=Money(10_000 * sz - cost - k_fee), detected_ns=ts_ns,
    )
