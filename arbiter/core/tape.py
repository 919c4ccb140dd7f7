"""The replay's row loop: recorded book rows → the core books → the gate → detection, compiled.

A backtest spends most of its time here (ADR 0174): one pass per recorded row, applying it to
its book, and at the end of each run of rows (one market, one instant) deciding whether the
pair must be looked at again: not while the pair gate holds it closed (ADR 0150), not while the
pair is *quiet* (its best asks were all at or above the limit last time and no row since made
one better, ADR 0152). This module is that loop and nothing else - no clock, no asyncio, no
exchange - so it can sit in the compiled hot core with the books, the gate and the detector it
calls (:data:`arbiter.core.native.HOT_MODULES`), where those calls are direct C calls and the
rows are unboxed machine integers. :class:`~arbiter.backtest.replay.Replayer` is the shell:
it feeds the tape one chunk of columns at a time and handles what the tape hands back (an
opportunity, a row the simulated exchange follows, the time limit, the chunk's end).

Results are the same in both builds and the same as the loop this replaced (the replay's
digests are tested against both, tests/backtest/test_tape.py).
"""

from __future__ import annotations

from typing import Final

from arbiter.core.book import BookError, KalshiBook, Ladder, Outcome, Side, TokenBook
from arbiter.core.detection import Detector, Opportunity
from arbiter.core.gate import PairGate

__all__ = [
    "END",
    "FLAGS_SHIFT",
    "KIND_CLEAR",
    "KIND_DELTA",
    "KIND_LEVEL",
    "KIND_TICK",
    "KIND_TRADE",
    "MAY_IMPROVE",
    "RETICK",
    "SIDE_SHIFT",
    "STOP_END",
    "STOP_FOUND",
    "STOP_LIMIT",
    "STOP_WATCHED",
    "Tape",
    "unpack",
]

#: row kinds (the event store's ``kind`` column, :mod:`arbiter.backtest.events`): a Kalshi size
#: delta, an absolute level size, a whole-book clear, a trade print, a tick-size change
KIND_DELTA: Final = 0
KIND_LEVEL: Final = 1
KIND_CLEAR: Final = 2
KIND_TRADE: Final = 3
KIND_TICK: Final = 4

#: row flags, computed per chunk by the replay: the row ends a run (a detection point); the row
#: adds ask-side size, so it may have made a better best ask; the row re-ticks a book
END: Final = 1
MAY_IMPROVE: Final = 2
RETICK: Final = 4
#: a row's kind, side (0/1) and flags travel as one small int, ``kind | side << 3 | flags << 4``
#: (the replay packs its numpy columns so; :func:`unpack` reads one back): one column read per
#: row instead of three
SIDE_SHIFT: Final = 3
FLAGS_SHIFT: Final = 4

#: why :meth:`Tape.advance` returned
STOP_END: Final = 0      # every loaded row is applied: load the next chunk
STOP_LIMIT: Final = 1    # the next row is later than the limit (``pos`` is that row)
STOP_FOUND: Final = 2    # detection found something (:attr:`Tape.found`, at :attr:`Tape.found_ts`)
STOP_WATCHED: Final = 3  # ``pos`` is a row of a watched market: the shell applies it first

_OUTCOMES: Final = (Outcome.YES, Outcome.NO)
_SIDES: Final = (Side.BID, Side.ASK)
#: what a market id's book is
_NO_BOOK: Final = 0
_KALSHI_BOOK: Final = 1
_TOKEN_BOOK: Final = 2


def unpack(code: int) -> tuple[int, int, int]:
    """``(kind, side, flags)`` of a code column value."""
    return code & 7, (code >> SIDE_SHIFT) & 1, code >> FLAGS_SHIFT


class Tape:
    """Per-market tables (grown as the stream names markets) and the loaded chunk's rows."""

    def __init__(self, detector: Detector, gate: PairGate, pairs: int) -> None:
        self.detector = detector
        self.gate = gate
        # per market id
        self.book_kind: list[int] = []
        self.kalshi_books: list[KalshiBook | None] = []
        self.token_books: list[TokenBook | None] = []
        self.names: list[str] = []
        self.pair_of: list[str] = []
        self.pid_of: list[int] = []
        #: the ladders whose best level is an ask of some route, by the row's side: a token's
        #: bids and asks (only asks matter); both Kalshi bid ladders (a YES bid is a NO ask)
        self.ask_ladders: list[tuple[Ladder, Ladder] | None] = []
        #: per market id: the simulated exchange must see its rows (the shell applies those)
        self.watched: list[bool] = []
        # per pair: quiet (see the module doc) and dirty (a row may have improved an ask since)
        self.quiet: list[bool] = [False] * pairs
        self.dirty: list[bool] = [True] * pairs
        # the loaded chunk, one list per column
        self.ts: list[int] = []
        self.market: list[int] = []
        self.code: list[int] = []
        self.price: list[int] = []
        self.size: list[int] = []
        self.pos = 0
        self.n = 0
        #: the row at ``pos`` was applied by the shell (a watched market's row)
        self.applied = False
        self.found: list[Opportunity] = []
        self.found_ts = 0
        #: rows a book refused (off the grid, crossing, a kind the book has no use for)
        self.rejected = 0
        #: detection points skipped because the gate held the pair closed
        self.gated = 0

    def add_market(self, kalshi_book: KalshiBook | None, token_book: TokenBook | None,
                   name: str, pair: str, pid: int) -> int:
        """Register the next market id; returns it. Neither book: a market nobody trades."""
        mid = len(self.names)
        self.book_kind.append(_KALSHI_BOOK if kalshi_book is not None
                              else _TOKEN_BOOK if token_book is not None else _NO_BOOK)
        self.watched.append(False)
        self.kalshi_books.append(kalshi_book)
        self.token_books.append(token_book)
        self.names.append(name)
        self.pair_of.append(pair)
        self.pid_of.append(pid)
        if kalshi_book is not None:
            self.ask_ladders.append((kalshi_book.yes_bids, kalshi_book.no_bids))
        elif token_book is not None:
            self.ask_ladders.append((token_book.bids, token_book.asks))
        else:
            self.ask_ladders.append(None)
        return mid

    def watch_only(self, mids: set[int]) -> None:
        """The markets the simulated exchange follows now (all others unwatched)."""
        watched = self.watched
        for m in range(len(watched)):
            watched[m] = m in mids

    def unwatch(self, mid: int) -> None:
        self.watched[mid] = False

    def load(self, ts: list[int], market: list[int], code: list[int], price: list[int],
             size: list[int]) -> None:
        """The next chunk's columns (equal lengths, complete runs only; ``code``: see :data:`SIDE_SHIFT`)."""
        self.ts, self.market, self.code, self.price, self.size = ts, market, code, price, size
        self.pos = 0
        self.n = len(ts)
        self.applied = False

    def next_ts(self) -> int:
        """Time of the row at ``pos`` (the caller checks ``pos < n``)."""
        return self.ts[self.pos]

    def advance(self, limit: int) -> int:
        """Apply rows with ``ts <= limit`` until one of the ``STOP_*`` reasons."""
        ts, market, code_col = self.ts, self.market, self.code
        price_col, size_col = self.price, self.size
        book_kind, kalshi_books, token_books = self.book_kind, self.kalshi_books, self.token_books
        names, pair_of, pid_of, ask_ladders = self.names, self.pair_of, self.pid_of, self.ask_ladders
        quiet, dirty, watched = self.quiet, self.dirty, self.watched
        det, gate = self.detector, self.gate
        n = self.n
        i = self.pos
        rejected = 0
        gated = 0
        stop = STOP_END
        while i < n:
            t = ts[i]
            if t > limit:
                stop = STOP_LIMIT
                break
            m = market[i]
            bk = book_kind[m]
            if bk == _NO_BOOK:
                i += 1
                continue
            code = code_col[i]
            k = code & 7
            side = (code >> SIDE_SHIFT) & 1
            price = price_col[i]
            if self.applied:
                self.applied = False
            elif watched[m]:
                stop = STOP_WATCHED
                break
            elif bk == _KALSHI_BOOK:
                kb = kalshi_books[m]
                assert kb is not None
                try:
                    if k == KIND_LEVEL:
                        kb.set_level(_OUTCOMES[side], price, size_col[i], t)
                    elif k == KIND_DELTA:
                        kb.apply_delta(_OUTCOMES[side], price, size_col[i], t)
                    elif k == KIND_CLEAR:
                        kb.apply_snapshot((), (), t)
                    elif k == KIND_TICK:
                        rejected += 1  # a Kalshi book's grid comes with its snapshot
                except BookError:
                    rejected += 1
            else:
                tb = token_books[m]
                assert tb is not None
                try:
                    if k == KIND_LEVEL:
                        tb.set_level(_SIDES[side], price, size_col[i], t)
                    elif k == KIND_CLEAR:
                        tb.apply_snapshot((), (), t)
                    elif k == KIND_TICK:
                        tb.set_tick(price, t)
                    elif k == KIND_DELTA:
                        rejected += 1  # Polymarket levels are absolute sizes
                except BookError:
                    rejected += 1
            i += 1
            flags = code >> FLAGS_SHIFT
            if not flags:
                continue
            if flags & (MAY_IMPROVE | RETICK):
                pid = pid_of[m]
                if quiet[pid] and not dirty[pid]:  # else the next detection point runs anyway
                    if flags & RETICK:
                        dirty[pid] = True
                    else:
                        ladders = ask_ladders[m]
                        if ladders is not None:
                            ladder = ladders[side]
                            if ladder.best * ladder.tick == price:  # the row's level is best now
                                dirty[pid] = True
            if flags & END:
                pid = pid_of[m]
                if quiet[pid] and not dirty[pid]:
                    continue  # asks only got worse since nothing was found: nothing to find
                if gate.closed(pair_of[m], t):
                    gated += 1
                    continue
                dirty[pid] = False
                name = names[m]
                found = det.on_kalshi(name, t) if bk == _KALSHI_BOOK else det.on_token(name, t)
                quiet[pid] = det.quiet(name)
                if found:
                    self.found = found
                    self.found_ts = t
                    stop = STOP_FOUND
                    break
        self.pos = i
        self.rejected += rejected
        self.gated += gated
        return stop
