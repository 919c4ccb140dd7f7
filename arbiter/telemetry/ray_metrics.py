"""The metrics the Ray actors export through Ray's own metrics agent (the Ray dashboard and the
cluster's Prometheus scrape of the Ray nodes), beside the arbiter's own Prometheus endpoint
(:mod:`arbiter.telemetry.metrics`, the one the alert rules read).

One home for their names and help texts, so ``docs/reference/metrics.md`` and the dashboards
find them in one place. Each class is built inside the actor that exports it (Ray's metrics
need a running worker); values are exported, never computed with (money as float dollars here
only).
"""

from __future__ import annotations

from ray.util import metrics

__all__ = ["ArbiterRayMetrics", "MonitorRayMetrics", "RiskRayMetrics"]


class ArbiterRayMetrics:
    """The arbiter actor's: tick rate, opportunities, sagas by outcome, detection → first leg."""

    def __init__(self) -> None:
        self.ticks = metrics.Gauge("arbiter_ticks_per_second", "book events through detection")
        self.opportunities = metrics.Counter("arbiter_opportunities", "opportunities detected")
        self.sagas = metrics.Counter("arbiter_sagas", "sagas by outcome", tag_keys=("outcome",))
        self.detect_to_order = metrics.Histogram(
            "arbiter_detect_to_order_ms", "detection to first-leg order sent (in process)",
            boundaries=[0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 50],
        )
        self.realised_pnl = metrics.Gauge("arbiter_realised_pnl_dollars", "realised PnL of this run")


class RiskRayMetrics:
    """The risk manager's: exposure and day PnL summed across tenants."""

    def __init__(self) -> None:
        self.exposure = metrics.Gauge("arbiter_open_exposure_dollars",
                                      "reserved + held money across tenants")
        self.daily_pnl = metrics.Gauge("arbiter_daily_pnl_dollars", "day PnL across tenants")


class MonitorRayMetrics:
    """A market monitor's: book events applied, per venue."""

    def __init__(self, venue: str) -> None:
        self.events = metrics.Counter(
            "arbiter_feed_events", "book events applied by a market monitor", tag_keys=("venue",)
        )
        self.events.set_default_tags({"venue": venue})
