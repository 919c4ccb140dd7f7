"""Token buckets: exact refill, venue limits never exceeded, typed rejections, fairness under load."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.ratelimit import (
    SECOND_NS,
    Action,
    BucketSpec,
    RateLimiter,
    RateLimitExceeded,
    TokenBucket,
    window_bucket,
)

MS = 1_000_000


def test_bucket_refills_exactly() -> None:
    bucket = TokenBucket(BucketSpec(2, 1, SECOND_NS), now_ns=0)
    assert bucket.wait_ns(0, 2) == 0
    bucket.take(0, 2)
    assert bucket.tokens(0) == 0
    assert bucket.wait_ns(0, 1) == SECOND_NS
    assert bucket.wait_ns(SECOND_NS // 2, 1) == SECOND_NS // 2
    assert bucket.tokens(10 * SECOND_NS) == 2  # capped at capacity
    # A clock that steps backwards never mints tokens.
    bucket.take(10 * SECOND_NS, 2)
    assert bucket.tokens(5 * SECOND_NS) == 0


@settings(max_examples=200, deadline=None)
@given(
    capacity=st.integers(1, 50),
    refill=st.integers(1, 1000),
    period=st.integers(1, 10**10),
    steps=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 50)), min_size=1, max_size=40),
)
def test_wait_is_exact(capacity: int, refill: int, period: int, steps: list[tuple[int, int]]) -> None:
    """After exactly ``wait_ns`` the request fits; one nanosecond earlier it does not."""
    spec = BucketSpec(capacity, refill, period)
    bucket = TokenBucket(spec, 0)
    now = 0
    for dt, cost in steps:
        now += dt
        cost = min(cost, capacity)
        wait = bucket.wait_ns(now, cost)
        if wait > 0:
            probe = TokenBucket(spec, 0)
            probe._level, probe._last_ns = bucket._level, bucket._last_ns
            assert probe.wait_ns(now + wait - 1, cost) > 0
            now += wait
        assert bucket.wait_ns(now, cost) == 0
        bucket.take(now, cost)
        assert bucket._level >= 0


def _max_in_window(times: list[int], window: int) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _greedy(limiter: RateLimiter, tenant: str, venue: str, action: Action, until_ns: int) -> list[int]:
    """The worst client: retries at exactly the advertised retry-after, forever."""
    now, admitted = 0, []
    while now < until_ns:
        rejection = limiter.check(now, tenant, venue, action)
        if rejection is None:
            admitted.append(now)
        else:
            assert rejection.retry_after_ns > 0
            now += rejection.retry_after_ns
    return admitted


def test_window_bucket_never_exceeds_the_window() -> None:
    spec = window_bucket(100, 10 * SECOND_NS)
    bucket = TokenBucket(spec, 0)
    now, times = 0, []
    while now < 60 * SECOND_NS:
        wait = bucket.wait_ns(now, 1)
        now += wait
        bucket.take(now, 1)
        times.append(now)
    assert _max_in_window(times, 10 * SECOND_NS) <= 100
    assert len(times) >= 5 * 60 - 1  # and it still delivers the sustained rate (50 per 10 s)


def test_polymarket_ip_windows_hold_for_a_greedy_single_tenant() -> None:
    limiter = RateLimiter(0, margin_pct=100)
    limiter.add_tenant("solo", orders_per_second=10_000, order_burst=10_000, now_ns=0)
    times = _greedy(limiter, "solo", "polymarket", Action.PLACE, 30 * SECOND_NS)
    assert _max_in_window(times, 10 * SECOND_NS) <= 3500
    assert len(times) > 3500  # the budget is really used, not just refused


def test_kalshi_basic_write_budget_and_cancel_cost() -> None:
    limiter = RateLimiter(0, kalshi_tier="basic", margin_pct=100)
    limiter.add_tenant("a", orders_per_second=1000, order_burst=1000, now_ns=0)
    limiter.set_venue_key("a", "kalshi", "key-1")
    admitted = [limiter.check(0, "a", "kalshi", Action.PLACE) is None for _ in range(25)]
    assert admitted.count(True) == 20  # two seconds of 100 tokens/s at 10 per order
    rejection = limiter.check(0, "a", "kalshi", Action.PLACE)
    assert rejection is not None and rejection.scope == "venue_key" and rejection.key == "kalshi:key-1:write"
    assert rejection.retry_after_ns == 100 * MS
    # A cancel costs 2 tokens: five of them fit in one order's worth of refill.
    assert sum(limiter.check(100 * MS, "a", "kalshi", Action.CANCEL) is None for _ in range(6)) == 5
    # Reads are a separate budget.
    assert limiter.check(0, "a", "kalshi", Action.READ) is None
    times = _greedy(limiter, "a", "kalshi", Action.PLACE, 10 * SECOND_NS)
    assert _max_in_window(times, SECOND_NS) <= 10 + 1


def test_two_tenants_on_one_kalshi_key_share_it() -> None:
    limiter = RateLimiter(0, margin_pct=100)
    for t in ("a", "b"):
        limiter.add_tenant(t, orders_per_second=1000, order_burst=1000, now_ns=0)
        limiter.set_venue_key(t, "kalshi", "shared-key")
    got = [limiter.check(0, t, "kalshi", Action.PLACE) is None for t in ["a", "b"] * 15]
    assert got.count(True) == 20


def test_tier_rate_rejects_with_typed_error_and_retry_after() -> None:
    limiter = RateLimiter(0)
    limiter.add_tenant("free", orders_per_second=1, order_burst=2, now_ns=0)
    limiter.acquire(0, "free", "kalshi", Action.PLACE)
    limiter.acquire(0, "free", "kalshi", "place")
    with pytest.raises(RateLimitExceeded) as info:
        limiter.acquire(0, "free", "kalshi", Action.PLACE)
    assert info.value.rejection.scope == "tenant" and info.value.retry_after_ns == SECOND_NS
    assert "retry after 1.000s" in str(info.value)
    limiter.acquire(SECOND_NS, "free", "kalshi", Action.PLACE)
    # Non-order actions do not spend the tier's order budget.
    assert limiter.check(SECOND_NS, "free", "kalshi", Action.READ) is None


def test_rejection_charges_nothing() -> None:
    limiter = RateLimiter(0, margin_pct=100)
    limiter.add_tenant("a", orders_per_second=1, order_burst=1, now_ns=0)
    assert limiter.check(0, "a", "kalshi", Action.PLACE) is None
    for _ in range(50):  # tenant budget empty: these must not drain the venue key
        assert limiter.check(0, "a", "kalshi", Action.PLACE) is not None
    limiter.add_tenant("b", orders_per_second=1000, order_burst=1000, now_ns=0)
    limiter.set_venue_key("a", "kalshi", "k")
    limiter.set_venue_key("b", "kalshi", "k")
    assert sum(limiter.check(0, "b", "kalshi", Action.PLACE) is None for _ in range(30)) == 20


def test_shares_follow_tier_weights_and_membership() -> None:
    limiter = RateLimiter(0, margin_pct=100)
    limiter.add_tenant("pro", orders_per_second=5, order_burst=10, weight=4, now_ns=0)
    assert limiter.share("pro", "order_post", 0) == window_bucket(3500, 10 * SECOND_NS)
    limiter.add_tenant("free", orders_per_second=1, order_burst=2, weight=1, now_ns=0)
    pro, free = limiter.share("pro", "order_post", 0), limiter.share("free", "order_post", 0)
    assert (pro.capacity, free.capacity) == (1400, 350)
    assert pro.refill_tokens * free.refill_period_ns == 4 * free.refill_tokens * pro.refill_period_ns
    limiter.remove_tenant("pro", 0)
    assert limiter.share("free", "order_post", 0).capacity == 1750
    with pytest.raises(ValueError):
        limiter.check(0, "pro", "kalshi", Action.PLACE)


def test_throttled_backs_off_exponentially_for_everyone_on_the_ip() -> None:
    limiter = RateLimiter(0)
    for t in ("a", "b"):
        limiter.add_tenant(t, orders_per_second=100, order_burst=100, now_ns=0)
    first = limiter.throttled(0, "a", "polymarket", Action.PLACE)
    second = limiter.throttled(0, "a", "polymarket", Action.PLACE)
    assert (first, second) == (SECOND_NS // 2, SECOND_NS)
    rejection = limiter.check(0, "b", "polymarket", Action.PLACE)
    assert rejection is not None and rejection.scope == "deployment" and rejection.retry_after_ns == SECOND_NS
    assert limiter.check(SECOND_NS, "b", "polymarket", Action.PLACE) is None
    # Admission resets the strike count.
    assert limiter.throttled(2 * SECOND_NS, "b", "polymarket", Action.PLACE) == SECOND_NS // 2


def _fair_run(flood: bool, steps: int = 3000, step_ns: int = 10 * MS) -> tuple[list[int], list[int]]:
    """Virtual time advances in lockstep; A floods from three threads while B asks once a step."""
    limiter = RateLimiter(0, margin_pct=90)
    for t in ("a", "b"):
        limiter.add_tenant(t, orders_per_second=100_000, order_burst=100_000, weight=1, now_ns=0)
    admitted: dict[str, list[int]] = {"a": [], "b": []}
    record = threading.Lock()
    clock = [0]
    # A timeout turns a crashed worker into a BrokenBarrierError instead of a hang.
    start = threading.Barrier(5 if flood else 2, timeout=60)
    done = threading.Barrier(5 if flood else 2, timeout=60)

    def worker(tenant: str, attempts: int) -> None:
        for _ in range(steps):
            start.wait()
            now = clock[0]
            for _ in range(attempts):
                if limiter.check(now, tenant, "polymarket", Action.PLACE) is None:
                    with record:
                        admitted[tenant].append(now)
            done.wait()

    threads = [threading.Thread(target=worker, args=("b", 1))]
    if flood:
        threads += [threading.Thread(target=worker, args=("a", 4)) for _ in range(3)]
    for th in threads:
        th.start()
    for step in range(steps):
        clock[0] = step * step_ns
        start.wait()
        done.wait()
    for th in threads:
        th.join()
    return sorted(admitted["a"]), sorted(admitted["b"])


def test_flooding_tenant_cannot_starve_another_or_the_shared_ip() -> None:
    a_times, b_times = _fair_run(flood=True)
    _, b_alone = _fair_run(flood=False)
    # B gets exactly what it gets on an idle deployment: A's flood is invisible to it.
    assert b_times == b_alone and len(b_times) > 2000
    # A is held to its half of the (90 %) per-IP budget...
    share = window_bucket(3500, 10 * SECOND_NS).scaled(90).share(1, 2)
    duration = 3000 * 10 * MS
    bound = share.capacity + share.refill_tokens * duration // share.refill_period_ns
    assert len(a_times) <= bound + 1
    assert len(a_times) >= bound - 2
    # ...and together they never exceed the venue's window.
    together = sorted(a_times + b_times)
    assert _max_in_window(together, 10 * SECOND_NS) <= 3500 * 90 // 100


def test_unknown_inputs_are_errors() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0, kalshi_tier="gold")
    with pytest.raises(ValueError):
        RateLimiter(0, margin_pct=0)
    limiter = RateLimiter(0)
    limiter.add_tenant("a", orders_per_second=1, order_burst=1, now_ns=0)
    with pytest.raises(ValueError):
        limiter.add_tenant("a", orders_per_second=1, order_burst=1, now_ns=0)
    with pytest.raises(ValueError):
        limiter.check(0, "a", "binance", Action.PLACE)
    with pytest.raises(ValueError):
        BucketSpec(0, 1, 1)
