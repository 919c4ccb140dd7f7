"""Fixtures of the local Kalshi's own tests: the venue in its explicit SDK-era mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import running_sim


@pytest.fixture
async def legacy_sim(tmp_path: Path) -> AsyncIterator[KalshiSim]:
    """The ``static`` local Kalshi answering as the SDK era did (``legacy_sdk``): legacy order
    endpoints open, integer fields and ``side``/``action`` served, for kalshi-python-sync 3.2.0."""
    async with running_sim(tmp_path, legacy_sdk=True) as server:
        yield server
