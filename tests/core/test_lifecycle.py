"""Kalshi market lifecycle (docs /getting_started/market_lifecycle): phases and events."""

from __future__ import annotations

import pytest

from arbiter.core.book import Outcome
from arbiter.core.lifecycle import LifecycleError, MarketPhase, apply_lifecycle, phase_from_status


@pytest.mark.parametrize(
    ("status", "phase"),
    [("initialized", MarketPhase.INITIALIZED), ("active", MarketPhase.ACTIVE),
     ("inactive", MarketPhase.INACTIVE), ("closed", MarketPhase.CLOSED),
     ("determined", MarketPhase.DETERMINED), ("disputed", MarketPhase.DISPUTED),
     ("amended", MarketPhase.AMENDED), ("finalized", MarketPhase.FINALIZED),
     ("settled", MarketPhase.FINALIZED)],  # the status SDK 3.2.0 knew
)
def test_rest_statuses(status: str, phase: MarketPhase) -> None:
    assert phase_from_status(status) is phase
    assert phase.trades is (phase is MarketPhase.ACTIVE)


def test_an_unknown_status_is_an_error() -> None:
    with pytest.raises(LifecycleError, match="KXA: unknown market status 'halted'"):
        phase_from_status("halted", "KXA")
    with pytest.raises(LifecycleError):
        phase_from_status(None)


NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("msg", "phase", "result"),
    [
        ({"event_type": "created"}, MarketPhase.INITIALIZED, None),
        ({"event_type": "activated"}, MarketPhase.ACTIVE, None),
        ({"event_type": "deactivated", "is_deactivated": True}, MarketPhase.INACTIVE, None),
        ({"event_type": "close_date_updated", "close_ts": NOW - 5}, MarketPhase.CLOSED, None),
        ({"event_type": "close_date_updated", "close_ts": NOW + 60}, MarketPhase.ACTIVE, None),
        ({"event_type": "determined", "result": "yes", "determination_ts": NOW},
         MarketPhase.DETERMINED, Outcome.YES),
        ({"event_type": "settled", "settled_ts": NOW}, MarketPhase.FINALIZED, None),
        ({"event_type": "settled", "result": "no"}, MarketPhase.FINALIZED, Outcome.NO),
        ({"event_type": "price_level_structure_updated"}, MarketPhase.REGRIDDED, None),
        ({"event_type": "metadata_updated"}, None, None),
    ],
)
def test_events(msg: dict[str, object], phase: MarketPhase | None, result: Outcome | None) -> None:
    update = apply_lifecycle({"market_ticker": "KXA", **msg}, NOW, MarketPhase.ACTIVE)
    assert (update.market, update.phase, update.result) == ("KXA", phase, result)
    assert update.phase is None or update.phase.trades is (phase is MarketPhase.ACTIVE)


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        ({"market_ticker": "KXA", "event_type": "paused"}, "unknown lifecycle event 'paused'"),
        ({"event_type": "settled"}, "without market_ticker"),
        ({"market_ticker": "KXA", "event_type": "determined", "result": "scalar"},
         "unknown market result 'scalar'"),
        ({"market_ticker": "KXA", "event_type": "close_date_updated"}, "without an integer"),
    ],
)
def test_what_we_cannot_read_is_an_error(msg: dict[str, object], message: str) -> None:
    with pytest.raises(LifecycleError, match=message):
        apply_lifecycle(msg, NOW)
