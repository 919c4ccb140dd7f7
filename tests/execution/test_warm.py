"""Tick-path warming (ADR 0067): the rehearsal runs the live code and leaves no trace anywhere."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from arbiter.app.config import ConfigError, load_config
from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Ending, SagaPolicy
from arbiter.core.units import ONE_CONTRACT, Size, parse_price
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.risk_manager import RiskManager
from arbiter.execution.warm import PathWarmer, build_warmer, shadow_detector
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.sim.launcher import LocalVenues
from arbiter.venues.kalshi.rest import CREATE_PATH
from tests.execution.factories import opportunity
from tests.execution.fakes import FakeVenue
from tests.venues.kalshi.support import TRADER, client_for

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TICKER = "KXSTATIC-A"  # the static scenario's market: real, so a rehearsed create would be valid
PAIR = Pair("static-a", TICKER, "1111", "2222", polymarket_fee=PolymarketFeeModel.of("0"),
            polymarket_min_order_size=Size(0))  # the Polymarket side is a FakeVenue
DETECTION = DetectionConfig(min_edge=parse_price("0.01"), max_book_age_ns=1_000_000_000)


def test_every_pass_parses_a_frame_and_finds_the_shadow_window() -> None:
    """Each pass runs a Kalshi frame through the feed's parser and ends in the same window."""
    warmer = PathWarmer(PAIR, DETECTION)
    found = [warmer.rehearse() for _ in range(50)]
    assert all(o is not None and o.direction == "kalshi_yes_poly_no" for o in found)
    assert {o.size for o in found if o is not None} == {5 * ONE_CONTRACT}  # the window's level only
    kalshi = warmer.feed.stats
    assert (kalshi.snapshots, kalshi.deltas, kalshi.malformed, kalshi.gaps) == (1, 50, 0, 0)
    assert warmer.stats()["runs"] == 50


def test_shadow_books_refuse_a_coarser_tick_and_the_builder_skips_such_pairs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    coarse = Pair("coarse", "KX", "1", "2", polymarket_tick=1000)
    with pytest.raises(ValueError, match="tick"):
        shadow_detector(coarse, DETECTION)
    warmer = build_warmer([coarse, PAIR], DETECTION, 0.001)
    assert warmer is not None and warmer.detector.pairs == [PAIR]
    with caplog.at_level(logging.WARNING, logger="arbiter.execution.warm"):
        assert build_warmer([coarse], DETECTION, 0.001) is None  # the engine trades unwarmed
    assert "warming is off" in caplog.text


async def test_rehearsal_leaves_no_trace_and_trading_goes_on(sim: KalshiSim, tmp_path: Path) -> None:
    """Journal, risk book, saga ids, the order lane and the venue all look untouched."""
    kalshi = client_for(sim)
    await kalshi.open_order_lane(size=1)
    poly = FakeVenue("polymarket")
    poly.add_liquidity(PAIR.polymarket_no_token, Outcome.NO, "ask", 5000, 10 * ONE_CONTRACT)
    clients = {"kalshi": kalshi, "polymarket": poly}
    book = RiskBook(RiskLimits(max_open_sagas=2))
    for venue in clients:
        book.set_balance(venue, 10**6 * 10**10)
    try:
        with Journal(tmp_path / "j.sqlite", synchronous="INTENTS") as journal:
            risk = RiskManager(book, clients, {PAIR.name: PAIR}, journal)  # type: ignore[arg-type]
            executor = SagaExecutor(
                journal, clients, {PAIR.name: PAIR}, risk=risk,  # type: ignore[arg-type]
                policy=SagaPolicy(first_venues=("kalshi", "polymarket")),
                config=ExecutorConfig(order_timeout_s=2.0),
            )
            warmer = PathWarmer(PAIR, DETECTION)
            warmer.add_executor(executor, book.limits)
            shadow = warmer.rehearse()
            assert shadow is not None
            wire = executor.rehearse(shadow, None)
            assert wire is not None
            assert wire.startswith(f"POST /trade-api/v2{CREATE_PATH} HTTP/1.1\r\n".encode())
            assert b"KALSHI-ACCESS-SIGNATURE" in wire and b'"ticker":"KXSTATIC-A"' in wire
            for _ in range(200):
                assert warmer.rehearse() is not None
            assert warmer.stats()["failed"] == []
            lane = kalshi.order_lane
            assert lane is not None and (lane.sent, lane.misses) == (0, 0)
            assert not sim.exchange.accounts[TRADER].order_ids
            assert book.reservations == {} and journal.unfinished() == []
            assert not journal.intent_log.exists() or journal.intent_log.stat().st_size == 0
            # a real opportunity afterwards is the journal's first saga and trades normally
            opp = opportunity(size=2, k_price="0.41", p_price="0.50", pair=PAIR)
            result = await executor.submit(opp)
            assert result.saga is not None and result.saga.saga_id.endswith("-1")
            assert result.saga.ending is Ending.COMPLETED
            assert lane.sent == 1 and len(sim.exchange.accounts[TRADER].order_ids) >= 1
    finally:
        await kalshi.close()
        await poly.close()


def test_a_failing_rehearsal_is_switched_off_and_the_rest_keep_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warmer = PathWarmer(PAIR, DETECTION)
    seen: list[str] = []

    def broken(_opp: object) -> None:
        raise RuntimeError("boom")

    warmer.rehearsals += [broken, lambda opp: seen.append(opp.pair)]  # type: ignore[attr-defined]
    with caplog.at_level(logging.ERROR, logger="arbiter.execution.warm"):
        for _ in range(3):
            assert warmer.rehearse() is not None
    assert seen == [PAIR.name] * 3
    assert len(warmer.rehearsals) == 1 and len(warmer.failed) == 1 and "broken" in warmer.failed[0]
    assert sum("switched off" in r.getMessage() for r in caplog.records) == 1


async def test_a_failing_pass_ends_the_warming_not_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    warmer = PathWarmer(PAIR, DETECTION, interval_s=0.001)

    def broken() -> None:
        raise RuntimeError("boom")

    warmer.rehearse = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="arbiter.execution.warm"):
        task = warmer.start()
        await asyncio.wait_for(task, 1.0)  # returned, not raised
    assert warmer.failed == ["pass"] and "warming stopped" in caplog.text


async def test_the_loop_task_runs_passes_until_stopped() -> None:
    warmer = PathWarmer(PAIR, DETECTION, interval_s=0.001)
    warmer.start()
    await asyncio.sleep(0.1)
    warmer.stop()
    runs = warmer.runs
    assert runs >= 10
    await asyncio.sleep(0.02)
    assert warmer.runs == runs


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("250", 250), ("50", None),
                                                 ("true", None), ('"fast"', None)])
async def test_warm_us_setting(venues: LocalVenues, value: str, expected: int | None) -> None:
    text = venues.config_path.read_text().replace("[engine]\n", f"[engine]\nwarm_us = {value}\n", 1)
    venues.config_path.write_text(text)
    if expected is None:
        with pytest.raises(ConfigError, match="warm_us"):
            load_config(venues.config_path)
    else:
        assert load_config(venues.config_path).warm_us == expected
