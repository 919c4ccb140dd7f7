"""One deterministic scenario over the hot core, printed as digests: run once per build.

    python -m tests.core.native_scenario            (ARBITER_PURE=1 for the pure sources)

tests/core/test_native.py runs it in two interpreters, one on the compiled core and one on the
pure sources, and requires the same digests: bench.core's delta stream through books and
detection (every opportunity, every book's final depth), a full backtest replay (its result
digest), fees over the price grid for every model, and the sizing search on seeded ladders.
The last line is the JSON record, whose ``core`` says which build produced it.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from fractions import Fraction
from typing import Any

from arbiter.backtest.replay import BacktestParams, Replayer
from arbiter.backtest.synthetic import SyntheticConfig, generate
from arbiter.backtest.synthetic import make_pairs as synthetic_pairs
from arbiter.core import compiled
from arbiter.core.book import BookError, Outcome, Side
from arbiter.core.detection import DetectionConfig, Detector, Opportunity
from arbiter.core.fees import KalshiFeeModel, KalshiFillFees, KalshiSeriesFees, PolymarketFeeModel
from arbiter.core.sizing import brute_force_size, optimise_size
from arbiter.core.units import ONE_CONTRACT, PRICE_SCALE
from bench.core import KALSHI, make_pairs, make_stream


def _digest(values: Any) -> str:
    return hashlib.sha256(repr(values).encode()).hexdigest()


def _opportunity(o: Opportunity) -> tuple[Any, ...]:
    legs = [(leg.venue, leg.market, leg.outcome.value, leg.limit_price, leg.cost, leg.fee,
             leg.book_ts_ns, leg.min_size, leg.tick) for leg in o.legs]
    return (o.pair, o.direction, o.size, o.cost, o.fees, o.profit, o.detected_ns, legs)


def detection(events: int) -> dict[str, Any]:
    pairs = make_pairs(12)
    stream = make_stream(pairs, events, seed=11)
    detector = Detector(pairs, DetectionConfig(max_contracts=500 * ONE_CONTRACT, min_edge=50))
    found: list[tuple[Any, ...]] = []
    rejected = 0
    now = 1_000_000_000
    for venue, key, which, price, amount in stream:  # bench.core's loop, keeping every result
        try:
            if venue == KALSHI:
                detector.kalshi_book(key).apply_delta(which, price, amount, now)
                opps = detector.on_kalshi(key, now)
            else:
                detector.token_book(key).set_level(which, price, amount, now)
                opps = detector.on_token(key, now)
        except BookError as exc:
            rejected += 1
            found.append((type(exc).__name__, str(exc)))
            continue
        found.extend(_opportunity(o) for o in opps)
        now += 1_000
    depth = []
    for pair in pairs:
        kb = detector.kalshi_book(pair.kalshi_ticker)
        depth.append((list(kb.yes_bids), list(kb.no_bids), kb.best_ask(Outcome.YES)))
        for token in (pair.polymarket_yes_token, pair.polymarket_no_token):
            tb = detector.token_book(token)
            depth.append((list(tb.bids), list(tb.asks), tb.best_bid, tb.best_ask))
    return {"opportunities": sum(1 for f in found if len(f) > 2), "rejected": rejected,
            "opportunities_digest": _digest(found), "books_digest": _digest(depth)}


def backtest(events: int) -> dict[str, Any]:
    cfg = SyntheticConfig(pairs=4, days=1, events=events, seed=5, window_rate=0.01)
    result = Replayer(synthetic_pairs(4), generate(cfg), BacktestParams()).run()
    return {"sagas": len(result.sagas), "orders": result.orders, "digest": result.digest()}


def fees() -> str:
    out: list[Any] = []
    models: list[Any] = [
        KalshiFeeModel(), KalshiSeriesFees.of("quadratic_with_maker_fees", "1.5").maker,
        PolymarketFeeModel.of("0.04", 1), PolymarketFeeModel.of("0.0625", 2),
    ]
    sizes = [1, 7, ONE_CONTRACT, 3 * ONE_CONTRACT + 250_000, 137 * ONE_CONTRACT]
    for model in models:
        for price in range(10, PRICE_SCALE, 370):
            for size in sizes:
                out.append((model.order_fee([(price, size)]), model.level_term(price, size),
                            model.rate_floor(price), model.smooth_rate(price)))
        if isinstance(model, KalshiFeeModel):
            out.append(model.sell_fee([(5500, 3 * ONE_CONTRACT), (5400, 10)]))
    acc = KalshiFillFees()
    for price, size in [(5500, 3 * ONE_CONTRACT), (550, 10), (9900, 1), (100, 77 * ONE_CONTRACT)]:
        out.append(acc.fill(KalshiFeeModel(Fraction(3, 2)), price, size, -price * size))
    return _digest(out)


def sizing(cases: int) -> str:
    rng = random.Random(3)
    out: list[Any] = []
    fee_a, fee_b = KalshiFeeModel(), PolymarketFeeModel.of("0.04", 1)
    for _ in range(cases):
        base = rng.randint(2000, 6000)
        asks_a = [(base + 100 * i, rng.randint(1, 40) * ONE_CONTRACT) for i in range(rng.randint(1, 4))]
        other = PRICE_SCALE - base - rng.randint(-300, 600)
        asks_b = [(other + 100 * i, rng.randint(1, 40) * ONE_CONTRACT)
                  for i in range(rng.randint(1, 4)) if 0 < other + 100 * i < PRICE_SCALE]
        kwargs: dict[str, Any] = {"hurdle": rng.choice([0, 20, 100]), "lot": ONE_CONTRACT,
                                  "min_size": rng.choice([0, 5 * ONE_CONTRACT]),
                                  "max_size": rng.choice([None, 30 * ONE_CONTRACT]),
                                  "budget": rng.choice([None, 5 * 10**10])}
        for search in (optimise_size, brute_force_size):
            choice = search(asks_a, asks_b, fee_a, fee_b, **kwargs)
            out.append(None if choice is None else (
                choice.size, choice.objective, choice.profit, choice.cost_a, choice.cost_b,
                choice.fee_a, choice.fee_b, choice.limit_a, choice.limit_b))
    return _digest(out)


def main(argv: list[str]) -> int:
    record = {
        "core": compiled().as_dict(),
        "detection": detection(int(argv[0]) if argv else 30_000),
        "backtest": backtest(int(argv[1]) if len(argv) > 1 else 20_000),
        "fees": fees(),
        "sizing": sizing(300),
        "sides": [s.value for s in Side],
    }
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
