"""One connectivity step of one venue, as ``arbiter check-connectivity`` reports it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Check"]


@dataclass(frozen=True)
class Check:
    """One connectivity step of one venue."""

    venue: str
    step: str
    ok: bool
    latency_ms: float | None
    detail: str = ""
