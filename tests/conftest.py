"""Shared fixtures: the venue test vectors (copied from ../shared so a clean clone is
self-contained) and a local Kalshi."""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import running_sim

if TYPE_CHECKING:
    from arbiter.sim.launcher import LocalVenues

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


@pytest_asyncio.fixture
async def venues(tmp_path: Path) -> AsyncIterator[LocalVenues]:
    """Both local venues with the paper files (keys, accounts, engine config) in ``tmp_path``."""
    from arbiter.sim.launcher import LocalVenues

    v = LocalVenues(tmp_path / "paper")
    await v.start()
    try:
        yield v
    finally:
        await v.stop()


# -- rings (ADR 0146): unit (no sockets, no Ray, no PostgreSQL), integration, fault -------------

RINGS = ("integration", "fault")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``tests/fault`` is the fault ring; a test there is never a unit test."""
    for item in items:
        if "fault" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.fault)


class NotAUnitTest(AssertionError):
    """A test outside the integration and fault rings opened a network socket."""


@pytest.fixture(autouse=True)
def _unit_ring_has_no_sockets(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests (no ``integration``/``fault`` mark) may not open an IP socket: loopback servers,
    Ray and PostgreSQL over TCP all need one. The guard runs in every run, so a test in the wrong
    ring fails in CI, not only under ``make test-unit``. (AF_UNIX stays open: asyncio's own
    self-pipe is one.)"""
    if any(request.node.get_closest_marker(ring) for ring in RINGS):
        return

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
        raise NotAUnitTest(f"{request.node.nodeid}: a unit test opened an IP socket ({args[:1]}); "
                           "mark it integration (tests/README.md)")

    for name in ("connect", "connect_ex", "bind"):
        original = getattr(socket.socket, name)

        def guarded(self: socket.socket, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if self.family in (socket.AF_INET, socket.AF_INET6):
                return refuse(self, *args, **kwargs)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(socket.socket, name, guarded)
