"""Detector.quiet: whether the last evaluation saw every route's best asks at the limit or above."""

from __future__ import annotations

from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.pairs import parse_pairs
from arbiter.core.units import ONE_CONTRACT
from tests.pure_core import rerun_on_pure_sources

PAIRS = parse_pairs(
    '[[pair]]\nname = "p"\nkalshi_ticker = "KX-1"\npolymarket_yes_token = "111"\n'
    'polymarket_no_token = "222"\npolymarket_fee_rate = "0"\npolymarket_fee_exponent = 1\n'
    'polymarket_min_order_size = "0"\n', "pairs")
C = 100


def test_quiet_only_after_an_evaluation_with_no_route_below_the_limit() -> None:
    det = Detector(PAIRS, DetectionConfig(min_edge=100))
    assert not det.quiet("KX-1")  # never evaluated: unknown, so not quiet
    kb, no = det.kalshi_book("KX-1"), det.token_book("222")
    kb.apply_snapshot(yes=[], no=[(40 * C, 10 * ONE_CONTRACT)], ts_ns=1)  # YES ask 0.60
    no.apply_snapshot(bids=[], asks=[(45 * C, 10 * ONE_CONTRACT)], ts_ns=1)
    assert det.on_kalshi("KX-1", 2) == [] and det.quiet("KX-1") and det.quiet("222")
    no.apply_snapshot(bids=[], asks=[(35 * C, 10 * ONE_CONTRACT)], ts_ns=3)
    found = det.on_token("222", 4)  # 0.60 + 0.35 < 0.99: a route is below the limit
    assert found and not det.quiet("KX-1")
    det.halt("KX-1", "closed")
    assert det.on_kalshi("KX-1", 5) == [] and not det.quiet("KX-1")  # halted is not quiet
    assert not det.quiet("unknown")


def test_an_unsized_route_is_searched_again_only_when_its_ladders_change() -> None:
    """Best asks pass the first test, but the 5-contract minimum cannot be met: the search is
    skipped while the ladders are unchanged, and re-run (and finds it) once depth arrives."""
    if rerun_on_pure_sources(
            __file__, "test_an_unsized_route_is_searched_again_only_when_its_ladders_change"):
        return
    import arbiter.core.detection as detection

    pairs = parse_pairs(
        '[[pair]]\nname = "p"\nkalshi_ticker = "KX-1"\npolymarket_yes_token = "111"\n'
        'polymarket_no_token = "222"\npolymarket_fee_rate = "0"\npolymarket_fee_exponent = 1\n'
        'polymarket_min_order_size = "5"\n', "pairs")
    det = Detector(pairs, DetectionConfig(min_edge=100))
    searches = []
    real = detection.optimise_size

    def counting(*args: object, **kwargs: object) -> object:
        searches.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    detection.optimise_size = counting  # type: ignore[assignment]
    try:
        kb, no = det.kalshi_book("KX-1"), det.token_book("222")
        kb.apply_snapshot(yes=[], no=[(40 * C, 10 * ONE_CONTRACT)], ts_ns=1)  # YES ask 0.60
        no.apply_snapshot(bids=[], asks=[(35 * C, 2 * ONE_CONTRACT)], ts_ns=1)  # 2 < 5 minimum
        assert det.on_token("222", 2) == [] and not det.quiet("222")
        first = len(searches)
        det.token_book("111").apply_snapshot(bids=[(30 * C, ONE_CONTRACT)], asks=[], ts_ns=3)
        assert det.on_token("111", 4) == [] and len(searches) == first  # nothing it reads moved
        no.apply_snapshot(bids=[], asks=[(35 * C, 2 * ONE_CONTRACT), (36 * C, 9 * ONE_CONTRACT)],
                          ts_ns=5)
        found = det.on_token("222", 6)
        assert len(searches) > first and found and found[0].size >= 5 * ONE_CONTRACT
    finally:
        detection.optimise_size = real
