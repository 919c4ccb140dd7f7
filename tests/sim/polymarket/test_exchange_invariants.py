"""Settlement of the local Polymarket conserves collateral and tokens (seeded random flow)."""

from __future__ import annotations

import random

from arbiter.core.matching import TimeInForce
from arbiter.core.units import PRICE_SCALE
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.exchange import SimOrder
from tests.sim.polymarket.conftest import one_market_spec

ACCOUNTS = [f"0x{i:040x}" for i in range(1, 6)]
START = 1_000 * 10**10  # $1000 each, in Money units


def test_random_flow_conserves_value_and_releases_reservations() -> None:
    exchange = build_exchange(one_market_spec(), seed=1)
    market = next(iter(exchange.markets.values()))
    for a in ACCOUNTS:
        exchange.fund(a, collateral=START)
    rng = random.Random(42)
    trades = 0
    for n in range(1500):
        account = rng.choice(ACCOUNTS)
        wallet = exchange.wallet(account)
        token = rng.choice((market.yes_token, market.no_token))
        price = rng.randrange(30, 71) * 100
        size = rng.randint(1, 20) * 1_000_000
        side = "BUY"
        if wallet.free_tokens(token) >= size and rng.random() < 0.5:
            side = "SELL"
        elif wallet.free_collateral() < price * size:
            continue
        tif = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK))
        order = SimOrder(id=f"o{n}", owner=account, maker=account, signer=account,
                         market=market, token=token, side=side, price=price, size=size,
                         order_type="GTC", created_at=0)
        result = exchange.submit(order, tif, False, n)
        trades += len(result.fills)
        if rng.random() < 0.1:
            live = [o.id for o in exchange.orders.values() if o.status == "LIVE"]
            if live:
                exchange.cancel(None, [rng.choice(live)], n)
        wallets = [exchange.wallet(a) for a in ACCOUNTS]
        yes = sum(w.tokens.get(market.yes_token, 0) for w in wallets)
        no = sum(w.tokens.get(market.no_token, 0) for w in wallets)
        assert yes == no  # tokens only ever appear and vanish in complete sets
        # every minted set locked exactly $1 of collateral
        assert sum(w.collateral for w in wallets) + yes * PRICE_SCALE == START * len(ACCOUNTS)
        assert all(w.free_collateral() >= 0 and w.collateral >= 0 for w in wallets)
        assert all(w.free_tokens(t) >= 0 for w in wallets for t in (market.yes_token,
                                                                     market.no_token))
    assert trades > 200
    exchange.cancel(None, [o.id for o in exchange.orders.values() if o.status == "LIVE"], 10**6)
    for a in ACCOUNTS:
        w = exchange.wallet(a)
        assert w.reserved_collateral == 0 and not any(w.reserved_tokens.values())
    assert len(market.engine) == 0
