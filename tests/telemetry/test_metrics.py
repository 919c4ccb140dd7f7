"""Metric values, label caps and the HTTP endpoint (scraped with a plain HTTP client)."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from arbiter.control.engine import InProcessEngine
from arbiter.core.book import Outcome
from arbiter.core.risk import RiskLimits
from arbiter.core.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE
from arbiter.telemetry.metrics import OTHER, LabelCap, Metrics, serve_metrics

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    out = {}
    for fam in text_string_to_metric_families(generate_latest(m.registry).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_label_cap_admits_first_values_then_folds() -> None:
    cap = LabelCap("pair", 2)
    assert [cap(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", OTHER, "a", OTHER, "b"]
    assert cap.admitted == {"a", "b"}


def test_label_cap_is_safe_under_threads() -> None:
    cap = LabelCap("pair", 50)
    seen: list[str] = []

    def work(start: int) -> None:
        seen.extend(cap(f"p{start + i}") for i in range(100))

    threads = [threading.Thread(target=work, args=(k * 100,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cap.admitted) == 50 and len(set(seen) - {OTHER}) == 50


def test_cardinality_is_bounded_per_label() -> None:
    m = Metrics(max_venues=2, max_pairs=5, max_tenants=3)
    for i in range(1000):
        m.book_update(f"v{i % 4}", f"pair-{i}")
        m.opportunity(f"tenant-{i}", f"pair-{i}")
    s = samples(m)
    book_series = [k for k in s if k[0] == "arbiter_book_updates_total"]
    assert len(book_series) <= 3 * 6  # (2 venues + other) x (5 pairs + other)
    assert sum(v for k, v in s.items() if k[0] == "arbiter_book_updates_total") == 1000
    tenants = {dict(k[1])["tenant"] for k in s if k[0] == "arbiter_opportunities_total"}
    assert tenants == {"tenant-0", "tenant-1", "tenant-2", OTHER}
    assert s[("arbiter_label_overflow_total", (("label", "tenant"),))] == 997


def test_engine_state_export() -> None:
    eng = InProcessEngine(["acme"], limits=RiskLimits(max_daily_loss=50 * MONEY_SCALE))
    eng.position_book("acme").apply_fill(
        "polymarket",
        "tok",
        Outcome.NO,
        "buy",
        10 * SIZE_SCALE,
        PRICE_SCALE // 4 * 10 * SIZE_SCALE,
        MONEY_SCALE // 10,
    )
    eng.risk_book("acme").daily_pnl = -7 * MONEY_SCALE
    eng.risk_book("acme").trip("test", 0)
    m = Metrics()
    m.export_engine(eng)
    s = samples(m)
    assert s[("arbiter_exposure_dollars", (("tenant", "acme"), ("venue", "polymarket")))] == 2.5
    assert s[("arbiter_pnl_dollars", (("kind", "fees"), ("tenant", "acme")))] == 0.1
    assert s[("arbiter_daily_pnl_dollars", (("tenant", "acme"),))] == -7.0
    assert s[("arbiter_daily_loss_limit_dollars", (("tenant", "acme"),))] == 50.0
    assert s[("arbiter_kill_switch", (("tenant", "acme"),))] == 1.0
    m.set_daily("acme", 0, None)  # limit removed -> series disappears (the alert cannot fire)
    assert ("arbiter_daily_loss_limit_dollars", (("tenant", "acme"),)) not in samples(m)


def test_http_endpoint_serves_all_families() -> None:
    m = Metrics()
    m.tick("kalshi", now_s=1_700_000_000.0)
    m.ws_reconnected("kalshi")
    m.sequence_gap("kalshi", 3)
    m.rate_limit_rejected("polymarket")
    m.saga_finished("acme", "FED", "failed")
    m.risk_rejected("acme", "kill_switch")
    m.set_reconciliation("acme", "kalshi", 2)
    m.tick_to_order_ns("kalshi", 2_500_000)
    server = serve_metrics(m)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            body = resp.read().decode()
    finally:
        server.close()
    names = {f.name for f in text_string_to_metric_families(body)}
    assert names >= {
        "arbiter_ticks",
        "arbiter_book_updates",
        "arbiter_opportunities",
        "arbiter_sagas",
        "arbiter_order_latency_seconds",
        "arbiter_tick_to_order_seconds",
        "arbiter_pnl_dollars",
        "arbiter_exposure_dollars",
        "arbiter_ws_reconnects",
        "arbiter_sequence_gaps",
        "arbiter_rate_limit_rejections",
        "arbiter_ws_last_message_timestamp_seconds",
        "arbiter_reconciliation_mismatches",
        "arbiter_kill_switch",
        "arbiter_tick_to_order_hdr_seconds",
        "arbiter_risk_rejections",
    }
    assert 'arbiter_sequence_gaps_total{venue="kalshi"} 3.0' in body
    assert 'arbiter_tick_to_order_seconds_bucket{le="0.002",venue="kalshi"} 0.0' in body
    assert 'arbiter_tick_to_order_seconds_bucket{le="0.003",venue="kalshi"} 1.0' in body


def test_reconciliation_report_sets_and_clears_gauges() -> None:
    from arbiter.execution.reconcile import Difference, ReconcileReport

    m = Metrics()
    dirty = ReconcileReport(3, [Difference("kalshi", "FED", 10, 8), Difference("kalshi", "BTC", 0, 1)])
    assert m.record_reconciliation("acme", dirty, ["kalshi", "polymarket"]) == 2
    s = samples(m)
    assert s[("arbiter_reconciliation_mismatches", (("tenant", "acme"), ("venue", "kalshi")))] == 2
    assert s[("arbiter_reconciliation_mismatches", (("tenant", "acme"), ("venue", "polymarket")))] == 0
    assert m.record_reconciliation("acme", ReconcileReport(3), ["kalshi", "polymarket"]) == 0
    assert samples(m)[("arbiter_reconciliation_mismatches", (("tenant", "acme"), ("venue", "kalshi")))] == 0


def test_feed_health_families() -> None:
    """What the engine exports from the Polymarket feed and the detector (docs/polymarket.md)."""
    m = Metrics()
    m.feed_error("polymarket", "nesting", 2)
    m.feed_stale_found("polymarket", "stall")
    m.feed_restarted("polymarket")
    m.stale_book_skipped("polymarket", "blocked", 3)
    m.stale_book_skipped("kalshi", "age")
    m.lifecycle("polymarket", "market_resolved")
    body = generate_latest(m.registry).decode()
    assert 'arbiter_feed_errors_total{kind="nesting",venue="polymarket"} 2.0' in body
    assert 'arbiter_feed_stale_total{reason="stall",venue="polymarket"} 1.0' in body
    assert 'arbiter_feed_restarts_total{venue="polymarket"} 1.0' in body
    assert 'arbiter_stale_books_skipped_total{reason="blocked",venue="polymarket"} 3.0' in body
    assert 'arbiter_stale_books_skipped_total{reason="age",venue="kalshi"} 1.0' in body
    assert 'arbiter_market_lifecycle_total{kind="market_resolved",venue="polymarket"} 1.0' in body
