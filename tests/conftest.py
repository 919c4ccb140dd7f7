"""Shared fixtures: the venue test vectors (copied from ../shared so a clean clone is
self-contained) and a local Kalshi."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import running_sim

VECTORS_PATH = Path(__file__).parent / "vectors" / "venue-vectors.json"

# Ray as it ships (docs/adr/0166): every Ray cluster the tests start runs with token auth on,
# the default for a new local cluster since Ray 2.59. The mode is explicit and the token is the
# session's own (RAY_AUTH_TOKEN_PATH, Ray's second token source), so a token in
# ~/.ray/auth_token left by another tool changes nothing and the suite never writes one there;
# every process the tests start (ray start heads, job drivers, workers) inherits both.
_RAY_TOKEN = Path(tempfile.mkdtemp(prefix="arbiter-test-ray-")) / "auth_token"
_RAY_TOKEN.write_text(secrets.token_hex(32))  # Ray's own generator: 256 bits as hex
_RAY_TOKEN.chmod(0o600)
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN_PATH"] = str(_RAY_TOKEN)
os.environ.pop("RAY_AUTH_TOKEN", None)


@pytest.fixture(scope="session")
def venue_vectors() -> dict[str, Any]:
    return json.loads(VECTORS_PATH.read_text())


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[KalshiSim]:
    """A local Kalshi with the still ``static`` scenario (exact, known levels)."""
    async with running_sim(tmp_path) as server:
        yield server
