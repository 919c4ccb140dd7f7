from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import start_sim


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[KalshiSim]:
    """A local Kalshi with the still ``static`` scenario (exact, known levels)."""
    server = await start_sim(tmp_path, "static")
    try:
        yield server
    finally:
        await server.stop()
