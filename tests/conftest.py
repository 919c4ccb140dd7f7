"""Shared fixtures: the venue test vectors (copied from ../shared so a clean clone is
self-contained) and a local Kalshi."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import running_sim

VECTORS_PATH = Path(__file__).parent / "vectors" / "venue-vectors.json"

# Every Ray cluster the tests start is private to this machine's loopback. A token left in
# ~/.ray/auth_token by another tool switches token auth on for some of them and not for
# clients that read the setting earlier in this process, so the suite's outcome would depend on
# test order; the whole session runs without it (tests/backtest/test_sweep.py says why too).
os.environ["RAY_AUTH_MODE"] = "disabled"


@pytest.fixture(scope="session")
def venue_vectors() -> dict[str, Any]:
    return json.loads(VECTORS_PATH.read_text())


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[KalshiSim]:
    """A local Kalshi with the still ``static`` scenario (exact, known levels)."""
    async with running_sim(tmp_path) as server:
        yield server
