"""Positions and PnL per venue / market / outcome, exact to the 1e-10 dollar.

Cost basis is the total ``Money`` paid for the open size, not an average price, so nothing is
ever rounded while a position only grows. Selling part of a position removes the pro-rata share
of the basis (floored, the remainder stays with the contracts still held; the last sale removes
what is left), which keeps ``realised + basis`` equal to the exact cash flows at all times.

Fees are tracked apart from trading PnL because the venues charge them differently (Kalshi in
cash rounded to the cent, Polymarket partly in outcome tokens) and an operator wants to see how
much of a result is edge and how much is fees. Settlement pays $1 per winning contract and 0 per
losing one, so a matched arbitrage pair realises exactly ``1 - cost`` per contract, minus fees.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from arbiter.core.book import Outcome
from arbiter.core.pairs import Pair
from arbiter.core.units import PRICE_SCALE, Money

__all__ = ["PnL", "Position", "PositionBook", "PositionError", "PositionKey"]

PositionKey = tuple[str, str, Outcome]


class PositionError(ValueError):
    """A fill that cannot apply (selling more than is held, a negative size)."""


@dataclass(slots=True)
class Position:
    venue: str
    market: str
    outcome: Outcome
    size: int = 0
    #: total money paid for the ``size`` still held
    basis: int = 0
    #: trading PnL realised by sales and settlement, fees excluded
    realised: int = 0
    fees: int = 0
    settled: bool = False

    @property
    def key(self) -> PositionKey:
        return (self.venue, self.market, self.outcome)

    def average_price(self) -> int | None:
        """Average cost in price units (floored); ``None`` when flat."""
        return self.basis // self.size if self.size else None

    def unrealised(self, mark: int) -> Money:
        """Value at ``mark`` (price units) minus basis."""
        return Money(self.size * mark - self.basis)


@dataclass(frozen=True, slots=True)
class PnL:
    realised: int
    unrealised: int
    fees: int

    @property
    def net(self) -> Money:
        return Money(self.realised + self.unrealised - self.fees)


class PositionBook:
    """All positions of one account set; fills in, PnL out."""

    __slots__ = ("_positions",)

    def __init__(self) -> None:
        self._positions: dict[PositionKey, Position] = {}

    def __iter__(self) -> Iterator[Position]:
        return iter(self._positions.values())

    def get(self, venue: str, market: str, outcome: Outcome) -> Position:
        key = (venue, market, outcome)
        pos = self._positions.get(key)
        if pos is None:
            pos = self._positions[key] = Position(venue, market, outcome)
        return pos

    def open_positions(self) -> list[Position]:
        return [p for p in self._positions.values() if p.size]

    def apply_fill(
        self,
        venue: str,
        market: str,
        outcome: Outcome,
        action: str,
        size: int,
        amount: int,
        fee: int = 0,
    ) -> Position:
        """Apply one fill: ``amount`` is the total money paid (buy) or received (sell)."""
        if size < 0 or amount < 0 or fee < 0:
            raise PositionError(f"negative fill {size=} {amount=} {fee=}")
        pos = self.get(venue, market, outcome)
        pos.fees += fee
        if action == "buy":
            pos.size += size
            pos.basis += amount
        elif action == "sell":
            if size > pos.size:
                raise PositionError(
                    f"sell {size} of {venue}:{market}:{outcome.value} but only {pos.size} held"
                )
            removed = pos.basis if size == pos.size else pos.basis * size // pos.size
            pos.size -= size
            pos.basis -= removed
            pos.realised += amount - removed
        else:
            raise PositionError(f"unknown action {action!r}")
        return pos

    def settle(self, venue: str, market: str, paying: Iterable[Outcome]) -> Money:
        """Settle every position of one market: outcomes in ``paying`` get $1 per contract."""
        winners = set(paying)
        total = 0
        for pos in self._positions.values():
            if pos.venue != venue or pos.market != market or not pos.size:
                continue
            payout = pos.size * PRICE_SCALE if pos.outcome in winners else 0
            pnl = payout - pos.basis
            pos.realised += pnl
            total += pnl
            pos.size = 0
            pos.basis = 0
            pos.settled = True
        return Money(total)

    def settle_pair(self, pair: Pair, kalshi_winner: Outcome) -> Money:
        """Settle both venues' markets of a pair from the Kalshi result.

        A Polymarket position is keyed by its token id; the token that pays is the one paired
        with the winning Kalshi outcome, whatever outcome label the position carries.
        """
        total: int = self.settle("kalshi", pair.kalshi_ticker, [kalshi_winner])
        winning_token = pair.polymarket_token(kalshi_winner)
        for token in (pair.polymarket_yes_token, pair.polymarket_no_token):
            paying = list(Outcome) if token == winning_token else []
            total += self.settle("polymarket", token, paying)
        return Money(total)

    def pnl(self, marks: Mapping[PositionKey, int] | None = None) -> PnL:
        """Realised, unrealised (at ``marks``, e.g. mids; unmarked positions count 0) and fees."""
        marks = marks or {}
        realised = unrealised = fees = 0
        for pos in self._positions.values():
            realised += pos.realised
            fees += pos.fees
            if pos.size and pos.key in marks:
                unrealised += pos.unrealised(marks[pos.key])
        return PnL(realised, unrealised, fees)

    def net_sizes(self) -> dict[PositionKey, int]:
        """Open size per key (what reconciliation compares with the venues)."""
        return {k: p.size for k, p in self._positions.items() if p.size}

    def venue_basis(self) -> dict[str, int]:
        """Money held per venue at cost: the exposure the risk rules limit."""
        out: dict[str, int] = {}
        for pos in self._positions.values():
            if pos.size:
                out[pos.venue] = out.get(pos.venue, 0) + pos.basis
        return out
