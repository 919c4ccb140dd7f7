"""Pre-trade risk rules, capital reservations and the kill switch, as one pure object.

Every opportunity passes :meth:`RiskBook.check_and_reserve` before a saga may start. The check and
the reservation are one call with no suspension point in between, so two sagas evaluated
concurrently by an asyncio shell can never both see the same free balance: whichever is checked
second sees the first one's reservation. A rejection always carries a :class:`Reason` code (for
metrics and alerts) and a human-readable detail.

Reservations hold each leg's cost plus fee plus a slippage allowance on that leg's venue, so the
hedge a partial fill might need is already paid for. They are released when the saga ends; the
shell then feeds the resulting holdings back (:meth:`RiskBook.set_holdings`).

The kill switch blocks new sagas only. Sagas already running keep hedging: stopping them halfway
would leave exactly the naked positions the switch exists to prevent. It trips manually, when the
day's realised PnL reaches the loss limit, or after repeated hedge failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from arbiter.core.detection import Opportunity

__all__ = ["Reason", "Reservation", "RiskBook", "RiskDecision", "RiskLimits"]

DAY_NS = 86_400 * 10**9


class Reason(StrEnum):
    KILL_SWITCH = "kill_switch"
    DUPLICATE_SAGA = "duplicate_saga"
    STALE_BOOK = "stale_book"
    MIN_EDGE = "min_edge"
    MIN_PROFIT = "min_profit"
    OPEN_SAGAS = "open_sagas"
    PAIR_LIMIT = "pair_limit"
    VENUE_LIMIT = "venue_limit"
    GROSS_EXPOSURE = "gross_exposure"
    DAILY_LOSS = "daily_loss"
    BALANCE = "balance"
    BALANCE_UNKNOWN = "balance_unknown"
    #: a leg below its market's minimum order size or off its tick (the venue would refuse it)
    ORDER_RULES = "order_rules"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """All limits in core units; ``None`` disables a limit."""

    max_pair_contracts: int | None = None
    pair_contracts: Mapping[str, int] = field(default_factory=dict)
    max_venue_exposure: int | None = None
    max_gross_exposure: int | None = None
    max_open_sagas: int = 8
    max_daily_loss: int | None = None
    max_book_age_ns: int | None = None
    #: minimum profit per contract after fees, price units
    min_edge: int = 0
    min_profit: int = 0
    #: failed sagas (residual left) per day before the switch trips automatically
    max_hedge_failures: int = 3
    #: extra money reserved per contract on each leg for a possible hedge, price units
    slippage_reserve: int = 0
    #: refuse when a venue's balance has never been reported
    require_balance: bool = True


@dataclass(frozen=True, slots=True)
class Reservation:
    saga_id: str
    pair: str
    contracts: int
    per_venue: Mapping[str, int]
    ts_ns: int
    #: the same money per collateral shard (``shard_key(venue, shard)``), for venues whose
    #: collateral is held per exchange shard (Kalshi); empty elsewhere
    per_shard: Mapping[str, int] = field(default_factory=dict)

    @property
    def exposure(self) -> int:
        return sum(self.per_venue.values())


@dataclass(frozen=True, slots=True)
class RiskDecision:
    approved: bool
    reason: Reason | None
    detail: str
    reservation: Reservation | None = None


def _ok(reservation: Reservation) -> RiskDecision:
    return RiskDecision(True, None, "approved", reservation)


def _no(reason: Reason, detail: str) -> RiskDecision:
    return RiskDecision(False, reason, detail)


def shard_key(venue: str, shard: int) -> str:
    """The key of one venue's collateral shard in :attr:`Reservation.per_shard`."""
    return f"{venue}#{shard}"


class RiskBook:
    """Risk state of one tenant: balances, holdings, reservations, day PnL, kill switch.

    A venue may hold collateral per exchange shard (Kalshi: "Programmatic traders must
    preallocate collateral on a given exchange shard before order placement", docs
    ``/getting_started/exchange_sharding``). For such a venue the shell reports the balance of
    each shard (:meth:`set_shard_balances`) and the shard of each market it trades
    (:meth:`set_market_shard`), and a leg must fit in its market's shard, not just in the
    venue's total: $900 on shard 0 does not pay for an order on a shard-1 market.
    """

    def __init__(self, limits: RiskLimits | None = None) -> None:
        self.limits = limits or RiskLimits()
        self.balances: dict[str, int] = {}
        #: venue -> shard -> balance, for venues that hold collateral per shard
        self.shard_balances: dict[str, dict[int, int]] = {}
        #: (venue, market) -> the shard the market lives on
        self.market_shards: dict[tuple[str, str], int] = {}
        self.held_pair: dict[str, int] = {}
        self.held_venue: dict[str, int] = {}
        self.reservations: dict[str, Reservation] = {}
        self.day = -1
        self.daily_pnl = 0
        self.hedge_failures = 0
        self.killed: str | None = None
        #: (ts_ns, event) history of the switch, for the operator
        self.kill_log: list[tuple[int, str]] = []

    # -- inputs from the shell ------------------------------------------------------------------
    def set_balance(self, venue: str, amount: int) -> None:
        self.balances[venue] = amount

    def set_shard_balances(self, venue: str, balances: Mapping[int, int]) -> None:
        self.shard_balances[venue] = dict(balances)

    def set_market_shard(self, venue: str, market: str, shard: int) -> None:
        self.market_shards[(venue, market)] = shard

    def set_holdings(self, pair_contracts: Mapping[str, int], venue_basis: Mapping[str, int]) -> None:
        self.held_pair = dict(pair_contracts)
        self.held_venue = dict(venue_basis)

    def _roll_day(self, now_ns: int) -> None:
        day = now_ns // DAY_NS
        if day != self.day:
            self.day = day
            self.daily_pnl = 0
            self.hedge_failures = 0

    def restore_day(self, now_ns: int, daily_pnl: int, hedge_failures: int) -> None:
        """The day's PnL and hedge failures as the journal has them (a restarted process must
        not start the kill switch's counts from zero; docs/adr/0171)."""
        self._roll_day(now_ns)
        self.daily_pnl = daily_pnl
        self.hedge_failures = hedge_failures

    # -- kill switch ----------------------------------------------------------------------------
    def trip(self, reason: str, now_ns: int) -> None:
        if self.killed is None:
            self.killed = reason
            self.kill_log.append((now_ns, f"tripped: {reason}"))

    def reset(self, now_ns: int) -> None:
        if self.killed is not None:
            self.kill_log.append((now_ns, f"reset (was: {self.killed})"))
        self.killed = None
        self.hedge_failures = 0

    # -- the check ------------------------------------------------------------------------------
    def reserved_on(self, venue: str) -> int:
        return sum(r.per_venue.get(venue, 0) for r in self.reservations.values())

    def available(self, venue: str) -> int | None:
        balance = self.balances.get(venue)
        return None if balance is None else balance - self.reserved_on(venue)

    def available_on_shard(self, venue: str, shard: int) -> int | None:
        """Free collateral of one shard; ``None`` when that shard's balance was not reported."""
        balance = self.shard_balances.get(venue, {}).get(shard)
        if balance is None:
            return None
        key = shard_key(venue, shard)
        return balance - sum(r.per_shard.get(key, 0) for r in self.reservations.values())

    def check_and_reserve(self, saga_id: str, opp: Opportunity, now_ns: int) -> RiskDecision:
        """Apply every pre-trade rule; on approval the capital is reserved before returning."""
        lim = self.limits
        self._roll_day(now_ns)
        if self.killed is not None:
            return _no(Reason.KILL_SWITCH, f"kill switch on: {self.killed}")
        if saga_id in self.reservations:
            return _no(Reason.DUPLICATE_SAGA, f"saga {saga_id} already holds a reservation")
        for leg in opp.legs:
            # the venue's own rules, checked again here so no leg below the market's minimum
            # (Polymarket ``mos``) or off its tick is ever sent, whatever built the opportunity
            if opp.size < leg.min_size:
                return _no(Reason.ORDER_RULES,
                           f"{leg.venue} {leg.market}: size {opp.size} below the market's "
                           f"minimum {leg.min_size}")
            if leg.tick and leg.limit_price % leg.tick:
                return _no(Reason.ORDER_RULES,
                           f"{leg.venue} {leg.market}: price {leg.limit_price} off the tick "
                           f"{leg.tick}")
        if lim.max_book_age_ns is not None:
            oldest = min(leg.book_ts_ns for leg in opp.legs)
            if now_ns - oldest > lim.max_book_age_ns:
                return _no(Reason.STALE_BOOK,
                           f"book age {now_ns - oldest} ns > {lim.max_book_age_ns} ns")
        if opp.profit < lim.min_edge * opp.size:
            return _no(Reason.MIN_EDGE,
                       f"profit {opp.profit} below {lim.min_edge} per contract x {opp.size}")
        if opp.profit < lim.min_profit:
            return _no(Reason.MIN_PROFIT, f"profit {opp.profit} below {lim.min_profit}")
        if len(self.reservations) >= lim.max_open_sagas:
            return _no(Reason.OPEN_SAGAS, f"{len(self.reservations)} sagas open (max {lim.max_open_sagas})")
        pair_cap = lim.pair_contracts.get(opp.pair, lim.max_pair_contracts)
        if pair_cap is not None:
            used = self.held_pair.get(opp.pair, 0) + sum(
                r.contracts for r in self.reservations.values() if r.pair == opp.pair
            )
            if used + opp.size > pair_cap:
                return _no(Reason.PAIR_LIMIT,
                           f"pair {opp.pair}: {used} + {opp.size} contracts > {pair_cap}")
        per_venue: dict[str, int] = {}
        for leg in opp.legs:
            need = leg.cost + leg.fee + lim.slippage_reserve * opp.size
            per_venue[leg.venue] = per_venue.get(leg.venue, 0) + need
        if lim.max_venue_exposure is not None:
            for venue, need in per_venue.items():
                used = self.held_venue.get(venue, 0) + self.reserved_on(venue)
                if used + need > lim.max_venue_exposure:
                    return _no(Reason.VENUE_LIMIT,
                               f"{venue}: exposure {used} + {need} > {lim.max_venue_exposure}")
        if lim.max_gross_exposure is not None:
            used = sum(self.held_venue.values()) + sum(r.exposure for r in self.reservations.values())
            need = sum(per_venue.values())
            if used + need > lim.max_gross_exposure:
                return _no(Reason.GROSS_EXPOSURE,
                           f"gross exposure {used} + {need} > {lim.max_gross_exposure}")
        if lim.max_daily_loss is not None and -self.daily_pnl >= lim.max_daily_loss:
            return _no(Reason.DAILY_LOSS, f"day PnL {self.daily_pnl} at loss limit {lim.max_daily_loss}")
        for venue, need in per_venue.items():
            free = self.available(venue)
            if free is None:
                if lim.require_balance:
                    return _no(Reason.BALANCE_UNKNOWN, f"{venue}: balance not known yet")
                continue
            if need > free:
                return _no(Reason.BALANCE, f"{venue}: need {need}, available {free}")
        per_shard: dict[str, int] = {}
        for leg in opp.legs:
            if leg.venue not in self.shard_balances:
                continue  # collateral is not sharded on this venue
            shard = self.market_shards.get((leg.venue, leg.market))
            if shard is None:
                return _no(Reason.BALANCE_UNKNOWN,
                           f"{leg.venue}: exchange shard of {leg.market} not known")
            key = shard_key(leg.venue, shard)
            need = leg.cost + leg.fee + lim.slippage_reserve * opp.size
            per_shard[key] = per_shard.get(key, 0) + need
        for key, need in per_shard.items():
            venue, _, index = key.rpartition("#")
            free = self.available_on_shard(venue, int(index))
            if free is None:
                return _no(Reason.BALANCE_UNKNOWN,
                           f"{venue}: balance of exchange shard {index} not known")
            if need > free:
                return _no(Reason.BALANCE,
                           f"{venue} shard {index}: need {need}, available {free}")
        reservation = Reservation(saga_id, opp.pair, opp.size, per_venue, now_ns, per_shard)
        self.reservations[saga_id] = reservation
        return _ok(reservation)

    def restore(self, reservation: Reservation) -> None:
        """Re-hold a reservation for a saga found unfinished at start-up (no checks: it exists)."""
        self.reservations[reservation.saga_id] = reservation

    def release(self, saga_id: str) -> Reservation | None:
        return self.reservations.pop(saga_id, None)

    def record_result(self, saga_id: str, pnl: int, failed: bool, now_ns: int) -> str | None:
        """Book a finished saga's PnL; returns the kill reason if this result tripped the switch."""
        self._roll_day(now_ns)
        self.release(saga_id)
        self.daily_pnl += pnl
        if failed:
            self.hedge_failures += 1
        lim = self.limits
        reason: str | None = None
        if lim.max_daily_loss is not None and -self.daily_pnl >= lim.max_daily_loss:
            reason = f"daily loss {-self.daily_pnl} reached limit {lim.max_daily_loss}"
        elif failed and self.hedge_failures >= lim.max_hedge_failures:
            reason = f"{self.hedge_failures} hedge failures today (limit {lim.max_hedge_failures})"
        if reason is not None and self.killed is None:
            self.trip(reason, now_ns)
            return reason
        return None

