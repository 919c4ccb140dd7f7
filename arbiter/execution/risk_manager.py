"""Risk manager shell: the pure :class:`~arbiter.core.risk.RiskBook` plus the I/O it implies.

It refreshes balances from the venues, journals every rejection with its reason code, feeds
finished sagas back into the book and, when the kill switch trips (manually or automatically),
cancels every open order on every venue. All decisions stay in core; this class only wires them
to clients, the journal and the clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from arbiter.core.detection import Opportunity
from arbiter.core.pairs import Pair
from arbiter.core.positions import PositionBook
from arbiter.core.risk import RiskBook, RiskDecision
from arbiter.core.saga import Ending, Saga
from arbiter.execution.journal import Journal
from arbiter.venues.base import ExchangeClient, unwrap

__all__ = ["RiskManager", "pair_holdings"]

log = logging.getLogger(__name__)


def pair_holdings(positions: PositionBook, pairs: Mapping[str, Pair]) -> dict[str, int]:
    """Contracts held per pair: the larger of its Kalshi side and its Polymarket side."""
    owner: dict[tuple[str, str], str] = {}
    for pair in pairs.values():
        owner[("kalshi", pair.kalshi_ticker)] = pair.name
        owner[("polymarket", pair.polymarket_yes_token)] = pair.name
        owner[("polymarket", pair.polymarket_no_token)] = pair.name
    sides: dict[tuple[str, str], int] = {}
    for pos in positions.open_positions():
        name = owner.get((pos.venue, pos.market))
        if name is not None:
            key = (name, pos.venue)
            sides[key] = sides.get(key, 0) + pos.size
    out: dict[str, int] = {}
    for (name, _venue), size in sides.items():
        out[name] = max(out.get(name, 0), size)
    return out


def _through_wrappers(client: ExchangeClient, name: str) -> Any:
    """``client``'s ``name`` from the outermost layer that has it, where the venue's own client
    has it (``None`` otherwise).

    The venue client sits under the dry-run, rate-limit and timing wrappers; calling it
    directly would skip the rate limiter, so a call goes in at the first layer that offers it
    (:class:`~arbiter.venues.ratelimited.RateLimitedClient` does), never below it.
    """
    if getattr(unwrap(client), name, None) is None:
        return None
    layer: Any = client
    while layer is not None:
        call = getattr(layer, name, None)
        if call is not None:
            return call
        layer = getattr(layer, "inner", None)
    return None


class RiskManager:
    def __init__(
        self,
        book: RiskBook,
        clients: Mapping[str, ExchangeClient],
        pairs: Mapping[str, Pair],
        journal: Journal | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.book = book
        self.clients = dict(clients)
        self.pairs = dict(pairs)
        self.journal = journal
        self.clock = clock
        self.canceled_on_kill = 0

    async def refresh_balances(self) -> None:
        for venue, client in self.clients.items():
            self.book.set_balance(venue, int(await client.balance()))
            await self._refresh_shards(venue, client)

    async def _refresh_shards(self, venue: str, client: ExchangeClient) -> None:
        """Per-shard collateral and the shard of every pair market, where the venue shards
        (Kalshi's client has ``shard_balances``/``shard_of``; docs
        /getting_started/exchange_sharding). A market whose shard cannot be learnt stays
        unknown, and the risk check refuses to trade it (never "shard 0" by default)."""
        shard_balances = _through_wrappers(client, "shard_balances")
        shard_of = _through_wrappers(client, "shard_of")
        if shard_balances is None or shard_of is None:
            return
        balances = await shard_balances()
        self.book.set_shard_balances(venue, {int(k): int(v) for k, v in balances.items()})
        markets = sorted({p.kalshi_ticker for p in self.pairs.values()}) if venue == "kalshi" else []
        for market in markets:
            try:
                self.book.set_market_shard(venue, market, int(await shard_of(market)))
            except Exception as exc:  # unknown shard: the risk check blocks this market
                log.warning("%s: exchange shard of %s unknown: %s", venue, market, exc)

    def check_and_reserve(self, saga_id: str, opp: Opportunity) -> RiskDecision:
        decision = self.book.check_and_reserve(saga_id, opp, self.clock())
        if not decision.approved and self.journal is not None:
            reason = decision.reason.value if decision.reason is not None else "unknown"
            self.journal.log(
                "risk_reject",
                {"saga_id": saga_id, "pair": opp.pair, "direction": opp.direction,
                 "reason": reason, "detail": decision.detail},
                self.clock(),
            )
        return decision

    def release(self, saga_id: str) -> object:
        """Give back a reservation whose saga never started (journaling failed)."""
        return self.book.release(saga_id)

    async def on_finished(self, saga: Saga, positions: PositionBook) -> None:
        finished = saga.finished
        if finished is None:
            return
        now = self.clock()
        tripped = self.book.record_result(
            saga.saga_id, finished.pnl, finished.ending is Ending.FAILED, now
        )
        self.book.set_holdings(pair_holdings(positions, self.pairs), positions.venue_basis())
        if tripped is not None:
            await self.kill(tripped, automatic=True)

    async def kill(self, reason: str, automatic: bool = False) -> int:
        """Trip the switch and cancel every open order on every venue; returns orders canceled."""
        now = self.clock()
        self.book.trip(reason, now)
        if self.journal is not None:
            self.journal.log("kill_switch", {"reason": reason, "automatic": automatic}, now)
        results = await asyncio.gather(
            *(self._cancel_all(v, c) for v, c in self.clients.items()), return_exceptions=True
        )
        canceled = sum(r for r in results if isinstance(r, int))
        self.canceled_on_kill += canceled
        return canceled

    async def _cancel_all(self, venue: str, client: ExchangeClient) -> int:
        count = 0
        for order in await client.open_orders():
            try:
                await client.cancel_order(order.order_id)
                count += 1
            except Exception as exc:  # one failure must not stop the others
                log.error("kill switch: cancel %s on %s failed: %s", order.order_id, venue, exc)
        return count

    def reset(self) -> None:
        now = self.clock()
        self.book.reset(now)
        if self.journal is not None:
            self.journal.log("kill_switch", {"reason": "reset", "automatic": False}, now)
