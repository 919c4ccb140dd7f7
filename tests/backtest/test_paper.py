"""Paper trading: the engine's real executor, risk manager and journal against live books."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbiter.backtest.paper import PaperSession, paper_clients
from arbiter.backtest.sim_exchange import FixedLatency
from arbiter.backtest.storage import EngineStore
from arbiter.backtest.synthetic import make_pairs
from arbiter.core.book import Outcome
from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Ending
from arbiter.core.units import SIZE_SCALE
from arbiter.execution.executor import SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.risk_manager import RiskManager
from arbiter.sim.launcher import LocalVenues

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

C = SIZE_SCALE


async def test_paper_session_trades_a_live_opportunity(tmp_path: Path) -> None:
    pairs = make_pairs(1)
    pair = pairs[0]
    detector = Detector(pairs, DetectionConfig(min_edge=100, max_contracts=20 * C))
    # live feeds would write these; here the "feed" is the test: YES ask 0.40, Poly NO ask 0.50
    detector.kalshi_book(pair.kalshi_ticker).apply_snapshot([(3800, 50 * C)], [(6000, 50 * C)], 1)
    detector.token_book(pair.polymarket_no_token).apply_snapshot(
        [(4800, 50 * C)], [(5000, 12 * C)], 1)
    detector.token_book(pair.polymarket_yes_token).apply_snapshot(
        [(4900, 50 * C)], [(5200, 50 * C)], 1)
    opps = detector.on_token(pair.polymarket_no_token, 2)
    assert opps and opps[0].direction == "kalshi_yes_poly_no"
    clients = paper_clients(pairs, detector.kalshi_book, detector.token_book,
                            latency={"kalshi": FixedLatency(1_000_000, 1_000_000)})
    journal = Journal(tmp_path / "paper.sqlite", synchronous="NORMAL")
    risk = RiskManager(RiskBook(RiskLimits(min_edge=100)), clients, {pair.name: pair}, journal)
    await risk.refresh_balances()
    executor = SagaExecutor(journal, clients, {pair.name: pair}, risk=risk)
    result = await executor.submit(opps[0])
    saga = result.saga
    assert saga is not None and saga.ending is Ending.COMPLETED
    assert saga.held_first() == saga.held_second() == 12 * C
    k = clients["kalshi"].holding(pair.kalshi_ticker, Outcome.YES)
    p = clients["polymarket"].holding(pair.polymarket_no_token, Outcome.NO)
    assert k == p == 12 * C
    assert saga.pnl() > 0
    journal.close()


@pytest.mark.slow
async def test_paper_session_on_local_venue_feeds(tmp_path: Path) -> None:
    store = EngineStore(tmp_path / "engine.sqlite")
    async with LocalVenues(tmp_path / "venues") as venues:
        session = PaperSession(
            str(venues.config_path), str(tmp_path / "paper.sqlite"),
            detection=DetectionConfig(min_edge=10, max_contracts=5 * C),
            limits=RiskLimits(min_edge=10),
            latency={"kalshi": FixedLatency(2_000_000, 2_000_000)},
            store=store,
        )
        stats = await session.run(duration_s=45.0, stop_after_sagas=1)
    store.close()
    # the session started from the venue's market data, not the file's (ADR 0037)
    assert session.market_refused == {}
    assert all(p.polymarket_condition_id for p in session.pairs.values())
    assert stats.opportunities >= 1 and stats.sagas
    saga = stats.sagas[0]
    assert saga.terminal
    fills = [f for c in session.clients.values() for f in c.fill_log]
    # every fill came from the simulated exchanges (their ids), none from a venue
    assert fills and all(f.order_id[:2] in ("k-", "p-") for f in fills)
    assert {f.client_order_id.rsplit("-", 1)[0] for f in fills} <= {
        f"arb-{s.saga_id}" for s in stats.sagas}
    with EngineStore(tmp_path / "engine.sqlite") as db:  # ready for the paper-vs-live report
        assert len(db.query("sagas", run="paper")) == len(stats.sagas)
        assert len(db.query("fills", run="paper")) == len(fills)
