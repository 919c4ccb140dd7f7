"""The allotment of opportunities to tenants (ADR 0147): start-time fair queuing by contracts,
weighted by the tiers' fair-share weights, and the bench."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbiter.core.allocation import AllocationError, Bench, FairShare


def run(fair: FairShare, steps: list[tuple[frozenset[str], int]]) -> list[dict[str, int]]:
    """Allot each (eligible set, size) to the first-ranked eligible tenant; served after each."""
    history = [dict(fair.served)]
    for eligible, size in steps:
        ranked = fair.rank(sorted(eligible))
        if ranked:
            fair.charge(ranked[0], size)
        history.append(dict(fair.served))
    return history


def test_weighted_shares_in_the_long_run() -> None:
    fair = FairShare()
    for name, weight in (("free", 1), ("pro", 4), ("inst", 16)):
        fair.add(name, weight)
    everyone = frozenset(fair.tenants)
    run(fair, [(everyone, 5_000_000)] * 2100)
    assert fair.served == {"free": 100 * 5_000_000, "pro": 400 * 5_000_000,
                           "inst": 1600 * 5_000_000}


def test_deterministic_and_ties_by_name() -> None:
    a, b = FairShare(), FairShare()
    for fair in (a, b):
        fair.add("bob", 1)
        fair.add("alice", 1)
    assert a.rank(["bob", "alice"]) == ["alice", "bob"]
    steps = [(frozenset({"alice", "bob"}), s) for s in (3, 1, 4, 1, 5, 9, 2, 6)]
    assert run(a, steps) == run(b, steps)


def test_no_banked_credit_after_a_pause() -> None:
    """A tenant away for 1000 opportunities comes back level, not owed 1000 of them."""
    fair = FairShare()
    fair.add("a", 1)
    fair.add("b", 1)
    run(fair, [(frozenset({"a"}), 10)] * 1000)
    both = frozenset({"a", "b"})
    run(fair, [(both, 10)] * 10)
    assert fair.allotted["b"] == 5  # alternates at once; no burst of catch-up for b


def test_joining_late_starts_at_the_system_time() -> None:
    fair = FairShare()
    fair.add("a", 1)
    run(fair, [(frozenset({"a"}), 7)] * 50)
    fair.add("b", 1)
    run(fair, [(frozenset({"a", "b"}), 7)] * 20)
    assert abs(fair.allotted["b"] - 10) <= 1


def test_bad_input_is_refused_and_changes_nothing() -> None:
    fair = FairShare()
    fair.add("a", 2)
    with pytest.raises(AllocationError):
        fair.add("a", 1)
    with pytest.raises(AllocationError):
        fair.add("b", 0)
    with pytest.raises(AllocationError):
        fair.charge("zed", 1)
    with pytest.raises(AllocationError):
        fair.charge("a", -1)
    assert fair.tenants == ["a"] and fair.served == {"a": 0}
    assert fair.rank(["zed", "a"]) == ["a"]  # unknown names are not offered anything


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, int], list[tuple[frozenset[str], int]]]:
    n = draw(st.integers(2, 5))
    names = [f"t{i}" for i in range(n)]
    weights = {name: draw(st.sampled_from([1, 2, 3, 4, 16])) for name in names}
    steps = draw(st.lists(
        st.tuples(st.frozensets(st.sampled_from(names)), st.integers(1, 50)),
        min_size=1, max_size=60))
    return weights, steps


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_sfq_fairness_bound(scenario: tuple[dict[str, int], list[tuple[frozenset[str], int]]]) -> None:
    """SFQ's theorem: over any stretch in which tenants i and j are both eligible for every
    opportunity, |served_i/w_i - served_j/w_j| <= S/w_i + S/w_j (S: the largest size so far)."""
    weights, steps = scenario
    fair = FairShare()
    for name, w in weights.items():
        fair.add(name, w)
    history = run(fair, steps)
    names = sorted(weights)
    for start in range(len(steps)):
        # pairs of tenants eligible for every opportunity from ``start`` to ``end``
        both = {(i, j) for i in names for j in names if i < j}
        for end in range(start, len(steps)):
            eligible = steps[end][0]
            both = {(i, j) for i, j in both if i in eligible and j in eligible}
            if not both:
                break
            # l_max of the theorem: the largest opportunity so far (one allotted before the
            # stretch can still be "in service" when it begins)
            biggest = max(size for _, size in steps[:end + 1])
            for i, j in both:
                di = Fraction(history[end + 1][i] - history[start][i], weights[i])
                dj = Fraction(history[end + 1][j] - history[start][j], weights[j])
                bound = Fraction(biggest, weights[i]) + Fraction(biggest, weights[j])
                assert abs(di - dj) <= bound, (i, j, start, end)


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_always_eligible_share_of_the_total(
        scenario: tuple[dict[str, int], list[tuple[frozenset[str], int]]]) -> None:
    """With everyone eligible throughout: each tenant's contracts are within (N-1)·S of its
    weighted share of the total (the bound stated in docs/tenancy.md)."""
    weights, steps = scenario
    everyone = frozenset(weights)
    fair = FairShare()
    for name, w in weights.items():
        fair.add(name, w)
    run(fair, [(everyone, size) for _, size in steps])
    total = sum(fair.served.values())
    biggest = max(size for _, size in steps)
    w_all = sum(weights.values())
    for name, w in weights.items():
        assert abs(fair.served[name] - Fraction(total * w, w_all)) <= (len(weights) - 1) * biggest


def test_bench_backs_off_and_clears() -> None:
    bench = Bench(base_ns=10, max_ns=35)
    assert bench.benched("a", 0) is None
    bench.strike("a", "credentials", 100)
    assert bench.benched("a", 109) == "credentials" and bench.benched("a", 110) is None
    bench.strike("a", "credentials", 200)  # second strike: 20
    assert bench.benched("a", 219) == "credentials" and bench.benched("a", 220) is None
    bench.strike("a", "stalled", 300)
    bench.strike("a", "stalled", 300)  # 40 → capped at 35
    assert bench.record("a") is not None and bench.record("a").until_ns == 335  # type: ignore[union-attr]
    assert bench.benched("b", 300) is None  # one tenant's record is its own
    assert bench.clear("a") and bench.benched("a", 301) is None
    with pytest.raises(AllocationError):
        Bench(base_ns=0)
