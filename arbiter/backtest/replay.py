"""Deterministic replay: recorded events → the live book/detection/risk/saga objects → results.

The live engine's objects run unchanged: core :class:`~arbiter.core.detection.Detector` (its own
book cache is what the events update), the engine's :class:`~arbiter.execution.risk_manager.
RiskManager` over core :class:`~arbiter.core.risk.RiskBook`, and the engine's
:class:`~arbiter.execution.executor.SagaExecutor` driving the core saga with a journal. Only the
venue clients (:class:`~arbiter.backtest.sim_exchange.SimExchange`) and the clock
(:class:`~arbiter.backtest.clock.SimClock`) are swapped.

The event loop is two-speed. The hot path is the core's compiled row loop
(:class:`~arbiter.core.tape.Tape`, ADR 0174) over Python lists made from the numpy columns one
chunk at a time (the events may be one batch or a stream of batches of any length: memory does
not grow with it, ADR 0151): apply the row to its book, and when a run of rows for one market at
one instant ends, run detection on that market's pair only - unless the engine's pair gate holds
the pair closed (ADR 0150) or the pair is quiet, its best asks all at or above the limit last
time and none better since (ADR 0152). Rows of markets the simulated exchange follows come back
here (:meth:`Replayer._watched_row`). Only when detection finds something, or a timer
of the execution path is due, does control pass to asyncio, which runs the sagas until each one
sleeps on the simulated clock again. Determinism: no wall clock, no unseeded randomness, a fresh
event loop per run, saga ids from a seed-derived journal token; the result serialises to
canonical JSON, so same inputs + same seed → byte-identical output (tested).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from arbiter.backtest.clock import SimClock
from arbiter.backtest.events import (
    KIND_CLEAR,
    KIND_DELTA,
    KIND_LEVEL,
    KIND_TICK,
    KIND_TRADE,
    POLYMARKET,
    EventBatch,
)
from arbiter.backtest.sim_exchange import QueueModel, SimExchange, fee_maps, latency_from_spec
from arbiter.core.book import BookError, KalshiBook, Outcome, Side, TokenBook
from arbiter.core.detection import DetectionConfig, Detector, Leg, Opportunity
from arbiter.core.gate import GateConfig, PairGate, best_first
from arbiter.core.hedge import HedgeConfig
from arbiter.core.pairs import Pair
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Role, Saga, SagaPolicy
from arbiter.core.tape import (
    END,
    FLAGS_SHIFT,
    MAY_IMPROVE,
    RETICK,
    SIDE_SHIFT,
    STOP_FOUND,
    STOP_LIMIT,
    STOP_WATCHED,
    Tape,
    unpack,
)
from arbiter.core.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE, Money, Price, Size
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.risk_manager import RiskManager

__all__ = ["DEFAULT_CHUNK_ROWS", "BacktestParams", "BacktestResult", "Replayer", "run_backtest"]

#: rows turned into Python objects at a time: ~25 MB of tuples, whatever the stream's length
DEFAULT_CHUNK_ROWS = 1 << 17
#: one chunk's columns as the row loop takes them: ts, market id, code (kind, side and flags:
#: ``kind | side << SIDE_SHIFT | flags << FLAGS_SHIFT``), price, size
_Columns = tuple[list[int], list[int], list[int], list[int], list[int]]

_OUTCOMES = (Outcome.YES, Outcome.NO)
_SIDES = (Side.BID, Side.ASK)
#: "no deadline": later than any timestamp, and a short int for the compiled row loop (mypyc
#: keeps ints below 2**62 unboxed; 2**62 itself would make every row's time check a slow path)
_FAR = 2**62 - 1
#: the executor's timeouts are wall-clock (asyncio); a replay must never hit them, because wall
#: time passing says nothing about simulated time (a simulated venue always answers)
_NO_WALL_TIMEOUTS = ExecutorConfig(order_timeout_s=1e9, query_timeout_s=1e9, resolve_timeout_s=1e9)
LEG_ORDERS = {"poly_first": ("polymarket", "kalshi"), "kalshi_first": ("kalshi", "polymarket"),
              "thinner_first": ("polymarket", "kalshi")}


@dataclass(frozen=True, slots=True)
class BacktestParams:
    """Strategy, risk and simulation knobs a sweep varies (core units unless named otherwise)."""

    #: minimum profit per contract after fees, price units ($0.0001)
    min_edge: int = 100
    max_contracts: int = 50
    #: how far (price units) each leg may fill beyond the detected limit; also the hedge bound
    max_slippage: int = 0
    leg_order: str = "poly_first"
    latency_kalshi: str = "fixed:30"
    latency_polymarket: str = "fixed:60"
    queue_model: str = "fifo"
    #: starting cash per venue, whole dollars
    cash: int = 10_000
    max_open_sagas: int = 4
    #: daily loss limit, whole dollars (0 = none)
    max_daily_loss: int = 0
    #: after a saga on a pair ends, the pair's gate stays closed this long (ms; ADR 0150)
    cooldown_ms: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value, want = getattr(self, f.name), type(f.default)
            if isinstance(value, bool) or not isinstance(value, want):
                raise ValueError(f"parameter {f.name} must be {want.__name__}, got {value!r}")
        if self.leg_order not in LEG_ORDERS:
            raise ValueError(f"leg_order must be one of {sorted(LEG_ORDERS)}, got {self.leg_order!r}")
        QueueModel(self.queue_model)
        latency_from_spec(self.latency_kalshi, "kalshi")
        latency_from_spec(self.latency_polymarket, "polymarket")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BacktestParams:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown backtest parameter {unknown[0]!r}")
        return cls(**dict(d))


@dataclass(slots=True)
class BacktestResult:
    params: dict[str, Any]
    events: int
    rejected_updates: int
    start_ns: int
    end_ns: int
    initial_equity: int
    opportunities: int = 0
    #: opportunities the pair gate refused at admission (pair busy, cooling, max open sagas)
    skipped_busy: int = 0
    #: detections not run because the pair's gate was closed (nothing could be admitted there)
    gated: int = 0
    risk_rejected: dict[str, int] = field(default_factory=dict)
    sagas: list[dict[str, Any]] = field(default_factory=list)
    equity: list[tuple[int, int]] = field(default_factory=list)
    orders: int = 0
    requested_size: int = 0
    filled_size: int = 0
    fills: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params, "events": self.events, "rejected_updates": self.rejected_updates,
            "start_ns": self.start_ns, "end_ns": self.end_ns, "initial_equity": self.initial_equity,
            "opportunities": self.opportunities, "skipped_busy": self.skipped_busy,
            "gated": self.gated,
            "risk_rejected": dict(sorted(self.risk_rejected.items())), "sagas": self.sagas,
            "equity": [list(e) for e in self.equity], "orders": self.orders,
            "requested_size": self.requested_size, "filled_size": self.filled_size,
            "fills": self.fills, "decisions": self.decisions,
        }

    def to_json(self) -> bytes:
        """Canonical bytes: the determinism contract is stated on these."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BacktestResult:
        r = cls(d["params"], d["events"], d["rejected_updates"], d["start_ns"], d["end_ns"],
                d["initial_equity"])
        r.opportunities, r.skipped_busy = d["opportunities"], d["skipped_busy"]
        r.gated = int(d.get("gated", 0))
        r.risk_rejected = dict(d["risk_rejected"])
        r.sagas, r.fills, r.decisions = list(d["sagas"]), list(d["fills"]), list(d["decisions"])
        r.equity = [(int(a), int(b)) for a, b in d["equity"]]
        r.orders, r.requested_size, r.filled_size = d["orders"], d["requested_size"], d["filled_size"]
        return r


class Replayer:
    """One backtest over one event batch; :meth:`run` may be called once."""

    def __init__(self, pairs: Sequence[Pair], events: EventBatch | Iterable[EventBatch],
                 params: BacktestParams, journal_path: str = ":memory:",
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        """``events``: one batch, or batches in replay order (e.g. :meth:`EventStore.batches`),
        each with its own market table. Either way the rows are turned into Python objects one
        chunk of ``chunk_rows`` at a time, so memory does not grow with the number of events;
        the result does not depend on how the rows are chunked (tested)."""
        self.pairs = list(pairs)
        self.params = params
        p = params
        self.detector = Detector(self.pairs, DetectionConfig(
            min_edge=p.min_edge, max_contracts=Size(p.max_contracts * SIZE_SCALE)))
        chunks = iter(_slices(events, chunk_rows) if isinstance(events, EventBatch) else events)
        first = next((c for c in chunks if len(c)), None)
        start = int(first.ts_ns[0]) if first is not None else 0
        self.clock = SimClock(start)
        kfees, pfees = fee_maps(self.pairs)
        cash = Money(p.cash * MONEY_SCALE)
        det = self.detector
        self.exchanges: dict[str, SimExchange] = {
            "kalshi": SimExchange(
                "kalshi", det.kalshi_book, self.clock,
                latency=latency_from_spec(p.latency_kalshi, "kalshi"),
                queue_model=QueueModel(p.queue_model),
                taker_fees=kfees, cash=cash, seed=p.seed),
            "polymarket": SimExchange(
                "polymarket", det.token_book, self.clock,
                latency=latency_from_spec(p.latency_polymarket, "polymarket"),
                queue_model=QueueModel(p.queue_model), taker_fees=pfees, cash=cash, seed=p.seed),
        }
        self.journal = Journal(journal_path, synchronous="NORMAL")
        self.journal.token = f"bt{p.seed % 10**12:04d}"[:16]
        by_name = {pair.name: pair for pair in self.pairs}
        limits = RiskLimits(
            max_open_sagas=p.max_open_sagas, min_edge=p.min_edge,
            max_daily_loss=p.max_daily_loss * MONEY_SCALE if p.max_daily_loss else None,
            slippage_reserve=p.max_slippage,
        )
        self.risk = RiskManager(RiskBook(limits), self.exchanges, by_name, self.journal,
                                clock=self.clock.time_ns)
        hedge = HedgeConfig(max_slippage=max(p.max_slippage, 100),
                            max_unwind_slippage=max(4 * p.max_slippage, 1000))
        policy = SagaPolicy(first_venues=LEG_ORDERS[p.leg_order],
                            lots={"kalshi": SIZE_SCALE, "polymarket": SIZE_SCALE}, hedge=hedge)
        self.executor = SagaExecutor(self.journal, self.exchanges, by_name, risk=self.risk,
                                     policy=policy, clock=self.clock.time_ns, quotes=self._quotes,
                                     config=_NO_WALL_TIMEOUTS)
        #: the engine's own per-pair gate, asked before detection (ADR 0150)
        self.gate = PairGate(GateConfig(max_open_sagas=p.max_open_sagas,
                                        cooldown_ns=p.cooldown_ms * 1_000_000))
        self.result = BacktestResult(p.to_dict(), 0, 0, start, start, 2 * cash)
        self._equity = 2 * cash
        self.result.equity.append((start, self._equity))
        self._pnl_cum = 0
        # per-market tables, indexed by a global market id, grown as the stream names markets;
        # the row loop itself (books → gate → detection) is the compiled core's (ADR 0174)
        # (names, books and ladders per id are the tape's own tables)
        self._ids: dict[str, int] = {}
        self._pair_ids = {pair.name: i for i, pair in enumerate(self.pairs)}
        self._pair_names = {key: pair.name for pair in self.pairs for key in (
            pair.kalshi_ticker, pair.polymarket_yes_token, pair.polymarket_no_token)}
        self.tape = Tape(self.detector, self.gate, len(self.pairs))
        self._watched_names: set[str] = set()
        self._watched_rejected = 0
        self._last_ts = start
        stream = itertools.chain(() if first is None else (first,), chunks)
        self._chunks: Iterator[_Columns] = self._chunk_rows(stream)
        self._done = first is None

    # -- setup ------------------------------------------------------------------------------
    def _register(self, name: str, venue: int) -> int:
        """A global id for a market name first seen in the stream (per-market tables grow)."""
        mid = self._ids.get(name)
        if mid is not None:
            return mid
        det = self.detector
        token = det.token_book(name) if venue == POLYMARKET and det.tracks_token(name) else None
        kalshi = det.kalshi_book(name) if venue != POLYMARKET and det.tracks_kalshi(name) else None
        pair = self._pair_names.get(name, "")
        mid = self._ids[name] = self.tape.add_market(kalshi, token, name, pair,
                                                     self._pair_ids.get(pair, 0))
        if name in self._watched_names:
            self.tape.watched[mid] = True
        return mid

    def _globalize(self, chunk: EventBatch) -> npt.NDArray[np.int32]:
        """The chunk's market column as global ids (each chunk carries its own market table)."""
        k = max(1, len(chunk.markets))
        local = np.zeros(k, dtype=np.int32)
        # some row of each local id present, in one pass (no sort; which row numpy keeps for a
        # repeated index is unspecified, and does not matter: every row of a market carries
        # that market's venue)
        row = np.full(k, -1, dtype=np.int64)
        row[chunk.market] = np.arange(len(chunk))
        venues = chunk.venue
        for m in np.flatnonzero(row >= 0).tolist():
            local[m] = self._register(chunk.markets[m], int(venues[row[m]]))
        return local[chunk.market]

    def _chunk_rows(self, chunks: Iterator[EventBatch]) -> Iterator[_Columns]:
        """Each chunk's columns as Python lists, made one chunk at a time (bounded memory).

        A row ends a run when the next row is another market or another instant: detection
        runs once per run (a snapshot or a requote is one atomic change of a book). The last run
        of a chunk may continue in the next one, so it is carried over and decided there.
        """
        carry: tuple[npt.NDArray[Any], ...] | None = None
        for chunk in chunks:
            if not len(chunk):
                continue
            cols: tuple[npt.NDArray[Any], ...] = (
                chunk.ts_ns, self._globalize(chunk), chunk.venue, chunk.kind, chunk.side,
                chunk.price, chunk.size)
            if carry is not None:
                cols = tuple(np.concatenate((a, b)) for a, b in zip(carry, cols, strict=True))
            ts, market = cols[0], cols[1]
            starts = np.flatnonzero(np.concatenate((
                [True], (ts[1:] != ts[:-1]) | (market[1:] != market[:-1]))))
            cut = int(starts[-1])
            carry = tuple(c[cut:] for c in cols)
            if cut:
                yield self._rows_of(tuple(c[:cut] for c in cols), starts[:-1], cut)
        if carry is not None:
            yield self._rows_of(carry, np.zeros(1, dtype=np.int64), len(carry[0]))

    def _rows_of(self, cols: tuple[npt.NDArray[Any], ...], starts: npt.NDArray[Any], n: int
                 ) -> _Columns:
        """Columns of complete runs, with their flags; ``starts`` are the runs' first rows."""
        ts, market, venue, kind, side, price, size = cols
        # detection only buys, so only rows that can move an ask matter: every Kalshi row (its
        # asks are the other outcome's bids), Polymarket asks, clears and tick changes; a run of
        # Polymarket bid changes or trade prints cannot create or change an opportunity
        ends = np.concatenate((starts[1:] - 1, [n - 1]))
        moves_ask = ((venue != POLYMARKET) | (side == 1) | (kind == KIND_CLEAR)
                     | (kind == KIND_TICK)) & (kind != KIND_TRADE)
        flags = np.zeros(n, dtype=np.int64)
        flags[ends[np.logical_or.reduceat(moves_ask, starts)]] = END
        # only added size can make a best ask better; removals, cuts and clears make asks worse,
        # which cannot turn a pair whose best asks were all at or above the limit into a find
        adds = (((kind == KIND_LEVEL) | (kind == KIND_DELTA)) & (size > 0)
                & ((venue != POLYMARKET) | (side == 1)))
        flags[adds] |= MAY_IMPROVE
        flags[kind == KIND_TICK] |= RETICK
        self.result.events += n
        self._last_ts = int(ts[-1])
        code = (kind.astype(np.int64) | (side.astype(np.int64) << SIDE_SHIFT)
                | (flags << FLAGS_SHIFT))
        return ts.tolist(), market.tolist(), code.tolist(), price.tolist(), size.tolist()

    # -- hot loop ---------------------------------------------------------------------------
    def _loaded(self) -> bool:
        """True when the tape holds an unapplied row (the next chunk is loaded if need be)."""
        tape = self.tape
        while tape.pos >= tape.n:
            if self._done:
                return False
            cols = next(self._chunks, None)
            if cols is None:
                self._done = True
                return False
            tape.load(*cols)
        return True

    def _next_ts(self) -> int | None:
        """Time of the next unprocessed row, or None at the end."""
        return self.tape.next_ts() if self._loaded() else None

    def _advance(self, limit: int) -> list[Opportunity]:
        """Apply rows with ``ts <= limit``; stop early after a detection that found something."""
        tape = self.tape
        try:
            while self._loaded():
                stop = tape.advance(limit)
                if stop == STOP_FOUND:
                    self.clock.advance(tape.found_ts)
                    return tape.found
                if stop == STOP_LIMIT:
                    return []
                if stop == STOP_WATCHED:
                    self._watched_row(tape.pos)
                    tape.applied = True
            return []
        finally:
            self.result.rejected_updates = tape.rejected + self._watched_rejected
            self.result.gated = tape.gated

    def _watched_row(self, i: int) -> None:
        """Row ``i`` of the tape is for a market the simulated exchange follows: apply it to
        its book and tell the exchange what changed."""
        tape = self.tape
        t, m, price, size = tape.ts[i], tape.market[i], tape.price[i], tape.size[i]
        k, side, _flags = unpack(tape.code[i])
        kb, tb = tape.kalshi_books[m], tape.token_books[m]
        book: KalshiBook | TokenBook | None = kb if kb is not None else tb
        ladders = tape.ask_ladders[m]  # a Kalshi book's bid ladders, a token's bids and asks
        assert book is not None and ladders is not None
        name = tape.names[m]
        exchange = self.exchanges["kalshi" if kb is not None else "polymarket"]
        self.clock.advance(t)
        if k == KIND_TRADE:
            exchange.on_trade(name, side, price, size)
            return
        if k in (KIND_DELTA, KIND_LEVEL):
            ladder = ladders[side]
            try:
                old = ladder.size_at(price)
                if isinstance(book, KalshiBook):
                    if k == KIND_DELTA:
                        book.apply_delta(_OUTCOMES[side], price, size, t)
                    else:
                        book.set_level(_OUTCOMES[side], price, size, t)
                else:
                    book.set_level(_SIDES[side], price, size, t)
            except BookError:
                self._watched_rejected += 1
                return
            new = ladder.size_at(price)
            if old != new:
                exchange.on_level(name, side, price, old, new)
        else:
            before = {(s, p): sz for s, lad in enumerate(ladders) for p, sz in lad}
            try:
                if k == KIND_CLEAR:
                    book.apply_snapshot((), (), t)
                elif k == KIND_TICK and isinstance(book, TokenBook):
                    book.set_tick(price, t)
            except BookError:
                self._watched_rejected += 1
                return
            after = {(s, p): sz for s, lad in enumerate(ladders) for p, sz in lad}
            for key in sorted(before.keys() | after.keys()):
                old, new = before.get(key, 0), after.get(key, 0)
                if old != new:
                    exchange.on_level(name, key[0], key[1], old, new)
        if name not in exchange.watched:
            self.tape.unwatch(m)

    def _sync_watched(self) -> None:
        ids = self._ids
        self._watched_names = {m for ex in self.exchanges.values() for m in ex.watched}
        self.tape.watch_only({ids[m] for m in self._watched_names if m in ids})

    # -- execution --------------------------------------------------------------------------
    async def _quotes(self, venue: str, market: str, outcome: Outcome
                      ) -> tuple[int | None, int | None] | None:
        det = self.detector
        if venue == "kalshi":
            if not det.tracks_kalshi(market):
                return None
            kb = det.kalshi_book(market)
            return kb.best_bid(outcome), kb.best_ask(outcome)
        if not det.tracks_token(market):
            return None
        tb = det.token_book(market)
        return tb.best_bid, tb.best_ask

    def _consider(self, opp: Opportunity, now: int) -> None:
        self.result.opportunities += 1
        if not self.gate.admit(opp, now):
            self.result.skipped_busy += 1
            return
        self.clock.spawn(self._execute(opp))

    def _with_slippage(self, opp: Opportunity) -> Opportunity:
        slip = self.params.max_slippage
        if not slip:
            return opp
        legs = tuple(
            replace(leg, limit_price=Price(min(leg.limit_price + slip, PRICE_SCALE - 100)))
            for leg in opp.legs
        )
        return replace(opp, legs=(legs[0], legs[1]))

    def _depth(self, opp: Opportunity) -> dict[str, int] | None:
        if self.params.leg_order != "thinner_first":
            return None
        depth: dict[str, int] = {}
        for leg in opp.legs:
            depth[leg.market] = self._depth_at(leg)
        return depth

    def _depth_at(self, leg: Leg) -> int:
        det = self.detector
        if leg.venue == "kalshi":
            view = det.kalshi_book(leg.market).asks(leg.outcome)
        else:
            view = det.token_book(leg.market).ask_view()
        return sum(size for price, size in view if price <= leg.limit_price)

    async def _execute(self, opp: Opportunity) -> None:
        try:
            result = await self.executor.submit(self._with_slippage(opp), self._depth(opp))
            now = self.clock.time_ns()
            decision = result.risk
            action = "started" if result.saga is not None else "rejected"
            reason = "" if decision is None or decision.reason is None else decision.reason.value
            if result.saga is None and reason:
                self.result.risk_rejected[reason] = self.result.risk_rejected.get(reason, 0) + 1
            self.result.decisions.append({
                "ts_ns": opp.detected_ns, "pair": opp.pair, "direction": opp.direction,
                "size": opp.size, "expected_profit": opp.profit, "action": action,
                "reason": reason, "saga_id": result.saga.saga_id if result.saga else None,
            })
            if result.saga is not None:
                self._record_saga(result.saga, opp, now)
            for venue, ex in self.exchanges.items():
                self.risk.book.set_balance(venue, int(ex.cash))
        finally:
            self.gate.release(opp, self.clock.time_ns())

    def _record_saga(self, saga: Saga, opp: Opportunity, now: int) -> None:
        plan = saga.plan
        finished = saga.finished
        pnl = finished.pnl if finished is not None else int(saga.pnl())
        second = saga.leg2
        expected_leg = next(
            (leg for leg in opp.legs if leg.market == plan.second.market), opp.legs[1]
        )
        slippage = 0
        if second is not None and second.final is not None and second.final.filled:
            slippage = second.final.cost - second.final.filled * expected_leg.cost // opp.size
        hedge_orders = [o for o in saga.orders.values() if o.intent.role in (Role.COMPLETE, Role.UNWIND)]
        fees = sum(o.final.fees for o in saga.orders.values() if o.final is not None)
        cost = sum(o.final.cost for o in saga.orders.values()
                   if o.final is not None and o.intent.action == "buy")
        held = saga.held_first()
        expected_scaled = opp.profit * held // opp.size if opp.size else 0
        self._pnl_cum += pnl
        self._equity = self.result.initial_equity + self._pnl_cum
        self.result.equity.append((now, self._equity))
        self.result.sagas.append({
            "saga_id": saga.saga_id, "pair": plan.pair, "direction": plan.direction,
            "detected_ns": plan.detected_ns, "finished_ns": now, "size": plan.size,
            "first_venue": plan.first.venue, "leg1_filled": saga.leg1.filled if saga.leg1 else 0,
            "leg2_filled": saga.held_second(), "expected_profit": opp.profit, "pnl": pnl,
            "ending": saga.ending.value if saga.ending else "open", "fees": fees, "cost": cost,
            "hedge_orders": len(hedge_orders),
            "hedge_cost": (expected_scaled - pnl) if hedge_orders else 0,
            "leg2_slippage": slippage, "residual": saga.residual(),
        })

    # -- driver -----------------------------------------------------------------------------
    async def _run(self) -> BacktestResult:
        clock = self.clock
        await self.risk.refresh_balances()
        while True:
            deadline = clock.next_deadline()
            found = self._advance(_FAR if deadline is None else deadline)
            if found:
                now = clock.time_ns()
                for opp in best_first(found):
                    self._consider(opp, now)
                await clock.settle()
                self._sync_watched()
                continue
            nxt = self._next_ts()
            if deadline is not None and (nxt is None or nxt > deadline):
                clock.fire_due()
                await clock.settle()
                self._sync_watched()
                continue
            if nxt is None:
                break
        while clock.live and clock.next_deadline() is not None:
            clock.fire_due()
            await clock.settle()
        return self._finish()

    def _finish(self) -> BacktestResult:
        r = self.result
        r.end_ns = max(self._last_ts, self.clock.time_ns())
        r.equity.append((r.end_ns, self._equity))
        for ex in self.exchanges.values():
            r.orders += ex.requests
            r.requested_size += ex.requested_size
            r.filled_size += ex.filled_size()
            for f in ex.fill_log:
                r.fills.append({
                    "ts_ns": f.ts_ms * 1_000_000, "venue": f.venue, "market": f.market,
                    "outcome": f.outcome.value, "action": f.action.value, "price": int(f.price),
                    "size": int(f.size), "fee": int(f.fee), "order_id": f.order_id,
                    "client_order_id": f.client_order_id, "is_taker": int(f.is_taker),
                })
        r.fills.sort(key=lambda f: (f["ts_ns"], f["venue"], f["order_id"]))
        self.journal.close()
        return r

    def run(self) -> BacktestResult:
        """Run on a fresh event loop (the deterministic default)."""
        return asyncio.run(self._run())

    async def run_async(self) -> BacktestResult:
        """Run inside an already running loop; other tasks on it must not use the sim clock."""
        return await self._run()


def run_backtest(pairs: Sequence[Pair], events: EventBatch | Iterable[EventBatch],
                 params: BacktestParams) -> BacktestResult:
    return Replayer(pairs, events, params).run()


def _slices(events: EventBatch, rows: int) -> Iterator[EventBatch]:
    """One batch as consecutive chunks of ``rows`` (views of its columns, no copies)."""
    if rows <= 0:
        raise ValueError(f"chunk_rows must be positive, got {rows}")
    for i in range(0, len(events), rows):
        yield events.take(slice(i, i + rows))

