"""HDR histogram precision, merging and encoding."""

from __future__ import annotations

import random

from arbiter.telemetry.latency import HIGHEST_NS, LatencyHistogram


def test_percentiles_within_one_part_per_thousand() -> None:
    rng = random.Random(7)
    values = sorted(rng.randrange(20_000, 5_000_000) for _ in range(20_000))
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    assert h.count == len(values)
    for p in (50.0, 90.0, 99.0, 99.9):
        exact = values[int(len(values) * p / 100 + 0.5) - 1]
        got = h.percentile(p)
        assert abs(got - exact) <= exact / 1000 + 1, (p, got, exact)
    assert h.equivalent(h.min(), values[0]) and h.equivalent(h.max(), values[-1])


def test_distinguishes_close_microsecond_values() -> None:
    h = LatencyHistogram()
    assert not h.equivalent(180_000, 181_000)  # 180 us vs 181 us: different buckets
    assert h.equivalent(180_000, 180_050)  # within 0.1 %


def test_merge_encode_decode_and_clamp() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    for v in range(1_000, 2_000):
        a.record(v * 1000)
    b.record(5_000_000, count=10)
    b.record(HIGHEST_NS * 2)
    assert b.clamped == 1
    a.merge(b)
    assert a.count == 1011 and a.clamped == 1
    back = LatencyHistogram.decode(a.encode())
    assert back.count == a.count
    for p in (10.0, 50.0, 99.0, 100.0):
        assert back.percentile(p) == a.percentile(p)
    s = a.summary((50.0, 99.0))
    assert s.count == 1011 and set(s.percentiles_ns) == {50.0, 99.0}
    a.reset()
    assert a.count == 0 and a.max() == 0 and a.clamped == 0
