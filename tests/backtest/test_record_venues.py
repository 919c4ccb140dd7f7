"""`arbiter record` against both local venue simulators through the real WebSocket feeds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from arbiter.backtest.events import KALSHI, KIND_CLEAR, POLYMARKET
from arbiter.backtest.recorder import Row, record, venue_source
from arbiter.backtest.replay import BacktestParams, Replayer
from arbiter.backtest.storage import EventStore, EventWriter
from arbiter.cli.main import main
from arbiter.core.pairs import parse_pairs
from arbiter.sim.launcher import LocalVenues

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


@pytest.mark.slow
async def test_record_both_local_venues_over_websockets(tmp_path: Path) -> None:
    async with LocalVenues(tmp_path / "venues") as venues:
        pairs = parse_pairs((venues.dir / "pairs.toml").read_text())
        wanted = {p.kalshi_ticker for p in pairs} | {
            t for p in pairs for t in (p.polymarket_yes_token, p.polymarket_no_token)}
        source, close = venue_source(str(venues.config_path))

        async def until_every_market_seen() -> AsyncIterator[Row]:
            seen: set[str] = set()
            started = time.monotonic()
            async for row in source:
                yield row
                seen.add(row[2])
                if seen >= wanted and time.monotonic() - started > 1.5:
                    return

        try:  # no fixed sleep: stop once every book has been seen (30 s cap under heavy load)
            stats = await record(until_every_market_seen(), EventWriter(tmp_path / "data"),
                                 duration_s=30.0)
        finally:
            await close()
    events = EventStore(tmp_path / "data").load()
    assert stats.rows == len(events) > 0
    assert set(np.unique(events.venue).tolist()) == {KALSHI, POLYMARKET}
    assert set(events.markets) == wanted
    # every market starts with a snapshot (clear, then its levels)
    first_kind = {}
    for m, k in zip(events.market_names(), events.kind.tolist(), strict=True):
        first_kind.setdefault(m, k)
    assert set(first_kind.values()) == {KIND_CLEAR}
    # and the recording replays through the engine objects with every row accepted
    result = await Replayer(pairs, events, BacktestParams()).run_async()
    assert result.rejected_updates == 0 and result.events == len(events)


@pytest.mark.slow
async def test_record_from_the_venues_writes_the_pairs_beside_the_events(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`arbiter record --source venues` writes the config's (reviewed) pairs file beside the
    events, verbatim, so `arbiter backtest --data OUT` needs nothing else."""
    out = tmp_path / "data"
    async with LocalVenues(tmp_path / "venues") as venues:
        # the CLI runs its own event loop: in a thread, while the venues serve on this one
        rc = await asyncio.to_thread(main, ["record", "--source", "venues", "--config",
                                            str(venues.config_path), "--out", str(out),
                                            "--duration", "3"])
        assert rc == 0
        assert (out / "pairs.toml").read_text() == (venues.dir / "pairs.toml").read_text()
    assert f"pairs in {out / 'pairs.toml'}" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["backtest", "--data", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(summary["digest"]) == 64
