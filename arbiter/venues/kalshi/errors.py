"""Kalshi's error answers as typed errors: one reader for every body shape seen in the wild
(venues.md §1.9), shared by the REST client and the dry run's order check."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from arbiter.venues.base import (
    AuthError,
    DuplicateOrderError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
    VenueError,
)

__all__ = ["error_from_response"]


def error_from_response(status: int, body: str, retry_after: str | None = None) -> VenueError:
    """Map an error answer to a typed error, reading every body shape seen in the wild (§1.9)."""
    code, message = f"http_{status}", body[:200]
    try:
        data: Any = json.loads(body) if body else None
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        inner = data.get("error", data)
        if isinstance(inner, Mapping):
            code = str(inner.get("code") or code)
            message = str(inner.get("message") or inner.get("details") or "")
            details = inner.get("details")
            if details and details != message:
                message = f"{message} ({details})" if message else str(details)
        elif isinstance(inner, str):
            message = inner
            if status == 429:
                code = "too_many_requests"
    elif isinstance(data, str):
        message = data
    if status in (401, 403):
        return AuthError(code, message, status)
    if status == 404:
        return NotFoundError(code, message, status)
    if status == 409:
        return DuplicateOrderError(code, message, status)
    if status == 429:
        after = float(retry_after) if retry_after and retry_after.isdigit() else None
        return RateLimitedError(code, message, status, retry_after=after)
    if status >= 500:
        return TransientError(code, message, status)
    return RejectedError(code, message, status)
