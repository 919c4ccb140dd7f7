"""The order book feed against the local Kalshi: sync, parity under faults, reconnect, errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from arbiter.core.book import Outcome
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.signing import Signer
from arbiter.venues.kalshi.ws import KalshiFeed
from tests.venues.kalshi.support import OTHER, TRADER, client_for, make_key, running_sim, start_sim
from tests.venues.kalshi.test_rest import faults, req

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


def config(sim: KalshiSim) -> KalshiConfig:
    return KalshiConfig(env=KalshiEnv.DEMO, rest_url=sim.rest_url, ws_url=sim.ws_url)


def mismatches(feed: KalshiFeed, sim: KalshiSim) -> list[str]:
    bad = []
    for ticker in feed.tickers:
        yes, no = sim.exchange.bids(ticker)
        book = feed.books[ticker]
        if sorted(book.bids(Outcome.YES)) != yes or sorted(book.bids(Outcome.NO)) != no:
            bad.append(ticker)
    return bad


async def eventually(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait for a condition; generous because CI machines can be heavily loaded."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(feed: KalshiFeed) -> AsyncIterator[KalshiFeed]:
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        feed.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def admin(sim: KalshiSim, path: str, body: dict[str, object]) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"http://127.0.0.1:{sim.port}/_sim/{path}", json=body, headers=sim.admin_headers()
    ) as resp:
        assert resp.status == 200, await resp.text()


@pytest.fixture
async def busy_sim(tmp_path: Path) -> AsyncIterator[KalshiSim]:
    """Many fast-moving markets (20 ms steps), seeded."""
    async with running_sim(tmp_path, "busy") as server:
        yield server


async def test_feed_syncs_and_follows_orders(sim: KalshiSim) -> None:
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A", "KXSTATIC-B"])
    async with running(feed):
        assert await feed.wait_synced(15)
        assert mismatches(feed, sim) == []
        assert feed.books["KXSTATIC-A"].best_bid(Outcome.YES) == 3900
        assert feed.books["KXSTATIC-A"].best_ask(Outcome.YES) == 4100
        async with client_for(sim) as client:
            await client.place_order(req("w1", price=4000, size=7))  # new best YES bid
            await client.place_order(req("w2", "no", "buy", 5900, 3))  # lifts 3 YES at 0.41
        await eventually(lambda: feed.books["KXSTATIC-A"].best_bid(Outcome.YES) == 4000)
        await eventually(lambda: mismatches(feed, sim) == [])
        assert feed.stats.gaps == 0 and feed.stats.malformed == 0


async def test_book_parity_after_long_faulty_stream(busy_sim: KalshiSim) -> None:
    sim = busy_sim
    tickers = sorted(sim.exchange.markets)
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), tickers)
    await sim.stop_makers()  # the test drives the seeded walk itself: same stream every run
    async with running(feed):
        assert await feed.wait_synced(15)
        await admin(sim, "faults", {"drop_prob": 0.002, "duplicate_prob": 0.01,
                                    "reorder_prob": 0.02, "seq_gap_prob": 0.002})
        for _ in range(150):  # 150 steps x 20 markets of maker churn under faults
            sim.step_makers()
            await asyncio.sleep(0.002)
        await admin(sim, "faults", {"drop_prob": 0, "duplicate_prob": 0, "reorder_prob": 0,
                                    "seq_gap_prob": 0})
        # one more sequenced frame per subscription reveals any gap hidden at the very end
        await admin(sim, "firehose", {"count": 2, "tickers": tickers[:1]})
        await eventually(lambda: feed.synced and mismatches(feed, sim) == [])
        stats = feed.stats
        assert stats.deltas > 2_000
        assert stats.gaps > 0 and stats.duplicates > 0 and stats.resyncs > 0
        assert stats.snapshots > len(tickers)
        assert stats.malformed == 0


async def test_one_shot_seq_gap_triggers_resnapshot(sim: KalshiSim) -> None:
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A"])
    async with running(feed):
        assert await feed.wait_synced(15)
        await faults(sim, seq_gap_next=1)
        async with client_for(sim) as client:
            await client.place_order(req("g1", price=3500))
            await client.place_order(req("g2", price=3400))
        await eventually(lambda: feed.stats.resyncs == 1 and feed.synced)
        await eventually(lambda: mismatches(feed, sim) == [])
        assert feed.books["KXSTATIC-A"].bids(Outcome.YES).size_at(3400) == 10_000_000


async def test_reconnects_after_server_drop_and_client_drop(sim: KalshiSim) -> None:
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A", "KXSTATIC-B"],
                      backoff_s=0.01, max_backoff_s=0.05)
    async with running(feed):
        assert await feed.wait_synced(15)
        await faults(sim, disconnect_after=0)
        async with client_for(sim) as client:
            await client.place_order(req("r1", price=3600))  # the delta that trips the drop
            await eventually(lambda: feed.stats.reconnects >= 1 and feed.synced)
            await client.place_order(req("r2", price=3300))
        await eventually(lambda: mismatches(feed, sim) == [])
        await feed.drop_connection()
        await eventually(lambda: feed.stats.reconnects >= 2 and feed.synced)
        assert mismatches(feed, sim) == []


async def test_reconnect_backoff_while_venue_is_down(tmp_path: Path) -> None:
    sim = await start_sim(tmp_path, "static")
    port = sim.port
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A"],
                      backoff_s=0.02, max_backoff_s=0.1)
    async with running(feed):
        assert await feed.wait_synced(15)
        await sim.stop()
        await eventually(lambda: feed.stats.reconnects >= 3)
        assert not feed.synced
        revived = await _start_on(tmp_path, port)  # the venue comes back on the same port
        try:
            await eventually(lambda: feed.synced)
            assert mismatches(feed, revived) == []
        finally:
            await revived.stop()


async def _start_on(tmp_path: Path, port: int) -> KalshiSim:
    from arbiter.sim.common import load_scenario
    from arbiter.sim.kalshi.server import build_sim
    from tests.venues.kalshi.support import write_accounts

    server = build_sim(str(write_accounts(tmp_path)), load_scenario("static"), seed=7)
    await server.start("127.0.0.1", port)
    return server


async def test_bad_signature_is_refused_at_the_upgrade(sim: KalshiSim) -> None:
    feed = KalshiFeed(config(sim), Signer(TRADER, make_key(OTHER).private_key), ["KXSTATIC-A"],
                      backoff_s=0.02, max_backoff_s=0.05)
    async with running(feed):
        await eventually(lambda: feed.stats.reconnects >= 2)
        assert not feed.synced and feed.stats.snapshots == 0
    assert sim.stats["auth_failures"] >= 2


async def test_heartbeat_pings_keep_the_connection(tmp_path: Path) -> None:
    server = await start_sim(tmp_path, "static", ping_interval_s=0.02)
    try:
        feed = KalshiFeed(config(server), make_key(TRADER).signer(), ["KXSTATIC-A"],
                          ping_interval_s=0.05)
        async with running(feed):
            assert await feed.wait_synced(15)
            await asyncio.sleep(0.4)  # ~20 server pings, ~8 client pings answered
            assert feed.stats.reconnects == 0 and feed.synced
    finally:
        await server.stop()


# -- frame processing without a socket (parsing edge cases) ----------------------------------------

def _feed() -> KalshiFeed:
    feed = KalshiFeed(KalshiConfig(), None, ["KXA"])
    feed.process('{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":3}}')
    return feed


def _snap(seq: int, **extra: object) -> str:
    msg = {"market_ticker": "KXA", "yes_dollars_fp": [["0.3000", "10.00"]],
           "no_dollars_fp": [["0.6000", "5.00"]], **extra}
    return json.dumps({"type": "orderbook_snapshot", "sid": 3, "seq": seq, "msg": msg})


def _delta(seq: int, price: str = "0.3000", delta: str = "-4.00", side: str = "yes") -> str:
    return json.dumps({"type": "orderbook_delta", "sid": 3, "seq": seq, "msg": {
        "market_ticker": "KXA", "price_dollars": price, "delta_fp": delta, "side": side,
        "ts_ms": 1}})


def test_malformed_frames_are_counted_not_fatal() -> None:
    feed = _feed()
    feed.process(_snap(1))
    for bad in ("not json", "[]", '{"type": 5}', '{"type":"orderbook_delta","sid":3,"seq":2,'
                '"msg":{"market_ticker":"KXA","price_dollars":"abc","delta_fp":"1.00",'
                '"side":"yes"}}', b"\xff\xfe"):
        feed.process(bad)
    assert feed.stats.malformed == 5
    feed.process('{"type":"ticker","sid":9,"msg":{"anything":1}}')  # not ours: ignored
    feed.process('{"type":"ok","id":4,"sid":3,"seq":7,"msg":{}}')
    assert feed.stats.malformed == 5


def test_deeply_nested_frames_are_counted_not_fatal() -> None:
    """msgspec answers JSON nested past its limit with RecursionError: contained like any other
    malformed frame, and the book still follows the next good delta."""
    feed = _feed()
    feed.process(_snap(1))
    deep = '{"type":"orderbook_delta","sid":3,"seq":2,"msg":' + "[" * 100_000 + "]" * 100_000 + "}"
    feed.process(deep)
    feed.process("[" * 100_000)
    assert feed.stats.malformed == 2
    feed.process(_delta(2))
    assert feed.stats.malformed == 2 and feed.stats.gaps == 0


def test_delta_application_duplicates_and_gaps() -> None:
    feed = _feed()
    feed.process(_snap(1))
    feed.process(_delta(2))
    feed.process(_delta(2))  # duplicate
    book = feed.books["KXA"]
    assert book.bids(Outcome.YES).size_at(3000) == 6_000_000
    assert feed.stats.duplicates == 1
    feed.process(_delta(4))  # 3 is missing
    assert feed.stats.gaps == 1 and "KXA" not in feed.valid
    assert feed.outbox[-1]["cmd"] == "update_subscription"
    assert feed.outbox[-1]["params"] == {"sid": 3, "action": "get_snapshot",
                                         "market_tickers": ["KXA"]}
    feed.process(_delta(5))  # dropped while waiting for the snapshot
    feed.process(_snap(6))
    assert feed.synced and book.bids(Outcome.YES).size_at(3000) == 10_000_000
    feed.process(_delta(7, delta="-11.00"))  # would go negative: corrupt -> resync
    assert feed.stats.book_errors == 1 and not feed.synced


def test_delta_before_snapshot_and_legacy_fields() -> None:
    feed = _feed()
    feed.process(_delta(1))
    assert feed.stats.gaps == 1
    legacy_snap = json.dumps({"type": "orderbook_snapshot", "sid": 3, "seq": 2, "msg": {
        "market_ticker": "KXA", "yes": [[30, 10]], "no": [[60, 5]]}})
    feed.process(legacy_snap)
    assert feed.synced
    feed.process(json.dumps({"type": "orderbook_delta", "sid": 3, "seq": 3, "msg": {
        "market_ticker": "KXA", "price": 60, "delta": 2, "side": "no"}}))
    assert feed.books["KXA"].bids(Outcome.NO).size_at(6000) == 7_000_000
    dollars = json.dumps({"type": "orderbook_snapshot", "sid": 3, "seq": 4, "msg": {
        "market_ticker": "KXA", "yes_dollars": [["0.2000", "1.50"]], "no_dollars": []}})
    feed.process(dollars)
    assert list(feed.books["KXA"].bids(Outcome.YES)) == [(2000, 1_500_000)]


def test_fatal_subscription_errors_resubscribe() -> None:
    feed = _feed()
    feed.process(_snap(1))
    feed.outbox.clear()
    feed.process('{"type":"error","sid":3,"msg":{"code":25,"msg":"buffer overflow"}}')
    assert not feed.synced
    assert feed.outbox[-1]["cmd"] == "subscribe"
    assert feed.outbox[-1]["params"]["market_tickers"] == ["KXA"]
    feed.process('{"type":"error","id":9,"msg":{"code":6,"msg":"Already subscribed"}}')
    assert feed.stats.error_codes == [25, 6]


async def test_unsigned_upgrades_are_refused(sim: KalshiSim) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(sim.ws_url)
        assert info.value.status == 401


async def test_unsigned_socket_cannot_subscribe_to_private_channels(sim: KalshiSim) -> None:
    sim.ws_auth_required = False  # the older quick-start: public channels without a key
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.ws_url) as ws:
        await ws.send_json({"id": 1, "cmd": "subscribe", "params": {
            "channels": ["orderbook_delta"], "market_tickers": ["KXSTATIC-A"]}})
        reply = await ws.receive_json(timeout=5)
        assert reply == {"id": 1, "type": "error", "msg": {"code": 9,
                                                           "msg": "Authentication required"}}
        await ws.send_json({"id": 2, "cmd": "subscribe", "params": {
            "channels": ["trade"], "market_tickers": ["KXSTATIC-A"]}})
        reply = await ws.receive_json(timeout=5)
        assert reply["type"] == "subscribed" and reply["msg"]["channel"] == "trade"



async def test_many_tickers_split_across_subscriptions(sim: KalshiSim) -> None:
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A", "KXSTATIC-B"],
                      tickers_per_subscription=1)
    async with running(feed):
        assert await feed.wait_synced(15)
        subscribes = [s for c in sim._conns for s in c.subs.values()
                      if s.channel == "orderbook_delta"]
        assert len(subscribes) == 2  # one sid per market, each with its own seq
        await faults(sim, seq_gap_next=1)
        async with client_for(sim) as client:
            await client.place_order(req("m1", price=3500))  # only KXSTATIC-A's sid moves
        await eventually(lambda: feed.stats.resyncs == 1 and feed.synced)
        assert feed.stats.snapshots == 3  # two initial + one resnapshot of the gapped sid
        assert mismatches(feed, sim) == []


async def test_silent_connection_is_dropped_and_pings_keep_it_alive(tmp_path: Path) -> None:
    server = await start_sim(tmp_path, "static", ping_interval_s=3600)  # the venue stays quiet
    try:
        quiet = KalshiFeed(config(server), make_key(TRADER).signer(), ["KXSTATIC-A"],
                           ping_interval_s=None, idle_timeout_s=0.3, backoff_s=0.01)
        async with running(quiet):
            assert await quiet.wait_synced(15)
            await eventually(lambda: quiet.stats.reconnects >= 1)  # watchdog fired
            await eventually(lambda: quiet.synced)
        pinging = KalshiFeed(config(server), make_key(TRADER).signer(), ["KXSTATIC-A"],
                             ping_interval_s=0.05, idle_timeout_s=1.5)
        async with running(pinging):
            assert await pinging.wait_synced(15)
            await asyncio.sleep(2.0)  # longer than the idle limit; our pings draw pongs
            assert pinging.stats.reconnects == 0
    finally:
        await server.stop()


async def test_published_deltas_leave_in_the_publishers_stack_in_order(sim: KalshiSim) -> None:
    """No loop turn between the venue's book change and its frame on the wire; with a latency
    fault the writer task still paces them, and the feed stays in step either way."""
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A"])
    async with running(feed):
        assert await feed.wait_synced(15)
        ex = sim.exchange
        before = sim.stats["ws_frames"]
        _, deltas = ex.place(OTHER, "KXSTATIC-A", "yes", "buy", 100, 1_000_000, "flush-1")
        _, more = ex.place(OTHER, "KXSTATIC-A", "no", "buy", 200, 2_000_000, "flush-2")
        sim.publish([*deltas, *more])
        assert sim.stats["ws_frames"] == before + 2  # written before publish returned
        await eventually(lambda: mismatches(feed, sim) == [])
        await faults(sim, latency_ms=5)
        _, later = ex.place(OTHER, "KXSTATIC-A", "yes", "buy", 300, 1_000_000, "flush-3")
        sim.publish(later)
        assert sim.stats["ws_frames"] == before + 2  # queued for the paced writer instead
        await eventually(lambda: sim.stats["ws_frames"] == before + 3)
        await eventually(lambda: mismatches(feed, sim) == [])


async def test_a_stop_that_comes_while_the_link_opens_ends_the_feed(
    sim: KalshiSim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stop() before the link exists has nothing to close, and under Python 3.11 the cancel
    that follows it can be swallowed by ``asyncio.wait_for`` inside the connect: the feed must
    still end, not keep a live, pinged link forever (it hung a CI run at the 300 s timeout)."""
    from arbiter.venues.kalshi import ws as ws_module

    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A"])
    real = ws_module.open_link

    async def stopped_while_opening(*args: object, **kwargs: object) -> object:
        link = await real(*args, **kwargs)  # type: ignore[arg-type]
        feed.stop()  # the stop arrives now; no cancel reaches the task (it was swallowed)
        return link

    monkeypatch.setattr(ws_module, "open_link", stopped_while_opening)
    await asyncio.wait_for(feed.run(), 5)
    assert feed._link is None and not feed.connected.is_set()
