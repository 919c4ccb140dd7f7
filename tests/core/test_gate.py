"""The one per-pair gate the tick path and the replay share (ADR 0150)."""

from __future__ import annotations

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.gate import GateConfig, PairGate, best_first
from arbiter.core.units import Money, Size
from arbiter.execution import tickpath


def _opp(pair: str, profit: int = 1, direction: str = "d") -> Opportunity:
    leg = Leg("kalshi", "K", Outcome.YES, 5000, Money(0), Money(0), 0)
    return Opportunity(pair, direction, Size(1), (leg, leg), Money(0), Money(0), Money(profit), 0)


def test_busy_until_release_then_cooldown_from_the_release() -> None:
    gate = PairGate(GateConfig(max_open_sagas=4, cooldown_ns=100))
    a = _opp("a")
    assert not gate.closed("a", 0) and gate.admit(a, 0)
    # busy for as long as the saga runs, however long that is (no cooldown from the launch)
    assert gate.closed("a", 10_000) and not gate.admit(a, 10_000)
    gate.release(a, 10_000)
    assert gate.closed("a", 10_099) and not gate.admit(a, 10_099)
    assert not gate.closed("a", 10_100) and gate.admit(a, 10_100)
    assert gate.rejections == {"pair_busy": 1, "cooldown": 1}


def test_max_open_sagas_across_pairs_and_pairs_are_independent() -> None:
    gate = PairGate(GateConfig(max_open_sagas=2, cooldown_ns=0))
    assert gate.admit(_opp("a"), 0) and gate.admit(_opp("b"), 0)
    assert not gate.closed("c", 0)  # c itself is open ...
    assert not gate.admit(_opp("c"), 0)  # ... but the tenant is at its limit
    assert gate.rejections["max_open_sagas"] == 1 and gate.open_sagas == 2
    gate.release(_opp("a"), 5)
    assert gate.admit(_opp("c"), 5)


def test_best_first_is_stable_and_the_tick_path_uses_this_gate() -> None:
    found = [_opp("a", 1, "x"), _opp("a", 3, "y"), _opp("a", 3, "z")]
    assert [o.direction for o in best_first(found)] == ["y", "z", "x"]
    assert tickpath.RiskGate is PairGate and tickpath.GateConfig is GateConfig
