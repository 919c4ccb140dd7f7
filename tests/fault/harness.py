"""The real local venues for execution fault tests and the chaos bench.

Both simulators run in *this* process on 127.0.0.1 (ephemeral ports) so they outlive any executor
process that is killed; the executor runs in a child (:mod:`tests.fault.executor_proc`) and talks
to them over HTTP with the real venue clients and real signatures. Because the venues are
in-process, the checks read the venues' own order tables: an order the journal does not know
about, or two orders for one step, cannot hide behind a client's view.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.core.matching import TimeInForce
from arbiter.core.pairs import Pair
from arbiter.core.units import Size, parse_price
from arbiter.execution.journal import Journal
from arbiter.execution.reconcile import reconcile
from arbiter.sim.common import ScenarioMarket
from arbiter.sim.kalshi.exchange import Exchange as KalshiExchange
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.sim.polymarket.builder import market_from_scenario
from arbiter.sim.polymarket.exchange import Exchange as PolyExchange
from arbiter.sim.polymarket.exchange import SimOrder
from arbiter.sim.polymarket.server import PolymarketSim
from arbiter.venues.polymarket.auth import PolymarketCredentials
from arbiter.venues.polymarket.signing import checksum
from tests.fault.live import C, connect_clients

TICKER = "CHAOS-26DEC-T1"
KALSHI_KEY_ID = "chaos-trader"
KALSHI_MAKER = "chaos-maker"
#: Hardhat's well-known test key #0 (never funded anywhere real)
POLY_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaff92c1b8c2bdd4f"
POLY_MAKER = "0x3333333333333333333333333333333333333333"


@lru_cache(maxsize=1)
def _rsa_key() -> rsa.RSAPrivateKey:
    """RSA key generation is slow; one throwaway key serves every local venue of a process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa_pem(folder: Path) -> tuple[Path, Any]:
    key = _rsa_key()
    path = folder / "kalshi.pem"
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ))
    return path, key.public_key()


@dataclass
class Venues:
    """Local Kalshi + local Polymarket with one paired market and a funded trader on each."""

    folder: Path
    kalshi_sim: KalshiSim
    poly_sim: PolymarketSim
    pair: Pair
    key_path: Path
    _maker_n: int = 0
    _kalshi_makers: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    @classmethod
    async def start(cls, folder: Path, seed: int = 7) -> Venues:
        folder.mkdir(parents=True, exist_ok=True)
        key_path, public = _rsa_pem(folder)
        kx = KalshiExchange(seed=seed)
        kx.add_account(KALSHI_KEY_ID, public, 10**6 * 10**10)
        kx.add_account(KALSHI_MAKER, None, 0, unlimited=True)
        kx.add_market(TICKER, "Chaos market", tick=100)
        ksim = KalshiSim(kx, None, seed=seed)
        await ksim.start("127.0.0.1", 0)
        market = market_from_scenario(
            ScenarioMarket(key="CHAOS", title="Chaos market", fair=parse_price("0.45"))
        )
        px = PolyExchange(seed=seed)
        px.add_market(market)
        trader = PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": POLY_KEY}).maker
        px.fund(trader, collateral=10**6 * 10**10)
        px.fund(checksum(POLY_MAKER), collateral=10**9 * 10**10,
                tokens={market.yes_token: 10**9 * C, market.no_token: 10**9 * C})
        psim = PolymarketSim(px, scenario=None, seed=seed)
        await psim.start("127.0.0.1", 0)
        pair = Pair(
            name="CHAOS", kalshi_ticker=TICKER, polymarket_yes_token=market.yes_token,
            polymarket_no_token=market.no_token, polymarket_fee=market.fee,
            polymarket_min_order_size=Size(market.min_order_size),
        )
        return cls(folder, ksim, psim, pair, key_path, rng=random.Random(seed))

    async def stop(self) -> None:
        await self.kalshi_sim.stop()
        await self.poly_sim.stop()

    # -- what the executor child needs -------------------------------------------------------
    def config(self) -> dict[str, Any]:
        market_fee = self.pair.polymarket_fee
        assert market_fee is not None
        return {
            "kalshi_rest": self.kalshi_sim.rest_url,
            "kalshi_ws": self.kalshi_sim.ws_url,
            "kalshi_key_id": KALSHI_KEY_ID,
            "kalshi_key_path": str(self.key_path),
            "poly_url": self.poly_sim.url,
            "poly_key": POLY_KEY,
            "pair": {
                "name": self.pair.name, "kalshi_ticker": self.pair.kalshi_ticker,
                "polymarket_yes_token": self.pair.polymarket_yes_token,
                "polymarket_no_token": self.pair.polymarket_no_token,
            },
            # the pair's Polymarket market data, as `arbiter pairs refresh` would state it
            "pair_polymarket": {
                "fee_rate": market_fee.rate_text, "fee_exponent": market_fee.exponent,
                "min_order_size": self.pair.polymarket_min_order_size,
            },
        }

    def write_config(self) -> Path:
        path = self.folder / "venues.json"
        path.write_text(json.dumps(self.config()))
        return path

    # -- liquidity ---------------------------------------------------------------------------
    def kalshi_quote(self, side: str, price: int, size: int) -> None:
        """A maker order on the YES axis: ``ask`` = sell YES at ``price``, ``bid`` = buy YES."""
        self._maker_n += 1
        action = "sell" if side == "ask" else "buy"
        order, _ = self.kalshi_sim.exchange.place(
            KALSHI_MAKER, TICKER, "yes", action, price, size, f"mk-{self._maker_n}",
        )
        self._kalshi_makers.append(order.order_id)

    def poly_quote(self, token: str, side: str, price: int, size: int) -> None:
        """A maker order on one token: ``ask`` sells the token at ``price``, ``bid`` buys it."""
        self._maker_n += 1
        px = self.poly_sim.exchange
        market = px.tokens[token]
        order = SimOrder(
            id=f"maker-{self._maker_n}", owner="maker", maker=checksum(POLY_MAKER),
            signer=checksum(POLY_MAKER), market=market, token=token,
            side="SELL" if side == "ask" else "BUY", price=price, size=size, order_type="GTC",
            created_at=int(time.time()),
        )
        px.submit(order, TimeInForce.GTC, False, time.time_ns())

    def cancel_makers(self) -> None:
        kx = self.kalshi_sim.exchange
        for oid in self._kalshi_makers:
            order = kx.orders.get(oid)  # the sim forgets makers' finished orders
            if order is not None and order.engine.is_open:
                kx.cancel(KALSHI_MAKER, oid)
        self._kalshi_makers.clear()
        px = self.poly_sim.exchange
        live = [o.id for o in px.orders.values() if o.owner == "maker" and o.status == "LIVE"]
        if live:
            px.cancel("maker", live, time.time_ns())

    def reshape(self, rng: random.Random | None = None) -> None:
        """Fresh maker books with random thin first levels: fills, partials and misses all occur.

        Kalshi YES asks: 0.40 (0-30 contracts), then 0.41/0.42/0.43 (40 each), or, in one run of
        four, only 0.48/0.49 (beyond the hedge's slippage bound: completing is unlikely and the
        hedge unwinds); YES bids 0.38 (300). Polymarket NO token asks: 0.55 (0-30), 0.56 (40);
        NO bids 0.53 and 0.50 (300 each).
        """
        rng = rng or self.rng
        self.cancel_makers()
        depth_k = rng.choice([0, 3, 8, 15, 30, 30])
        depth_p = rng.choice([0, 5, 9, 17, 30, 30])
        if depth_k:
            self.kalshi_quote("ask", 4000, depth_k * C)
        far = rng.random() < 0.25
        for p in (4800, 4900) if far else (4100, 4200, 4300):
            self.kalshi_quote("ask", p, 40 * C)
        self.kalshi_quote("bid", 3800, 300 * C)
        no = self.pair.polymarket_no_token
        if depth_p:
            self.poly_quote(no, "ask", 5500, depth_p * C)
        self.poly_quote(no, "ask", 5600, 40 * C)
        self.poly_quote(no, "bid", 5300, 300 * C)
        self.poly_quote(no, "bid", 5000, 300 * C)

    def inject_faults(self, rng: random.Random) -> str:
        """Maybe arm one venue fault for the next run; returns its name ("" for none)."""
        self.kalshi_sim.faults.reset()
        self.poly_sim.lose_order_responses = 0
        roll = rng.random()
        if roll < 0.1:
            self.poly_sim.lose_order_responses = 1  # an order applied, its answer a 503
            return "poly_lost_response"
        if roll < 0.2:
            self.kalshi_sim.faults.update({"http_burst": [503, rng.randint(1, 2)],
                                           "http_burst_methods": ["POST"],
                                           "http_burst_after": rng.random() < 0.5})
            return "kalshi_5xx"
        return ""

    # -- inspection --------------------------------------------------------------------------
    def our_orders(self) -> list[tuple[str, str, str | None, int]]:
        """(venue, order id, client order id if the venue has one, filled) of the trader."""
        out: list[tuple[str, str, str | None, int]] = []
        kx = self.kalshi_sim.exchange
        for oid in kx.accounts[KALSHI_KEY_ID].order_ids:
            o = kx.orders[oid]
            out.append(("kalshi", oid, o.client_order_id, int(o.engine.filled)))
        px = self.poly_sim.exchange
        trader = PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": POLY_KEY}).maker
        for o in px.orders.values():
            if o.maker == trader:
                out.append(("polymarket", o.id, None, int(o.size_matched)))
        return out


@dataclass
class Audit:
    sagas: int
    unresolved: int
    duplicate_orders: int
    unknown_positions: int
    details: list[str]


async def audit(venues: Venues, journal_path: Path) -> Audit:
    """Compare the venues' order tables and positions with the journal."""
    details: list[str] = []
    with Journal(journal_path) as journal:
        rows = journal.orders()
        by_order_id = {r.order_id: r for r in rows if r.order_id}
        by_cid = {r.cid: r for r in rows}
        duplicates = 0
        seen_cids: dict[str, int] = {}
        for venue, oid, cid, filled in venues.our_orders():
            if cid is not None:
                seen_cids[cid] = seen_cids.get(cid, 0) + 1
                if seen_cids[cid] > 1:
                    duplicates += 1
                    details.append(f"second {venue} order for {cid}")
                    continue
                row = by_cid.get(cid)
            else:
                row = by_order_id.get(oid)
            if row is None or row.venue != venue or (row.order_id and row.order_id != oid):
                duplicates += 1
                details.append(f"{venue} order {oid} (cid {cid}, filled {filled}) unknown to the journal")
            elif row.filled != filled:
                duplicates += 1
                details.append(f"{venue} order {oid}: journal filled {row.filled}, venue {filled}")
        clients = await connect_clients(venues.config())
        try:
            report = await reconcile(journal, clients)
        finally:
            for client in clients.values():
                await client.close()
        unknown = len(report.differences) + len(report.errors)
        details.extend(d.describe() for d in report.differences)
        details.extend(report.errors)
        unresolved = len(journal.unfinished())
        sagas = len(journal.saga_ids())
    return Audit(sagas, unresolved, duplicates, unknown, details)

