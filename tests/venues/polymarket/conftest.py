from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def pm_vectors(venue_vectors: dict[str, Any]) -> dict[str, Any]:
    """The ``polymarket`` part of the shared vectors (tests/vectors/venue-vectors.json)."""
    data: dict[str, Any] = venue_vectors["polymarket"]
    return data
