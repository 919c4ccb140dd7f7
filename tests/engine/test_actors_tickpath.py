"""The in-process pieces the actors are built from: the tick path and the pre-signed Kalshi create."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from arbiter.core.detection import DetectionConfig, Detector, Opportunity
from arbiter.core.pairs import parse_pairs
from arbiter.core.units import ONE_CONTRACT
from arbiter.execution.tickpath import GateConfig, RiskGate, SagaReport, TickPath

PAIRS = parse_pairs(
    '[[pair]]\nname = "p"\nkalshi_ticker = "KX-1"\npolymarket_yes_token = "111"\n'
    'polymarket_no_token = "222"\npolymarket_fee_rate = "0"\npolymarket_fee_exponent = 1\n'
    'polymarket_min_order_size = "0"\n', "pairs")
C = 100


class Recorder:
    """A launcher that records what it was asked to run and finishes when released."""

    def __init__(self) -> None:
        self.runs: list[Opportunity] = []
        self.release = asyncio.Event()
        self.outcome = "completed"

    def start(self, opportunity: Opportunity) -> Awaitable[SagaReport]:
        self.runs.append(opportunity)  # synchronously, inside the feed callback
        return self._finish(opportunity)

    async def _finish(self, opportunity: Opportunity) -> SagaReport:
        await self.release.wait()
        return SagaReport("s-1", opportunity.pair, opportunity.direction, self.outcome, 7)


def _window(detector: Detector) -> None:
    detector.kalshi_book("KX-1").apply_snapshot(yes=[], no=[(53 * C, 40 * ONE_CONTRACT)], ts_ns=1)
    detector.token_book("222").apply_snapshot(bids=[], asks=[(40 * C, 30 * ONE_CONTRACT)], ts_ns=1)


async def test_one_saga_per_pair_in_flight_then_cooldown() -> None:
    now = [1_000]
    detector = Detector(PAIRS, DetectionConfig())
    launcher = Recorder()
    tick = TickPath(detector, RiskGate(GateConfig(cooldown_ns=500)), launcher,
                    clock_ns=lambda: now[0])
    _window(detector)
    tick.on_token("222")
    assert len(launcher.runs) == 1  # started inside the feed callback: no event-loop turn
    tick.on_kalshi("KX-1")  # same pair, saga in flight: not even evaluated
    await asyncio.sleep(0)
    assert len(launcher.runs) == 1
    assert tick.stats.opportunities == 1 and tick.stats.admitted == 1
    launcher.release.set()
    await asyncio.sleep(0.01)
    assert tick.stats.sagas == {"completed": 1} and tick.stats.pnl == 7
    tick.on_token("222")  # cooling down
    assert len(launcher.runs) == 1
    now[0] += 1_000
    tick.on_token("222")
    await asyncio.sleep(0.01)
    assert len(launcher.runs) == 2
    assert tick.stats.ticks == 4


async def test_risk_refusals_are_not_sagas_and_drain_waits() -> None:
    detector = Detector(PAIRS, DetectionConfig())
    launcher = Recorder()
    launcher.outcome = "rejected:kill_switch"
    tick = TickPath(detector, RiskGate(), launcher)
    _window(detector)
    tick.on_token("222")
    await asyncio.sleep(0)
    drained = asyncio.create_task(tick.drain(timeout_s=5))
    await asyncio.sleep(0.01)
    assert not drained.done()  # a saga in flight is never abandoned
    launcher.release.set()
    await drained
    assert tick.stats.sagas == {} and tick.stats.refused == {"kill_switch": 1}
    tick.on_token("222")  # paused after drain
    assert len(launcher.runs) == 1


