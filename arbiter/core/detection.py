"""Fee-aware arbitrage detection over the book cache, re-evaluating only the pair an event touched.

For each pair there are up to three ways to buy a complete set (one contract that pays $1 in every
outcome) for less than $1:

* ``kalshi_yes_poly_<x>``: Kalshi YES + the Polymarket token that pays when Kalshi NO pays;
* ``kalshi_no_poly_<x>``: Kalshi NO + the Polymarket token that pays when Kalshi YES pays;
* ``poly_yes_poly_no``: both Polymarket tokens (their books are independent ladders).

``<x>`` names the token actually bought (``no``/``yes`` for a normal pair, flipped when the pair is
``inverted``). Kalshi YES + Kalshi NO below $1 would need YES bid + NO bid > $1, which is a crossed
Kalshi book, and the book layer refuses those.

The hot path is a single integer comparison per direction: if best asks plus the minimum edge
already reach $1, deeper levels (never cheaper) and fees (never negative) cannot help. A second
adds the fees' integer lower bound at the best levels (``rate_floor``): where each model's unit
cost only rises with the price (:func:`~arbiter.core.fees.unit_cost_monotone`), a window the
fees close at the best levels is closed at every size (ADR 0174). Only when both tests pass does
the exact sizing search (:mod:`arbiter.core.sizing`) run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from arbiter.core.book import AskView, BookError, KalshiBook, Ladder, Outcome, TokenBook
from arbiter.core.fees import FeeModel, KalshiFeeModel, unit_cost_monotone
from arbiter.core.pairs import Pair
from arbiter.core.sizing import optimise_size
from arbiter.core.units import ONE_CONTRACT, PRICE_SCALE, Money, Size

__all__ = ["DEFAULT_MAX_BOOK_AGE_NS", "DetectionConfig", "Detector", "Leg", "Opportunity"]

KALSHI = "kalshi"
POLYMARKET = "polymarket"
#: the running engine's budget for a book's age (``[detection] max_book_age_ms``): a book not
#: known correct for this long is not traded. Polymarket books are confirmed by every change and
#: by the feed's quiet watchdog (REST cross-check after 5 s of quiet); Kalshi books by their
#: sequence-checked live subscription. 15 s leaves room for two watchdog rounds and a slow REST
#: answer before a quiet-but-healthy book would be refused. The dataclass default stays ``None``
#: for replays and scans over recorded data, whose clocks are not the wall clock.
DEFAULT_MAX_BOOK_AGE_NS = 15_000_000_000


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Strategy knobs; all money/price values in core units."""

    #: minimum profit per contract after fees, in price units ($0.0001)
    min_edge: int = 0
    #: global cap on contracts per opportunity (the pair's own cap applies too)
    max_contracts: Size | None = None
    #: cap on cost + fees of one opportunity
    budget: Money | None = None
    #: books older than this (vs. the detector's ``now``) are not traded; None = no check here
    #: (the running engine always sets one: :data:`DEFAULT_MAX_BOOK_AGE_NS` unless configured)
    max_book_age_ns: int | None = None
    #: sizes are multiples of this (whole contracts by default: both venues accept them)
    lot: Size = ONE_CONTRACT
    #: also look for YES + NO both on Polymarket
    same_venue: bool = True


@dataclass(frozen=True, slots=True)
class Leg:
    venue: str
    market: str
    outcome: Outcome
    #: worst (limit) price the leg needs to fill the whole size
    limit_price: int
    cost: Money
    fee: Money
    book_ts_ns: int
    #: the market's minimum order size and tick when detected (the risk check enforces both)
    min_size: int = 0
    tick: int = 0


@dataclass(frozen=True, slots=True)
class Opportunity:
    pair: str
    direction: str
    size: Size
    legs: tuple[Leg, Leg]
    cost: Money
    fees: Money
    profit: Money
    detected_ns: int

    def leg(self, venue: str) -> Leg | None:
        for leg in self.legs:
            if leg.venue == venue:
                return leg
        return None


def _rules(book: KalshiBook | TokenBook) -> tuple[Size, int]:
    """(minimum size, tick) a leg on ``book`` must respect: a Polymarket token's ``mos`` and
    tick; Kalshi legs carry none here (its grid rules are the Kalshi client's)."""
    if isinstance(book, TokenBook):
        return Size(book.min_order_size), book.tick
    return Size(0), 0


@dataclass(slots=True)
class _Route:
    """One direction of one pair: the two ask views and their fee models, resolved once."""

    direction: str
    venue_a: str
    market_a: str
    outcome_a: Outcome
    book_a: KalshiBook | TokenBook
    view_a: AskView | None
    fee_a: FeeModel
    venue_b: str
    market_b: str
    outcome_b: Outcome
    book_b: TokenBook
    fee_b: FeeModel
    #: what the last sizing search that found nothing saw: (min size, max size, the versions of
    #: ladder a and of ladder b, :attr:`Ladder.version`); while both ladders are unchanged, the
    #: search is not re-run (a route's ladders are the same objects for its whole life)
    unsized: tuple[int, int | None, int, int] | None = None
    #: both fee models' unit cost is non-decreasing in price (:func:`unit_cost_monotone`), so
    #: the best asks' prices plus their fee bounds decide whether any size can be profitable
    fee_bound: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.fee_bound = unit_cost_monotone(self.fee_a) and unit_cost_monotone(self.fee_b)

    def ask_a(self) -> AskView:
        if self.view_a is not None:
            return self.view_a
        assert isinstance(self.book_a, TokenBook)
        return self.book_a.ask_view()


@dataclass(slots=True)
class _PairState:
    pair: Pair
    kalshi: KalshiBook
    yes: TokenBook
    no: TokenBook
    routes: list[_Route] = field(default_factory=list)
    #: per route: (ladder a, a is a complemented bid ladder, ask ladder b, route) - the hot-path
    #: check reads ladders directly; books update them in place, so the references stay valid
    checks: list[tuple[Ladder, bool, Ladder, _Route]] = field(default_factory=list)
    #: why the pair may not trade now (its Kalshi market closed, paused, settled, ...); None: ok
    halted: str | None = None
    #: False when the last evaluation found every route's best asks at or above the limit:
    #: until an ask of the pair gets better, evaluating it again cannot find anything
    armed: bool = True


class Detector:
    """Book cache plus incremental detection for a set of pairs.

    Feeds write into the books returned by :meth:`kalshi_book` / :meth:`token_book` and then call
    :meth:`on_kalshi` / :meth:`on_token` with the same key; only that pair is re-evaluated.
    A route whose best asks pass the first test but whose sizing search found nothing is not
    searched again until one of its two ask ladders changes (ADR 0152): inside a window that
    fees or minimum sizes close, every other change of the pair's books (bids, the other
    token, the other Kalshi side) used to re-run the search for the same answer.
    """

    #: skip a sizing search whose ladders are unchanged since it found nothing (off: tests
    #: comparing against the plain search)
    memo_unsized: bool = True

    def __init__(self, pairs: Iterable[Pair], config: DetectionConfig | None = None) -> None:
        self.config = config or DetectionConfig()
        #: sets of keys (tickers, token ids) that must not be traded while they hold them: the
        #: feeds' own sets (stale, resolved) are registered with :meth:`block_when`, so there is
        #: no copy to drift
        self._blocked: list[Container[str]] = []
        #: opportunities not sized because a book was too old ("age:<venue>") or blocked
        #: ("blocked:<venue>"); exported as a metric by the engine
        self.skipped: dict[str, int] = {}
        self._pairs: dict[str, _PairState] = {}
        self._by_kalshi: dict[str, _PairState] = {}
        self._by_token: dict[str, _PairState] = {}
        #: pairs that are tracked but never traded, with the reason (unknown Polymarket fee or
        #: minimum size: ADR 0036); their books still update, no route is ever evaluated
        self.refused: dict[str, str] = {}
        for pair in pairs:
            min_order = pair.polymarket_min_order_size or 0
            state = _PairState(
                pair,
                KalshiBook(pair.kalshi_ticker, grid=pair.kalshi_price_grid),
                TokenBook(pair.polymarket_yes_token, pair.polymarket_tick, min_order),
                TokenBook(pair.polymarket_no_token, pair.polymarket_tick, min_order),
            )
            reason = pair.untradable_reason()
            if reason is not None:
                self.refused[pair.name] = reason
            state.routes = self._routes(state) if reason is None else []
            for route in state.routes:
                view = route.ask_a()
                state.checks.append((view.ladder, view.complement, route.book_b.asks, route))
            self._pairs[pair.name] = state
            self._by_kalshi[pair.kalshi_ticker] = state
            self._by_token[pair.polymarket_yes_token] = state
            self._by_token[pair.polymarket_no_token] = state

    def _routes(self, state: _PairState) -> list[_Route]:
        pair = state.pair
        kfee: KalshiFeeModel = pair.kalshi_fees.taker
        assert pair.polymarket_fee is not None  # untradable pairs get no routes
        pfee: FeeModel = pair.polymarket_fee
        routes = []
        for k_outcome in (Outcome.YES, Outcome.NO):
            token = pair.polymarket_token(k_outcome.other)
            book = state.yes if token == pair.polymarket_yes_token else state.no
            p_outcome = pair.polymarket_outcome(token)
            routes.append(
                _Route(
                    f"kalshi_{k_outcome.value}_poly_{p_outcome.value}",
                    KALSHI, pair.kalshi_ticker, k_outcome, state.kalshi,
                    state.kalshi.asks(k_outcome), kfee,
                    POLYMARKET, token, p_outcome, book, pfee,
                )
            )
        if self.config.same_venue:
            routes.append(
                _Route(
                    "poly_yes_poly_no",
                    POLYMARKET, pair.polymarket_yes_token, Outcome.YES, state.yes, None, pfee,
                    POLYMARKET, pair.polymarket_no_token, Outcome.NO, state.no, pfee,
                )
            )
        return routes

    def replace_pair(self, pair: Pair) -> None:
        """Swap in a pair's refreshed market data (fee, minimum size), keeping its books.

        The engine calls this when the venue says a market changed (a ``tick_size_change``, an
        order refused for a changed fee or tick) and it re-read ``/clob-markets``; a pair whose
        data could not be re-read arrives with its fee unknown and stops trading here.
        """
        state = self._pairs[pair.name]
        old = state.pair
        if (pair.kalshi_ticker, pair.polymarket_yes_token, pair.polymarket_no_token) != (
            old.kalshi_ticker, old.polymarket_yes_token, old.polymarket_no_token
        ):
            raise ValueError(f"pair '{pair.name}': a refresh cannot change its markets")
        state.pair = pair
        state.armed = True
        state.yes.min_order_size = state.no.min_order_size = pair.polymarket_min_order_size or 0
        for book in (state.yes, state.no):
            if book.tick != pair.polymarket_tick:
                # a book whose levels sit off the new grid keeps its tick: the feed's
                # tick_size_change or resync moves it (never a half-converted ladder)
                with contextlib.suppress(BookError):
                    book.set_tick(pair.polymarket_tick, book.ts_ns)
        reason = pair.untradable_reason()
        if reason is None:
            self.refused.pop(pair.name, None)
            state.routes = self._routes(state)
        else:
            self.refused[pair.name] = reason
            state.routes = []
        state.checks = []
        for route in state.routes:
            view = route.ask_a()
            state.checks.append((view.ladder, view.complement, route.book_b.asks, route))

    # -- book cache ---------------------------------------------------------------------------
    @property
    def pairs(self) -> list[Pair]:
        return [s.pair for s in self._pairs.values()]

    def kalshi_book(self, ticker: str) -> KalshiBook:
        return self._by_kalshi[ticker].kalshi

    def token_book(self, token: str) -> TokenBook:
        state = self._by_token[token]
        return state.yes if token == state.pair.polymarket_yes_token else state.no

    def tracks_kalshi(self, ticker: str) -> bool:
        return ticker in self._by_kalshi

    def halt(self, ticker: str, reason: str) -> bool:
        """Stop detecting on the pair of Kalshi ``ticker`` (its market stopped trading)."""
        state = self._by_kalshi.get(ticker)
        if state is None:
            return False
        state.halted = reason
        return True

    def resume(self, ticker: str) -> bool:
        state = self._by_kalshi.get(ticker)
        if state is None or state.halted is None:
            return False
        state.halted = None
        return True

    def halted(self, ticker: str) -> str | None:
        state = self._by_kalshi.get(ticker)
        return state.halted if state is not None else None

    def tracks_token(self, token: str) -> bool:
        return token in self._by_token

    # -- detection ----------------------------------------------------------------------------
    def on_kalshi(self, ticker: str, now_ns: int) -> list[Opportunity]:
        state = self._by_kalshi.get(ticker)
        return self._evaluate(state, now_ns) if state is not None else []

    def on_token(self, token: str, now_ns: int) -> list[Opportunity]:
        state = self._by_token.get(token)
        return self._evaluate(state, now_ns) if state is not None else []

    def evaluate(self, pair_name: str, now_ns: int) -> list[Opportunity]:
        return self._evaluate(self._pairs[pair_name], now_ns)

    def scan(self, now_ns: int) -> list[Opportunity]:
        out: list[Opportunity] = []
        for state in self._pairs.values():
            out.extend(self._evaluate(state, now_ns))
        return out

    def quiet(self, key: str) -> bool:
        """True when the last evaluation of the pair of ``key`` (ticker or token) found no route
        whose best asks (plus their fees' lower bound, where it holds: ``_Route.fee_bound``) are
        below the limit. Asks that only got worse (levels removed, sizes
        cut) cannot change that, so a caller that knows no ask of the pair improved since (the
        replay sees every row) may skip the next evaluation: the result would be empty."""
        state = self._by_kalshi.get(key) or self._by_token.get(key)
        return state is not None and not state.armed

    def _evaluate(self, state: _PairState, now_ns: int) -> list[Opportunity]:
        found: list[Opportunity] = []
        if state.halted is not None:
            state.armed = True
            return found
        limit = PRICE_SCALE - self.config.min_edge
        armed = False
        for ladder_a, complement, ladder_b, route in state.checks:
            if not ladder_a.count or not ladder_b.count:
                continue
            pa = ladder_a.best * ladder_a.tick
            if complement:
                pa = PRICE_SCALE - pa
            pb = ladder_b.best * ladder_b.tick
            if pa + pb >= limit:
                continue
            # the fees' lower bound at the best levels: when it closes the window, no size can
            # be profitable (the unit cost only rises deeper), so the route stays unarmed
            if route.fee_bound and (pa + pb + route.fee_a.rate_floor(pa)
                                    + route.fee_b.rate_floor(pb)) >= limit:
                continue
            armed = True
            opportunity = self._size(state, route, route.ask_a(), now_ns)
            if opportunity is not None:
                found.append(opportunity)
        state.armed = armed
        return found

    def block_when(self, keys: Container[str]) -> None:
        """Never trade a book whose key is in ``keys`` (checked live, on every opportunity)."""
        self._blocked.append(keys)

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def _tradable(self, venue: str, key: str, book: KalshiBook | TokenBook, now_ns: int) -> bool:
        age = self.config.max_book_age_ns
        if age is not None and now_ns - book.ts_ns > age:
            self._skip("age:" + venue)
            return False
        for keys in self._blocked:
            if key in keys:
                self._skip("blocked:" + venue)
                return False
        return True

    def _size(
        self, state: _PairState, route: _Route, view_a: AskView, now_ns: int
    ) -> Opportunity | None:
        if not (self._tradable(route.venue_a, route.market_a, route.book_a, now_ns)
                and self._tradable(route.venue_b, route.market_b, route.book_b, now_ns)):
            return None
        cfg = self.config
        max_size: int | None = cfg.max_contracts
        cap = state.pair.max_contracts
        if cap is not None and (max_size is None or cap < max_size):
            max_size = cap
        book_a = route.book_a
        min_size = max(book_a.min_order_size if isinstance(book_a, TokenBook) else 0,
                       route.book_b.min_order_size)
        ladder_a, ladder_b = view_a.ladder, route.book_b.asks
        memo = route.unsized
        if (memo is not None and memo[0] == min_size and memo[1] == max_size
                and memo[2] == ladder_a.version and memo[3] == ladder_b.version):
            return None  # the same books gave nothing last time: optimise_size is pure
        choice = optimise_size(
            view_a,
            route.book_b.ask_view(),
            route.fee_a,
            route.fee_b,
            hurdle=cfg.min_edge,
            lot=cfg.lot,
            min_size=min_size,
            max_size=max_size,
            budget=cfg.budget,
        )
        if choice is None:
            if self.memo_unsized:
                route.unsized = (min_size, max_size, ladder_a.version, ladder_b.version)
            return None
        route.unsized = None
        legs = (
            Leg(route.venue_a, route.market_a, route.outcome_a, choice.limit_a,
                choice.cost_a, choice.fee_a, route.book_a.ts_ns, *_rules(route.book_a)),
            Leg(route.venue_b, route.market_b, route.outcome_b, choice.limit_b,
                choice.cost_b, choice.fee_b, route.book_b.ts_ns, *_rules(route.book_b)),
        )
        return Opportunity(
            pair=state.pair.name,
            direction=route.direction,
            size=Size(choice.size),
            legs=legs,
            cost=Money(choice.cost_a + choice.cost_b),
            fees=Money(choice.fee_a + choice.fee_b),
            profit=choice.profit,
            detected_ns=now_ns,
        )
