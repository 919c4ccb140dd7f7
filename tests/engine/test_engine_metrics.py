"""The engine's own Prometheus series for faults injected at the local venues (issue 20): Kalshi
sequence gaps, rate-limit refusals (the venue's 429 and the local limiter's), order round trips,
all read from the running arbiter's registry (in process, as Ray runs it minus Ray)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from prometheus_client import generate_latest

from arbiter.core.ratelimit import RateLimiter
from arbiter.engine.arbiter import Arbiter
from arbiter.sim.launcher import LocalVenues
from arbiter.venues.base import LocalRateLimitError
from arbiter.venues.ratelimited import RateLimitedClient
from tests.engine.test_reconcile_wiring import engine, until
from tests.execution.test_executor import world
from tests.execution.test_tenant_execution import close

__all__ = ["engine"]  # the fixture, imported for this module
pytestmark = [pytest.mark.integration]


def sample(arb: Arbiter, prefix: str) -> float:
    total = 0.0
    for line in generate_latest(arb.metrics.registry).decode().splitlines():
        if line.startswith(prefix):
            total += float(line.split()[-1])
    return total


async def kalshi_faults(venues: LocalVenues, **settings: object) -> None:
    assert venues.kalshi is not None
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{venues.kalshi.port}/_sim/faults", json=settings,
        headers=venues.admin_headers(),
    ) as resp:
        assert resp.status == 200


async def test_kalshi_sequence_gaps_reach_the_engines_metrics(
    engine: Arbiter, venues: LocalVenues
) -> None:
    assert sample(engine, 'arbiter_sequence_gaps_total{venue="kalshi"}') == 0
    # one at a time: a gap injected while the feed resyncs from the last one is part of that
    # resync, not a gap of its own (three at once were counted as one when the resync was slow);
    # one that fell into a resync is injected again
    def counted() -> float:
        return sample(engine, 'arbiter_sequence_gaps_total{venue="kalshi"}')

    deadline = time.monotonic() + 45
    while counted() < 3:
        seen, again = counted(), time.monotonic() + 2
        await kalshi_faults(venues, seq_gap_next=1)
        while counted() == seen and time.monotonic() < again:
            assert time.monotonic() < deadline, "three gaps not counted"
            await asyncio.sleep(0.05)
    assert engine.feeds is not None and engine.feeds.kalshi.stats.gaps >= 3


async def test_venue_429s_count_as_rate_limit_refusals(engine: Arbiter, venues: LocalVenues) -> None:
    await kalshi_faults(venues, http_burst=[429, 4], http_burst_methods=["GET"])
    out = await engine.reconcile("paper")  # its reads meet the 429s
    assert out["blocking"] == "reconcile_unknown", out  # a venue it could not read: no sagas
    assert sample(engine, 'arbiter_rate_limit_rejections_total{venue="kalshi"}') >= 1
    await kalshi_faults(venues, reset=True)


@pytest.mark.slow  # ~4 s: waits for the market to open a window the engine trades
async def test_order_round_trips_are_timed(engine: Arbiter) -> None:
    await until(lambda: sample(engine, "arbiter_order_latency_seconds_count") > 0, 30,
                "a saga's orders")
    assert sample(engine, 'arbiter_order_latency_seconds_count{op="place"') > 0


async def test_local_refusals_are_told_once_each(tmp_path: object) -> None:
    """The limiter's own refusal is counted once (not again as a venue 429 on the way out)."""
    from pathlib import Path

    wd = world(Path(str(tmp_path)))
    limiter = RateLimiter(0)
    limiter.add_tenant("t", orders_per_second=1, order_burst=1, now_ns=0)
    told: list[str] = []
    client = RateLimitedClient(wd.kalshi, limiter, "t", clock=lambda: 0, on_refused=told.append)
    try:
        refused = 0
        for _ in range(200):
            try:
                await client.balance()
            except LocalRateLimitError:
                refused += 1
        assert refused > 0 and told == ["kalshi"] * refused
    finally:
        await close(wd)
