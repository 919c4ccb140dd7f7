"""Shared fixtures: the venue test vectors (copied from ../shared so a clean clone is self-contained)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS_PATH = Path(__file__).parent / "vectors" / "venue-vectors.json"


@pytest.fixture(scope="session")
def venue_vectors() -> dict[str, Any]:
    return json.loads(VECTORS_PATH.read_text())
