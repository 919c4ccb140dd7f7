"""What the executor child needs to reach the local venues: clients, quotes, opportunities.

Kept apart from :mod:`tests.fault.harness` so the child process does not import the simulators
(half of its start-up time).
"""

from __future__ import annotations

import random
from typing import Any

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.pairs import Pair
from arbiter.core.units import PRICE_SCALE, SIZE_SCALE, Money, Size, parse_price
from arbiter.venues.base import ExchangeClient
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import Signer, load_private_key_file
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient

C = SIZE_SCALE


async def connect_clients(cfg: dict[str, Any]) -> dict[str, ExchangeClient]:
    kconf = KalshiConfig(env=KalshiEnv.DEMO, rest_url=cfg["kalshi_rest"], ws_url=cfg["kalshi_ws"])
    signer = Signer(cfg["kalshi_key_id"], load_private_key_file(cfg["kalshi_key_path"]))
    kalshi = KalshiRestClient(kconf, signer, timeout_s=2.0, backoff_s=0.01, max_retries=2)
    poly = await PolymarketClient.connect(
        PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": cfg["poly_key"]}), cfg["poly_url"]
    )
    return {"kalshi": kalshi, "polymarket": poly}


async def quotes_from(clients: dict[str, ExchangeClient], venue: str, market: str, outcome: Outcome
                      ) -> tuple[int | None, int | None]:
    """Best (bid, ask) of one outcome from the venue's REST book (the hedge decision's view)."""
    if venue == "kalshi":
        kalshi = clients["kalshi"]
        assert isinstance(kalshi, KalshiRestClient)
        yes, no = await kalshi.orderbook(market)
        yes_bid = max((p for p, _ in yes), default=None)
        no_bid = max((p for p, _ in no), default=None)
        yes_ask = None if no_bid is None else PRICE_SCALE - no_bid
        if outcome is Outcome.YES:
            return yes_bid, yes_ask
        return no_bid, None if yes_bid is None else PRICE_SCALE - yes_bid
    poly = clients["polymarket"]
    assert isinstance(poly, PolymarketClient)
    book = await poly.rest.book(market)
    bid = max((parse_price(lv.price) for lv in book.bids), default=None)
    ask = min((parse_price(lv.price) for lv in book.asks), default=None)
    return bid, ask


def opportunity(pair: Pair, rng: random.Random, now_ns: int) -> Opportunity:
    """A synthetic Kalshi-YES + Polymarket-NO opportunity at the reshaped books' first levels.

    One in eight carries an off-grid Kalshi price (0.4050 on a cent market): the venue rejects
    that leg, which forces a hedge.
    """
    size = Size(rng.randint(5, 25) * C)
    kp = 4050 if rng.random() < 0.125 else 4000
    pp = 5500
    legs = (
        Leg("kalshi", pair.kalshi_ticker, Outcome.YES, kp, Money(kp * size), Money(0), now_ns),
        Leg("polymarket", pair.polymarket_no_token, Outcome.NO, pp, Money(pp * size), Money(0),
            now_ns),
    )
    cost = Money(kp * size + pp * size)
    return Opportunity(pair.name, "kalshi_yes_poly_no", size, legs, cost, Money(0),
                       Money(PRICE_SCALE * size - cost), now_ns)
