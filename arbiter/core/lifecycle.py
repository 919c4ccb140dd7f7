"""A Kalshi market's lifecycle: which states trade, and what each venue event moves it to.

Source: docs ``/getting_started/market_lifecycle`` (statuses and transitions) and the
``market_lifecycle_v2`` WebSocket channel (docs ``/websockets/market-and-event-lifecycle``:
``created``, ``activated``, ``deactivated``, ``close_date_updated``, ``determined``, ``settled``,
``price_level_structure_updated``, ``metadata_updated``). kalshi-python-sync 3.34.0 ``Market``
allows exactly the REST statuses of :class:`MarketPhase`.

Only ``active`` trades. ``inactive`` is a pause ("trading is paused but the market has not
closed"; on reactivation "all resting orders are cancelled"), ``closed`` takes no new orders,
``determined``/``disputed``/``amended`` wait for settlement and ``finalized`` has paid out. A
``price_level_structure_updated`` event means the grid our book was built on may be wrong: the
market stops trading until the engine is restarted with the new grid. An event type or status
we do not know is a :class:`LifecycleError`; the caller stops trading the market (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from arbiter.core.book import Outcome

__all__ = [
    "LifecycleError",
    "LifecycleUpdate",
    "MarketPhase",
    "apply_lifecycle",
    "phase_from_status",
]


class LifecycleError(ValueError):
    """A lifecycle event or status we cannot interpret; the market must not be traded."""


class MarketPhase(StrEnum):
    INITIALIZED = "initialized"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CLOSED = "closed"
    DETERMINED = "determined"
    DISPUTED = "disputed"
    AMENDED = "amended"
    FINALIZED = "finalized"
    #: not a venue status: the grid changed under us (``price_level_structure_updated``)
    REGRIDDED = "regridded"

    @property
    def trades(self) -> bool:
        return self is MarketPhase.ACTIVE


#: REST ``status`` values of SDKs before 3.x and the list filter's words, read as phases
_LEGACY_STATUS: Final = {"settled": MarketPhase.FINALIZED, "open": MarketPhase.ACTIVE,
                         "paused": MarketPhase.INACTIVE, "unopened": MarketPhase.INITIALIZED}


def phase_from_status(status: object, market: str = "?") -> MarketPhase:
    """A market object's ``status`` as a phase (unknown: :class:`LifecycleError`)."""
    if isinstance(status, str):
        if status in _LEGACY_STATUS:
            return _LEGACY_STATUS[status]
        try:
            return MarketPhase(status)
        except ValueError:
            pass
    raise LifecycleError(f"{market}: unknown market status {status!r}")


@dataclass(frozen=True, slots=True)
class LifecycleUpdate:
    """What one ``market_lifecycle_v2`` message means for one market."""

    market: str
    event_type: str
    #: the phase the market is in afterwards (``None``: unchanged, e.g. ``metadata_updated``)
    phase: MarketPhase | None
    #: the winning outcome, when the event states it (``determined`` / ``settled``)
    result: Outcome | None = None
    #: the new close time (``close_date_updated``), Unix seconds
    close_ts: int | None = None


_RESULTS: Final = {"yes": Outcome.YES, "no": Outcome.NO}


def apply_lifecycle(msg: Mapping[str, Any], now_s: int,
                    current: MarketPhase | None = None) -> LifecycleUpdate:
    """Interpret one ``market_lifecycle_v2`` ``msg`` (the frame's inner object).

    ``close_date_updated`` closes the market when the new close time has passed (a market
    "closed ahead of its scheduled close time") and otherwise leaves the phase as it is.
    """
    market = msg.get("market_ticker")
    if not isinstance(market, str) or not market:
        raise LifecycleError("lifecycle message without market_ticker")
    event = msg.get("event_type")
    result_text = msg.get("result")
    result = _RESULTS.get(result_text) if isinstance(result_text, str) else None
    if result_text not in (None, "") and result is None:
        raise LifecycleError(f"{market}: unknown market result {result_text!r} "
                             "(scalar and void results are not traded here)")
    if event == "created":
        return LifecycleUpdate(market, event, MarketPhase.INITIALIZED)
    if event == "activated":
        return LifecycleUpdate(market, event, MarketPhase.ACTIVE)
    if event == "deactivated":
        paused = msg.get("is_deactivated", True)
        return LifecycleUpdate(market, event,
                               MarketPhase.INACTIVE if paused is not False else MarketPhase.ACTIVE)
    if event == "close_date_updated":
        close = msg.get("close_ts")
        if isinstance(close, bool) or not isinstance(close, int):
            raise LifecycleError(f"{market}: close_date_updated without an integer close_ts")
        phase = MarketPhase.CLOSED if close <= now_s else current
        return LifecycleUpdate(market, event, phase, close_ts=close)
    if event == "determined":
        return LifecycleUpdate(market, event, MarketPhase.DETERMINED, result)
    if event == "settled":
        return LifecycleUpdate(market, event, MarketPhase.FINALIZED, result)
    if event == "price_level_structure_updated":
        return LifecycleUpdate(market, event, MarketPhase.REGRIDDED)
    if event == "metadata_updated":
        return LifecycleUpdate(market, event, None)
    raise LifecycleError(f"{market}: unknown lifecycle event {event!r}")
