"""The replay's compiled row loop (ADR 0174): rows to books, the gate, detection, and what it hands
back to its shell. Runs on whichever build this process imports (tests/core/test_native.py
compares the builds' replay digests; the slow pure rerun runs this file on the sources too)."""

from __future__ import annotations

from arbiter.backtest.synthetic import make_pairs
from arbiter.core.book import Outcome, Side
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.gate import GateConfig, PairGate
from arbiter.core.tape import (
    END,
    FLAGS_SHIFT,
    KIND_CLEAR,
    KIND_DELTA,
    KIND_LEVEL,
    KIND_TICK,
    MAY_IMPROVE,
    SIDE_SHIFT,
    STOP_END,
    STOP_FOUND,
    STOP_LIMIT,
    STOP_WATCHED,
    Tape,
    unpack,
)
from arbiter.core.units import SIZE_SCALE

PAIR = make_pairs(1)[0]  # KXSYN-0; tokens 70000 (YES) and 70001 (NO)
K, YES, NO, OTHER = PAIR.kalshi_ticker, PAIR.polymarket_yes_token, PAIR.polymarket_no_token, "x"
#: market ids in registration order
MK, MYES, MNO, MOTHER = 0, 1, 2, 3


def _tape(cooldown_ns: int = 0) -> tuple[Tape, Detector, PairGate]:
    det = Detector([PAIR], DetectionConfig(max_contracts=5 * SIZE_SCALE))
    gate = PairGate(GateConfig(cooldown_ns=cooldown_ns))
    tape = Tape(det, gate, 1)
    assert tape.add_market(det.kalshi_book(K), None, K, PAIR.name, 0) == MK
    assert tape.add_market(None, det.token_book(YES), YES, PAIR.name, 0) == MYES
    assert tape.add_market(None, det.token_book(NO), NO, PAIR.name, 0) == MNO
    assert tape.add_market(None, None, OTHER, "", 0) == MOTHER  # a market nobody trades
    return tape, det, gate


Row = tuple[int, int, int, int, int, int, int]  # ts, market, kind, side, price, size, flags


def _load(tape: Tape, rows: list[Row]) -> None:
    tape.load([r[0] for r in rows], [r[1] for r in rows],
              [r[2] | r[3] << SIDE_SHIFT | r[6] << FLAGS_SHIFT for r in rows],
              [r[4] for r in rows], [r[5] for r in rows])


def _window(t: int = 1, flags: int = END | MAY_IMPROVE) -> list[Row]:
    """Kalshi NO bid 0.60 (a YES ask of 0.40) and the NO token asked at 0.40: 20 cents of edge."""
    return [(t, MK, KIND_LEVEL, 1, 6000, 10 * SIZE_SCALE, flags),
            (t, MNO, KIND_LEVEL, 1, 4000, 10 * SIZE_SCALE, flags)]


def test_code_packs_kind_side_and_flags() -> None:
    for kind in (KIND_DELTA, KIND_LEVEL, KIND_CLEAR, KIND_TICK):
        for side in (0, 1):
            for flags in range(8):
                assert unpack(kind | side << SIDE_SHIFT | flags << FLAGS_SHIFT) == (kind, side, flags)


def test_rows_reach_their_books_and_a_window_is_found_at_its_detection_point() -> None:
    tape, det, _ = _tape()
    _load(tape, [(1, MOTHER, KIND_LEVEL, 0, 5000, SIZE_SCALE, END), *_window(2)])
    # the Kalshi row's detection point finds nothing (no NO-token asks yet); the token's does
    assert tape.advance(10) == STOP_FOUND
    assert tape.found_ts == 2 and tape.pos == 3
    assert det.kalshi_book(K).best_bid(Outcome.NO) == 6000
    (opp,) = [o for o in tape.found if o.direction.startswith("kalshi_yes")]
    assert opp.pair == PAIR.name and opp.size > 0 and opp.profit > 0
    assert det.token_book(NO).best_ask == 4000
    assert tape.advance(10) == STOP_END and tape.rejected == 0


def test_the_time_limit_holds_the_next_row_back() -> None:
    tape, det, _ = _tape()
    _load(tape, [(1, MYES, KIND_LEVEL, 0, 3000, SIZE_SCALE, 0),
                 (5, MYES, KIND_LEVEL, 0, 3100, SIZE_SCALE, 0)])
    assert tape.advance(4) == STOP_LIMIT and tape.pos == 1 and tape.next_ts() == 5
    assert det.token_book(YES).best_bid == 3000
    assert tape.advance(5) == STOP_END and det.token_book(YES).best_bid == 3100


def test_refused_rows_are_counted_and_the_loop_goes_on() -> None:
    tape, det, _ = _tape()
    _load(tape, [(1, MYES, KIND_LEVEL, 1, 4050, SIZE_SCALE, 0),   # off the cent grid
                 (1, MYES, KIND_DELTA, 1, 4000, SIZE_SCALE, 0),   # Polymarket levels are absolute
                 (1, MK, KIND_TICK, 0, 10, 0, 0),                 # a Kalshi grid comes with snapshots
                 (2, MYES, KIND_LEVEL, 1, 4000, SIZE_SCALE, 0),
                 (3, MYES, KIND_TICK, 0, 10, 0, 0),               # a token re-ticked to 0.001
                 (4, MYES, KIND_LEVEL, 1, 3990, SIZE_SCALE, 0),
                 (5, MK, KIND_DELTA, 0, 3000, 2 * SIZE_SCALE, 0),
                 (6, MK, KIND_CLEAR, 0, 0, 0, 0)])
    assert tape.advance(100) == STOP_END and tape.pos == 8
    assert tape.rejected == 3
    assert det.token_book(YES).best_ask == 3990 and det.token_book(YES).tick == 10
    assert det.kalshi_book(K).best_bid(Outcome.YES) is None  # the clear came last


def test_a_closed_gate_skips_detection() -> None:
    tape, _det, gate = _tape(cooldown_ns=1_000)
    _load(tape, _window(1))
    assert tape.advance(10) == STOP_FOUND
    found = tape.found[0]
    assert gate.admit(found, 1)
    _load(tape, [(2, MNO, KIND_LEVEL, 1, 3900, SIZE_SCALE, END | MAY_IMPROVE)])
    assert tape.advance(10) == STOP_END and tape.gated == 1  # busy: no detection
    gate.release(found, 2)  # cooling down until 1_002
    _load(tape, [(500, MNO, KIND_LEVEL, 1, 3800, SIZE_SCALE, END | MAY_IMPROVE),
                 (2_000, MNO, KIND_LEVEL, 1, 3700, SIZE_SCALE, END | MAY_IMPROVE)])
    assert tape.advance(3_000) == STOP_FOUND and tape.found_ts == 2_000
    assert tape.gated == 2


def test_a_watched_markets_row_goes_to_the_shell_once() -> None:
    tape, det, _ = _tape()
    tape.watch_only({MNO})
    _load(tape, _window(1))
    # the Kalshi row is applied (and finds nothing alone); the token row is the shell's
    assert tape.advance(10) == STOP_WATCHED and tape.pos == 1
    assert det.token_book(NO).best_ask is None  # the tape did not apply it
    det.token_book(NO).set_level(Side.ASK, 4000, 10 * SIZE_SCALE, 1)  # the shell does
    tape.applied = True
    assert tape.advance(10) == STOP_FOUND and tape.pos == 2  # flags still decided: found
    assert det.token_book(NO).ask_view().ladder.size_at(4000) == 10 * SIZE_SCALE  # once
    tape.unwatch(MNO)
    assert tape.watched == [False, False, False, False]
