"""Every rule of cluster/prometheus/alerts.yml fires from a running engine, scraped by a real
Prometheus, when its fault is injected; and none does while the engine is healthy (issue 20).

The engine is the real :class:`~arbiter.engine.arbiter.Arbiter`, in this process (as Ray runs it,
minus Ray: a Ray actor would add a minute of start-up and nothing the rules read), serving its
own metrics endpoint, trading against both local venues. Faults go in through the local venues
(``/_sim/faults``: sequence gaps, 429s, failing creates; a stopped venue; an order placed by hand
on the engine's account), through the operator's controls (kill switch, loss limit), or by
starving the engine of CPU (tick-to-order). The rules are the shipped ones with every ``for:``
shortened to 1 s (a test copy); thresholds and windows are as shipped.
"""

from __future__ import annotations

import asyncio
import gc
import re
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from arbiter.app.build import kalshi_config, kalshi_signer
from arbiter.app.config import load_config
from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size
from arbiter.engine import arbiter as actors
from arbiter.engine.arbiter import Arbiter
from arbiter.sim.common import admin_headers
from arbiter.sim.launcher import LocalVenues
from arbiter.venues.base import Action, OrderRequest, TimeInForce
from arbiter.venues.kalshi.rest import KalshiRestClient
from tests.telemetry.test_prometheus_integration import RULES, Prometheus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RULE_NAMES = re.findall(r"- alert: (\w+)", RULES.read_text())


@pytest_asyncio.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                  ) -> AsyncIterator[tuple[LocalVenues, Arbiter, Prometheus]]:
    # the engine's own process tuning, as tune_for_latency does it there: the GIL switch
    # interval, and the long-lived heap frozen out of the collector (here that heap is a whole
    # test session's: a gen-2 sweep over it is a multi-ms pause that fired the tick-to-order rule
    # while healthy in CI); both undone afterwards
    monkeypatch.setattr(actors, "tune_for_latency", lambda *a, **k: sys.setswitchinterval(0.0002))
    monkeypatch.setattr(sys, "setswitchinterval", sys.setswitchinterval)
    interval = sys.getswitchinterval()
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    venues = LocalVenues(tmp_path / "paper")
    await venues.start()
    arb = Arbiter(load_config(venues.config_path).with_overrides(reconcile_s=3600.0))
    prom: Prometheus | None = None
    try:
        while arb.ready_ns is None and arb.error is None:
            await asyncio.sleep(0.05)
        assert arb.error is None and arb.metrics_server is not None
        prom = await asyncio.to_thread(Prometheus, tmp_path, arb.metrics_server.port)
        # the test copy: the shipped rules, every ``for:`` shortened to 1 s
        (tmp_path / "alerts.yml").write_text(re.sub(r"for: \d+m", "for: 1s", RULES.read_text()))
        await asyncio.to_thread(_reload, prom)
        yield venues, arb, prom
    finally:
        if prom is not None:
            prom.close()
        await arb.stop()
        if arb.metrics_server is not None:
            arb.metrics_server.close()
        arb._metrics_task.cancel()
        await venues.stop()
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _reload(prom: Prometheus) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(prom.base + "/-/reload", method="POST"), timeout=5)
    prom.wait(lambda: all(r["duration"] == 1 for g in prom.get("/api/v1/rules")["data"]["groups"]
                          for r in g["rules"] if r["type"] == "alerting" and r["duration"]),
              "the test copy loaded")


async def alerts(prom: Prometheus) -> dict[str, str]:
    out = await asyncio.to_thread(prom.get, "/api/v1/alerts")
    return {a["labels"]["alertname"]: a["state"] for a in out["data"]["alerts"]} if out else {}


async def firing(prom: Prometheus, name: str, timeout_s: float = 30) -> float:
    print("waiting for", name, time.strftime("%X"), flush=True)
    started = time.monotonic()
    while (await alerts(prom)).get(name) != "firing":
        assert time.monotonic() - started < timeout_s, (name, await alerts(prom))
        await asyncio.sleep(0.25)
    return time.monotonic() - started


async def faults(url: str, token: str, **settings: object) -> None:
    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/_sim/faults", json=settings, headers=admin_headers(token)) as r:
        assert r.status == 200, await r.text()


async def conclusive(arb: Arbiter) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        out = await arb.reconcile("paper")
        if out["conclusive"]:  # this round, begun after the call (not one already running)
            return out
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)  # each round spends the tenant's read budget: pace them


async def test_each_rule_fires_from_the_running_engine_and_none_while_healthy(
    running: tuple[LocalVenues, Arbiter, Prometheus],
) -> None:
    venues, arb, prom = running
    assert venues.kalshi is not None and venues.polymarket is not None
    kalshi_url = f"http://127.0.0.1:{venues.kalshi.port}"
    took: dict[str, float] = {}

    # -- healthy: trading, scraped, every rule evaluated several times, nothing pending
    await asyncio.to_thread(prom.wait, lambda: prom.value('up{job="arbiter"}') == 1.0, "scrape")
    deadline = time.monotonic() + 60
    while sum(arb.tick.stats.sagas.values()) < 2:
        assert time.monotonic() < deadline, "no sagas"
        await asyncio.sleep(0.2)
    await asyncio.sleep(4)
    assert await alerts(prom) == {}, arb.tick.stats.first_leg.count

    # -- the engine starved of CPU (a thread holding the GIL): first legs leave late
    stop = threading.Event()

    def hog() -> None:
        while not stop.is_set():
            pass

    hogs = [threading.Thread(target=hog, daemon=True) for _ in range(2)]
    for t in hogs:
        t.start()
    try:
        took["ArbiterTickToOrderP99High"] = await firing(prom, "ArbiterTickToOrderP99High", 60)
    finally:
        stop.set()

    # -- Kalshi skips sequence numbers: the feed resyncs, the engine counts the gaps
    # (one at a time: gaps that arrive while the feed resyncs are part of the same resync)
    assert arb.feeds is not None
    kstats = arb.feeds.kalshi.stats
    deadline = time.monotonic() + 60
    while kstats.gaps < 8:  # (a gap injected into a subscription being resynced is not one)
        seen, again = kstats.gaps, time.monotonic() + 2
        await faults(kalshi_url, venues.admin_token, seq_gap_next=1)
        while kstats.gaps == seen and time.monotonic() < again:
            assert time.monotonic() < deadline, kstats
            await asyncio.sleep(0.05)
    took["ArbiterSequenceGaps"] = await firing(prom, "ArbiterSequenceGaps")

    # -- Kalshi answers 429: every refused read is counted (the reconciliation's, here)
    await faults(kalshi_url, venues.admin_token, http_burst=[429, 40], http_burst_methods=["GET"])
    deadline = time.monotonic() + 30
    while arb.metrics.rate_limited.labels("kalshi")._value.get() < 12:
        assert time.monotonic() < deadline
        await arb.reconcile("paper")
    took["ArbiterRateLimited"] = await firing(prom, "ArbiterRateLimited")
    await faults(kalshi_url, venues.admin_token, reset=True)
    assert (await conclusive(arb))["blocking"] is None

    # -- an order placed by hand on the engine's account: reconciliation mismatch
    tenant, pair = arb.config.tenants[0], arb.config.pairs[0]
    async with KalshiRestClient(kalshi_config(arb.config, tenant), kalshi_signer(tenant)) as hand:
        ack = await hand.place_order(OrderRequest(pair.kalshi_ticker, Outcome.YES, Action.BUY,
                                                  Price(100), Size(1_000_000), "by-hand",
                                                  TimeInForce.GTC))
        assert (await conclusive(arb))["blocking"] == "reconcile_mismatch"
        took["ArbiterReconciliationMismatch"] = await firing(prom, "ArbiterReconciliationMismatch")
        await hand.cancel_order(ack.order_id)
    assert (await conclusive(arb))["blocking"] is None

    # -- the kill switch, tripped by the operator
    assert await arb.trip("paper", "alert test")
    took["ArbiterKillSwitchOn"] = await firing(prom, "ArbiterKillSwitchOn")
    assert await arb.reset("paper")

    # -- Kalshi refuses every create: sagas lose their leg 1 on unwinding (a loss) or keep a
    # residual (failed); the operator's loss limit is then set around the day's loss
    rt = arb.tenants["paper"]
    await faults(kalshi_url, venues.admin_token, http_burst=[400, 10_000], http_burst_methods=["POST"])
    deadline = time.monotonic() + 60
    while rt.risk.book.daily_pnl >= 0 or not arb.tick.stats.sagas.get("failed"):
        assert time.monotonic() < deadline, (rt.risk.book.daily_pnl, dict(arb.tick.stats.sagas))
        await asyncio.sleep(0.2)
    await arb.control("pause", "paper", None)  # the day's PnL holds still from here
    await faults(kalshi_url, venues.admin_token, reset=True)
    took["ArbiterHedgeFailure"] = await firing(prom, "ArbiterHedgeFailure")
    # each failed saga left a named residual in the journal: the residual gauge shows it
    residuals = (await arb.status())["residuals"]
    assert residuals and all(r["contracts"] > 0 for r in residuals), residuals
    took["ArbiterResidualOpen"] = await firing(prom, "ArbiterResidualOpen")
    while rt.risk.book.reservations:  # sagas in flight at the pause finish
        await asyncio.sleep(0.1)
    loss = -rt.risk.book.daily_pnl
    assert loss > 0
    limits = rt.risk.book.limits
    await arb.set_limits("paper", replace(limits, max_daily_loss=loss * 10 // 9))  # 90 % used
    took["ArbiterDailyLossNearLimit"] = await firing(prom, "ArbiterDailyLossNearLimit")
    await arb.set_limits("paper", replace(limits, max_daily_loss=loss))
    took["ArbiterDailyLossLimitReached"] = await firing(prom, "ArbiterDailyLossLimitReached")
    await arb.set_limits("paper", limits)
    await arb.control("resume", "paper", None)

    # -- the Polymarket venue goes away: no market data for over 30 s (the shipped threshold)
    await venues.polymarket.stop()
    took["ArbiterWebSocketStale"] = await firing(prom, "ArbiterWebSocketStale", 60)

    # -- the endpoint itself goes away
    assert arb.metrics_server is not None
    arb.metrics_server.close()
    arb.metrics_server = None
    took["ArbiterMetricsDown"] = await firing(prom, "ArbiterMetricsDown")

    assert set(took) == set(RULE_NAMES), set(RULE_NAMES) - set(took)
    print("seconds to firing:", {k: round(v, 1) for k, v in took.items()})
