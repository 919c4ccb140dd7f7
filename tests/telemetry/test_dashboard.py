"""The committed Grafana dashboard only uses metrics the engine exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from arbiter.telemetry.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "cluster" / "grafana" / "arbiter.json"
ALERTS = Path(__file__).resolve().parents[2] / "cluster" / "prometheus" / "alerts.yml"


def exported_series_names() -> set[str]:
    m = Metrics()
    m.tick("k")
    m.book_update("k", "p")
    m.opportunity("t", "p")
    m.saga_finished("t", "p", "completed")
    m.risk_rejected("t", "balance")
    m.order_round_trip("k", "place", 1000)
    m.tick_to_order_ns("k", 1000)
    m.set_pnl("t", 0, 0, 0)
    m.set_daily("t", 0, 1)
    m.set_exposure("t", "k", 0)
    m.set_kill_switch("t", False)
    m.set_reconciliation("t", "k", 0)
    m.ws_reconnected("k")
    m.sequence_gap("k")
    m.rate_limit_rejected("k")
    m.set_residuals("t", [], ["k"])
    m.open_sagas.labels("t").set(0)
    m.label_overflow.labels("pair").inc(0)
    names = set()
    for fam in text_string_to_metric_families(generate_latest(m.registry).decode()):
        names |= {s.name for s in fam.samples}
    return names


def referenced(expr: str) -> set[str]:
    return set(re.findall(r"\barbiter_[a-z_]+\b", expr))


def test_dashboard_metrics_exist() -> None:
    dash = json.loads(DASHBOARD.read_text())
    names = exported_series_names()
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    used = set().union(*(referenced(e) for e in exprs))
    assert used <= names, used - names
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))


def test_alert_rules_use_exported_metrics() -> None:
    names = exported_series_names()
    used = referenced(ALERTS.read_text())
    assert used <= names, used - names
