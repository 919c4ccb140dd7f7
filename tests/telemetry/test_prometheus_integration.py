"""A real Prometheus server (Debian package) scrapes the metrics endpoint; we query it back."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arbiter.core.units import MONEY_SCALE
from arbiter.telemetry.metrics import Metrics, MetricsServer, serve_metrics

RULES = Path(__file__).resolve().parents[2] / "cluster" / "prometheus" / "alerts.yml"
DASHBOARD = Path(__file__).resolve().parents[2] / "cluster" / "grafana" / "arbiter.json"

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Prometheus:
    def __init__(self, tmp: Path, target_port: int) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus missing: run make sysdeps (tools/sysdeps.sh)"
        shutil.copy(RULES, tmp / "alerts.yml")
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files: [alerts.yml]\n"
            "scrape_configs:\n  - job_name: arbiter\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        )
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait(lambda: self.get("/-/ready", raw=True) is not None, "prometheus ready")

    def get(self, path: str, raw: bool = False, **params: str) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = resp.read()
        except OSError:
            return None
        return body if raw else json.loads(body)

    def query(self, expr: str) -> list[dict[str, Any]]:
        out = self.get("/api/v1/query", query=expr)
        assert out is None or out["status"] == "success", out
        return [] if out is None else list(out["data"]["result"])

    def wait(self, cond: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert self.proc.poll() is None, f"prometheus exited: {self.proc.returncode}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    def value(self, expr: str) -> float | None:
        res = self.query(expr)
        return float(res[0]["value"][1]) if len(res) == 1 else None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture
def metrics() -> Iterator[tuple[Metrics, MetricsServer]]:
    m = Metrics(max_pairs=3)
    server = serve_metrics(m)
    yield m, server
    server.close()


@pytest.fixture
def prom(tmp_path: Path, metrics: tuple[Metrics, MetricsServer]) -> Iterator[Prometheus]:
    p = Prometheus(tmp_path, metrics[1].port)
    yield p
    p.close()


@pytest.mark.slow
def test_prometheus_scrapes_and_evaluates_rules(
    metrics: tuple[Metrics, MetricsServer], prom: Prometheus
) -> None:
    m, _ = metrics
    for _ in range(3):
        m.tick("kalshi")
    for pair in ("A", "B", "C", "D", "E"):  # cap is 3: D and E fold into "other"
        m.book_update("kalshi", pair)
    m.opportunity("acme", "A")
    m.saga_finished("acme", "A", "completed")
    for ns in (150_000, 180_000, 240_000, 1_200_000):
        m.tick_to_order_ns("kalshi", ns)
    m.order_round_trip("kalshi", "place", 35_000_000)
    m.set_pnl("acme", 12 * MONEY_SCALE, -2 * MONEY_SCALE, MONEY_SCALE // 2)
    m.set_daily("acme", -40 * MONEY_SCALE, 100 * MONEY_SCALE)
    m.set_exposure("acme", "polymarket", 250 * MONEY_SCALE)
    m.set_kill_switch("acme", True)

    prom.wait(lambda: prom.value('up{job="arbiter"}') == 1.0, "first scrape")
    assert prom.value('arbiter_ticks_total{venue="kalshi"}') == 3.0
    assert prom.value('arbiter_pnl_dollars{tenant="acme",kind="net"}') == 9.5
    assert prom.value('arbiter_exposure_dollars{tenant="acme",venue="polymarket"}') == 250.0
    pairs = {r["metric"]["pair"]: float(r["value"][1]) for r in prom.query("arbiter_book_updates_total")}
    assert pairs == {"A": 1.0, "B": 1.0, "C": 1.0, "other": 2.0}
    assert prom.value('arbiter_label_overflow_total{label="pair"}') == 2.0
    assert prom.value('arbiter_tick_to_order_seconds_count{venue="kalshi"}') == 4.0
    hdr_p50 = prom.value('arbiter_tick_to_order_hdr_seconds{venue="kalshi",quantile="0.5"}')
    assert hdr_p50 is not None and abs(hdr_p50 - 180e-6) <= 180e-9  # within HDR's 0.1 %
    assert prom.value('arbiter_order_latency_seconds_bucket{venue="kalshi",op="place",le="0.05"}') == 1.0

    # the rules file is loaded and evaluated against the scraped series
    groups = prom.get("/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in groups} >= {"arbiter-latency", "arbiter-feeds", "arbiter-risk"}
    prom.wait(
        lambda: any(
            a["labels"]["alertname"] == "ArbiterKillSwitchOn" and a["state"] == "firing"
            for a in prom.get("/api/v1/alerts")["data"]["alerts"]
        ),
        "kill switch alert",
    )
    firing = {a["labels"]["alertname"] for a in prom.get("/api/v1/alerts")["data"]["alerts"]}
    assert "ArbiterDailyLossLimitReached" not in firing  # -40 of 100

    # every dashboard query parses and runs on this Prometheus (variables set to "all")
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dash["panels"] for t in panel.get("targets", [])]
    exprs.append(dash["annotations"]["list"][0]["expr"])
    for expr in exprs:
        query = expr.replace("$tenant", ".*").replace("$venue", ".*")
        out = prom.get("/api/v1/query", query=query)
        assert out is not None and out["status"] == "success", expr
    assert prom.query('arbiter_pnl_dollars{tenant=~".*",kind="net"}')

    # a later change shows up in the next scrape
    m.set_daily("acme", -100 * MONEY_SCALE, 100 * MONEY_SCALE)
    prom.wait(
        lambda: any(
            a["labels"]["alertname"] == "ArbiterDailyLossLimitReached"
            for a in prom.get("/api/v1/alerts")["data"]["alerts"]
        ),
        "loss limit alert",
    )
