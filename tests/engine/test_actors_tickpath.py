"""The in-process pieces the actors are built from: the tick path and the pre-signed Kalshi create."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.core.detection import DetectionConfig, Detector, Opportunity
from arbiter.core.pairs import parse_pairs
from arbiter.core.units import ONE_CONTRACT
from arbiter.engine.bootstrap import PresignedSigner
from arbiter.engine.tickpath import GateConfig, RiskGate, SagaReport, TickPath
from arbiter.venues.kalshi.signing import (
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    Signer,
    verify_message,
)

PAIRS = parse_pairs(
    '[[pair]]\nname = "p"\nkalshi_ticker = "KX-1"\npolymarket_yes_token = "111"\n'
    'polymarket_no_token = "222"\n', "pairs")
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


def test_presigned_create_headers_verify_and_other_requests_sign_fresh() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = PresignedSigner(Signer("k1", key), "/trade-api/v2")
    signer.refresh()
    path = "/trade-api/v2/portfolio/events/orders"
    first = signer.headers("POST", path)
    assert signer.headers("POST", path) == first  # reused, no new signature
    assert verify_message(key.public_key(), first[HEADER_TIMESTAMP], "POST", path,
                          first[HEADER_SIGNATURE])
    other = signer.headers("GET", "/trade-api/v2/portfolio/balance")
    assert verify_message(key.public_key(), other[HEADER_TIMESTAMP], "GET",
                          "/trade-api/v2/portfolio/balance", other[HEADER_SIGNATURE])
    signer.max_age_ms = -1  # too old: signed on the spot rather than sent stale
    fresh = signer.headers("POST", path)
    assert verify_message(key.public_key(), fresh[HEADER_TIMESTAMP], "POST", path,
                          fresh[HEADER_SIGNATURE])
