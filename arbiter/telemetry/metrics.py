"""Prometheus metrics of the engine, with bounded label cardinality, and their HTTP endpoint.

Labels are venue, pair and tenant. Pairs and tenants come from configuration and user input, so
an unbounded label would let a config mistake (or a hostile tenant name) create a new time series
per value and take Prometheus down. Each label therefore goes through a :class:`LabelCap`: the
first ``cap`` distinct values are kept as they are, later ones are reported as ``"other"`` and
counted in ``arbiter_label_overflow_total`` so the overflow itself is visible.

Money gauges are exported in dollars. Prometheus samples are float64, so this is the one place
where exact ``Money`` integers become floats: for display and alerting only, never fed back.
Metric names and the alerts built on them are listed in docs/observability.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from arbiter.core.units import MONEY_SCALE, SIZE_SCALE
from arbiter.telemetry.latency import HdrCollector, LatencyHistogram

__all__ = ["LabelCap", "Metrics", "MetricsServer", "serve_metrics"]

OTHER = "other"
#: tick-to-order buckets (seconds): dense around the 2 ms alert threshold
TICK_TO_ORDER_BUCKETS = (50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 1.5e-3, 2e-3, 3e-3,
                         5e-3, 10e-3, 25e-3, 50e-3, 100e-3)
#: venue round trips (seconds)
ORDER_BUCKETS = (1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5, 5.0, 10.0)
#: saga outcomes that leave a residual (the "hedge failure" alert counts these)
FAILED_OUTCOMES = ("failed",)


class LabelCap:
    """Admit the first ``cap`` distinct values of one label; map the rest to ``"other"``."""

    def __init__(self, name: str, cap: int, overflow: Counter | None = None,
                 allowed: Iterable[str] = ()) -> None:
        self.name = name
        self.cap = cap
        self._seen: set[str] = set(allowed)
        self._overflow = overflow.labels(name) if overflow is not None else None
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self.cap:
                self._seen.add(value)
                return value
        if self._overflow is not None:
            self._overflow.inc()
        return OTHER

    @property
    def admitted(self) -> frozenset[str]:
        return frozenset(self._seen)


def dollars(amount: int) -> float:
    return amount / MONEY_SCALE


class Metrics:
    """Every engine metric on its own registry (tests and several engines never collide)."""

    def __init__(self, registry: CollectorRegistry | None = None, max_venues: int = 8,
                 max_pairs: int = 200, max_tenants: int = 50, namespace: str = "arbiter") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r, ns = self.registry, namespace

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, namespace=ns, registry=r)

        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, namespace=ns, registry=r)

        self.label_overflow = counter("label_overflow", "Label values folded into 'other' by the cap",
                                      ["label"])
        self.venue = LabelCap("venue", max_venues, self.label_overflow)
        self.pair = LabelCap("pair", max_pairs, self.label_overflow)
        self.tenant = LabelCap("tenant", max_tenants, self.label_overflow)

        self.ticks = counter("ticks", "Market-data frames received", ["venue"])
        self.book_updates = counter("book_updates", "Book events applied", ["venue", "pair"])
        self.opportunities = counter("opportunities", "Opportunities detected", ["tenant", "pair"])
        self.sagas = counter("sagas", "Sagas finished, by ending", ["tenant", "pair", "outcome"])
        self.risk_rejections = counter("risk_rejections", "Opportunities refused by risk",
                                       ["tenant", "reason"])
        self.order_latency = Histogram(
            "order_latency_seconds", "Order round trip to the venue (send to ack/final)", ["venue", "op"],
            namespace=ns, registry=r, buckets=ORDER_BUCKETS)
        self.tick_to_order = Histogram(
            "tick_to_order_seconds", "Venue frame received to first order sent", ["venue"],
            namespace=ns, registry=r, buckets=TICK_TO_ORDER_BUCKETS)
        self.pnl = gauge("pnl_dollars", "PnL by kind (realised, unrealised, fees, net)", ["tenant", "kind"])
        self.daily_pnl = gauge("daily_pnl_dollars", "Realised PnL of the current UTC day", ["tenant"])
        self.loss_limit = gauge("daily_loss_limit_dollars", "Configured max daily loss (absent = none)",
                                ["tenant"])
        self.exposure = gauge("exposure_dollars", "Money held at cost, per venue", ["tenant", "venue"])
        self.kill_switch = gauge("kill_switch", "1 while the tenant's kill switch is on", ["tenant"])
        self.open_sagas = gauge("open_sagas", "Sagas in flight", ["tenant"])
        self.ws_reconnects = counter("ws_reconnects", "WebSocket reconnections", ["venue"])
        self.ws_last_message = gauge("ws_last_message_timestamp_seconds",
                                     "Unix time of the last WebSocket frame", ["venue"])
        self.sequence_gaps = counter("sequence_gaps", "Gaps in venue sequence numbers (book resync)",
                                     ["venue"])
        self.rate_limited = counter("rate_limit_rejections", "Requests refused by a venue rate limit",
                                    ["venue"])
        # market-data health (docs/polymarket.md "Feeds"): what the feed refused, found stale,
        # restarted; and what detection did not trade because a book was too old or blocked
        self.feed_errors = counter("feed_errors", "Market-data input refused, by kind", ["venue", "kind"])
        self.feed_stale = counter("feed_stale", "Tokens found stale, by cause (stall, mismatch, ...)",
                                  ["venue", "reason"])
        self.feed_restarts = counter("feed_restarts", "Feed tasks restarted by the supervisor", ["venue"])
        self.stale_books_skipped = counter(
            "stale_books_skipped", "Opportunities not traded: a book too old or blocked (stale, resolved)",
            ["venue", "reason"])
        self.market_lifecycle = counter("market_lifecycle", "Lifecycle events (resolved, tick change, ...)",
                                        ["venue", "kind"])
        self.reconciliation_mismatches = gauge(
            "reconciliation_mismatches", "Positions differing between journal and venue at the last check",
            ["tenant", "venue"])
        # residuals (docs/adr/0171): contracts and value a failed saga left open, reported in
        # the journal this UTC day; set from the journal, so a restart neither loses nor doubles
        self.residual_contracts = gauge(
            "residual_contracts", "Contracts left one-sided by failed sagas today (journal)",
            ["tenant", "venue"])
        self.residual_value = gauge(
            "residual_value_dollars", "Value of today's residuals (mark, else cost)", ["tenant"])
        self.tick_to_order_hdr: dict[str, LatencyHistogram] = {}
        #: labelled children of hot-path metrics, keyed by (metric id, capped labels): bounded by
        #: the caps, and skips prometheus-client's per-call label validation and lock
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r.register(HdrCollector(f"{ns}_tick_to_order_hdr_seconds",
                                "Tick-to-order percentiles at HDR precision since start",
                                "venue", self.tick_to_order_hdr))

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- the hot path: cap the labels, one dict lookup, one inc -----------------------------------
    def tick(self, venue: str, now_s: float | None = None) -> None:
        v = self.venue(venue)
        self._child(self.ticks, v).inc()
        self._child(self.ws_last_message, v).set(time.time() if now_s is None else now_s)

    def book_update(self, venue: str, pair: str) -> None:
        self._child(self.book_updates, self.venue(venue), self.pair(pair)).inc()

    def opportunity(self, tenant: str, pair: str) -> None:
        self._child(self.opportunities, self.tenant(tenant), self.pair(pair)).inc()

    def saga_finished(self, tenant: str, pair: str, outcome: str) -> None:
        self.sagas.labels(self.tenant(tenant), self.pair(pair), outcome).inc()

    def risk_rejected(self, tenant: str, reason: str) -> None:
        self.risk_rejections.labels(self.tenant(tenant), reason).inc()

    def order_round_trip(self, venue: str, op: str, ns: int) -> None:
        self.order_latency.labels(self.venue(venue), op).observe(ns / 1e9)

    def tick_to_order_ns(self, venue: str, ns: int) -> None:
        v = self.venue(venue)
        self._child(self.tick_to_order, v).observe(ns / 1e9)
        hist = self.tick_to_order_hdr.get(v)
        if hist is None:
            hist = self.tick_to_order_hdr[v] = LatencyHistogram()
        hist.record(ns)

    def ws_reconnected(self, venue: str) -> None:
        self.ws_reconnects.labels(self.venue(venue)).inc()

    def sequence_gap(self, venue: str, count: int = 1) -> None:
        self.sequence_gaps.labels(self.venue(venue)).inc(count)

    def rate_limit_rejected(self, venue: str) -> None:
        self.rate_limited.labels(self.venue(venue)).inc()

    def feed_error(self, venue: str, kind: str, count: int = 1) -> None:
        self.feed_errors.labels(self.venue(venue), kind).inc(count)

    def feed_stale_found(self, venue: str, reason: str, count: int = 1) -> None:
        self.feed_stale.labels(self.venue(venue), reason).inc(count)

    def feed_restarted(self, venue: str, count: int = 1) -> None:
        self.feed_restarts.labels(self.venue(venue)).inc(count)

    def stale_book_skipped(self, venue: str, reason: str, count: int = 1) -> None:
        self.stale_books_skipped.labels(self.venue(venue), reason).inc(count)

    def lifecycle(self, venue: str, kind: str) -> None:
        self.market_lifecycle.labels(self.venue(venue), kind).inc()

    def zero(self, venues: Iterable[str], tenants: Iterable[str] = (), pairs: Iterable[str] = ()) -> None:
        """Create the series the alerts take ``increase()`` of at 0 (ADR 0141).

        A counter series born at its first increment has no earlier sample, so Prometheus sees
        no increase from it: the first sequence gap, 429 or failed saga would never alert.
        """
        venues, tenants, pairs = list(venues), list(tenants), list(pairs)
        for venue in venues:
            v = self.venue(venue)
            for counter in (self.ws_reconnects, self.sequence_gaps, self.rate_limited):
                counter.labels(v)
        for tenant in tenants:
            for pair in pairs:
                for outcome in FAILED_OUTCOMES:
                    self.sagas.labels(self.tenant(tenant), self.pair(pair), outcome)

    # -- state gauges ---------------------------------------------------------------------------
    def set_pnl(self, tenant: str, realised: int, unrealised: int, fees: int) -> None:
        t = self.tenant(tenant)
        for kind, value in (("realised", realised), ("unrealised", unrealised), ("fees", fees),
                            ("net", realised + unrealised - fees)):
            self.pnl.labels(t, kind).set(dollars(value))

    def set_daily(self, tenant: str, daily_pnl: int, loss_limit: int | None) -> None:
        t = self.tenant(tenant)
        self.daily_pnl.labels(t).set(dollars(daily_pnl))
        if loss_limit is None:
            with contextlib.suppress(KeyError):
                self.loss_limit.remove(t)
        else:
            self.loss_limit.labels(t).set(dollars(loss_limit))

    def set_exposure(self, tenant: str, venue: str, amount: int) -> None:
        self.exposure.labels(self.tenant(tenant), self.venue(venue)).set(dollars(amount))

    def set_kill_switch(self, tenant: str, on: bool) -> None:
        self.kill_switch.labels(self.tenant(tenant)).set(1 if on else 0)

    def set_residuals(self, tenant: str, residuals: Iterable[Mapping[str, Any]],
                      venues: Iterable[str]) -> None:
        """Residual gauges of ``tenant`` from its journaled residual reports (every venue set,
        0 where none, so the alert clears when the day rolls over)."""
        t = self.tenant(tenant)
        contracts = dict.fromkeys(venues, 0)
        value = 0
        for r in residuals:
            venue = str(r["venue"])
            contracts[venue] = contracts.get(venue, 0) + int(r["contracts"])
            value += int(r["value"])
        for venue, n in contracts.items():
            self.residual_contracts.labels(t, self.venue(venue)).set(n / SIZE_SCALE)
        self.residual_value.labels(t).set(dollars(value))

    def set_reconciliation(self, tenant: str, venue: str, mismatches: int) -> None:
        self.reconciliation_mismatches.labels(self.tenant(tenant), self.venue(venue)).set(mismatches)

    def record_reconciliation(self, tenant: str, report: Any, venues: Iterable[str]) -> int:
        """Set the mismatch gauge of every venue from a reconciliation report (clean venues to 0).

        ``report`` is an :class:`arbiter.execution.reconcile.ReconcileReport`; call this after each
        round (e.g. with ``ReconcileJob.last``) so a resolved difference clears its alert.
        """
        counts = dict.fromkeys(venues, 0)
        for diff in report.differences:
            counts[diff.venue] = counts.get(diff.venue, 0) + 1
        for venue, n in counts.items():
            self.set_reconciliation(tenant, venue, n)
        return sum(counts.values())

    def export_engine(self, engine: Any) -> None:
        """Refresh the state gauges from an :class:`~arbiter.control.engine.InProcessEngine`."""
        for name in engine.tenants():
            risk = engine.risk_book(name)
            book = engine.position_book(name)
            pnl = book.pnl()
            self.set_pnl(name, pnl.realised, pnl.unrealised, pnl.fees)
            self.set_daily(name, risk.daily_pnl, risk.limits.max_daily_loss)
            self.set_kill_switch(name, risk.killed is not None)
            for venue, basis in book.venue_basis().items():
                self.set_exposure(name, venue, basis)
            self.open_sagas.labels(self.tenant(name)).set(len(risk.reservations))


@dataclass(slots=True)
class MetricsServer:
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(metrics: Metrics, host: str = "127.0.0.1", port: int = 0) -> MetricsServer:
    """Serve ``/metrics`` from a daemon thread (port 0 picks a free port)."""
    server, thread = start_http_server(port, host, metrics.registry)
    return MetricsServer(host, int(server.server_port), server, thread)
