"""RemoteEngine (the gRPC client) round-trips every EngineControl call, and the bot runs on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from arbiter.control.auth import Key, KeySet, Role
from arbiter.control.client import ControlError, RemoteEngine
from arbiter.control.engine import InProcessEngine, OrderView, UnknownTenant
from arbiter.control.service import ControlServer, build_server
from arbiter.control.telegram import ArbiterBot, ChatAccess
from arbiter.core.book import Outcome
from arbiter.core.risk import RiskLimits
from arbiter.core.units import MONEY_SCALE, SIZE_SCALE
from tests.control.conftest import opportunity
from tests.control.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


@pytest.fixture
async def remote() -> AsyncIterator[tuple[InProcessEngine, ControlServer, KeySet]]:
    keys = KeySet()
    keys.add(Key.hmac("k1", "remote-test-secret-32-bytes-long!!"))
    engine = InProcessEngine(["acme", "globex"], ["FED-DEC"])
    server = await build_server(engine, keys)
    yield engine, server, keys
    await server.stop(0)


def client(server: ControlServer, keys: KeySet, tenant: str, role: Role) -> RemoteEngine:
    return RemoteEngine(f"127.0.0.1:{server.port}", keys.issue("t", tenant, role, 300, int(time.time())))


async def test_round_trip(remote: tuple[InProcessEngine, ControlServer, KeySet]) -> None:
    engine, server, keys = remote
    engine.position_book("acme").apply_fill(
        "kalshi", "FED-DEC", Outcome.NO, "buy", 3 * SIZE_SCALE, 1234 * 3 * SIZE_SCALE, 7
    )
    engine.order_update(
        OrderView("o1", "acme", "s1", "kalshi", "FED-DEC", "no", "buy", 1234, SIZE_SCALE, 0, "open", 5)
    )
    rc = client(server, keys, "acme", Role.OPERATOR)
    try:
        st = await rc.status(None)
        assert [t.tenant for t in st.tenants] == ["acme"] and rc.tenants() == ["acme"]
        ((tenant, pos),) = await rc.positions(None)
        assert tenant == "acme" and pos.key == ("kalshi", "FED-DEC", Outcome.NO)
        assert (pos.size, pos.basis, pos.fees) == (3 * SIZE_SCALE, 1234 * 3 * SIZE_SCALE, 7)
        (pnl,) = await rc.pnl(None)
        assert pnl.pnl.fees == 7 and pnl.daily == 0
        (order,) = await rc.orders(None)
        assert (order.price, order.size) == (1234, SIZE_SCALE)
        assert (await rc.cancel_order("acme", "o1")).changed
        assert (await rc.pause("acme", "FED-DEC")).changed and not engine.may_trade("acme", "FED-DEC")
        assert (await rc.resume(None, None)).changed
        assert (await rc.stop(None, None)).changed and (await rc.start(None, None)).changed
        assert (await rc.trip_kill_switch(None, "remote")).changed
        assert (await rc.reset_kill_switch("acme")).changed
        assert [a.kind for a in await rc.alerts(None)] == ["kill_switch", "kill_switch"]
        assert (await rc.risk_limits("acme")).max_open_sagas == 8
        with pytest.raises(ControlError) as info:
            await rc.set_risk_limits("acme", RiskLimits(max_daily_loss=MONEY_SCALE))
        assert info.value.code == "PERMISSION_DENIED"
        with pytest.raises(ControlError, match="PERMISSION_DENIED"):
            await rc.status("globex")
    finally:
        await rc.close()
    admin = client(server, keys, "ops", Role.ADMIN)
    try:
        lim = await admin.set_risk_limits("acme", RiskLimits(max_daily_loss=5 * MONEY_SCALE, min_edge=25))
        assert lim.max_daily_loss == 5 * MONEY_SCALE and lim.min_edge == 25
        assert engine.risk_book("acme").limits.max_daily_loss == 5 * MONEY_SCALE
        with pytest.raises(UnknownTenant):
            await admin.status("nobody")
    finally:
        await admin.close()


async def test_streams_carry_legs(remote: tuple[InProcessEngine, ControlServer, KeySet]) -> None:
    engine, server, keys = remote
    rc = client(server, keys, "acme", Role.VIEWER)
    try:
        stream = rc.opportunities(None)
        first = asyncio.ensure_future(stream.__anext__())
        while engine.opportunity_feed.subscribers == 0:
            await asyncio.sleep(0.01)
        opp = opportunity("FED-DEC", 5, 77)
        engine.publish_opportunity("acme", opp)
        seen = await asyncio.wait_for(first, 5)
        assert seen.tenant == "acme" and seen.opportunity == opp  # exact, legs included
        await stream.aclose()  # type: ignore[attr-defined]
        # the server notices the cancelled call and drops the subscription
        deadline = asyncio.get_running_loop().time() + 10
        while engine.opportunity_feed.subscribers:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
    finally:
        await rc.close()
    admin = client(server, keys, "ops", Role.ADMIN)
    try:
        with pytest.raises(UnknownTenant):
            await admin.sagas("nobody").__anext__()
    finally:
        await admin.close()


async def test_bot_over_grpc(remote: tuple[InProcessEngine, ControlServer, KeySet]) -> None:
    engine, server, keys = remote
    api = FakeBotApi("1:tok")
    await api.start()
    rc = client(server, keys, "acme", Role.OPERATOR)
    app = ArbiterBot(rc, {5: ChatAccess("acme", Role.OPERATOR)}).build("1:tok", base_url=api.url)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        await api.command(5, "/pause FED-DEC")
        (reply,) = await api.wait_call("sendMessage", 1, 5)
        assert reply["text"] == "acme: paused FED-DEC"
        assert not engine.may_trade("acme", "FED-DEC")
        await api.command(5, "/kill")
        confirm = (await api.wait_call("sendMessage", 2, 5))[-1]["reply_markup"]["inline_keyboard"][0][0]
        await api.press(5, confirm["callback_data"])
        edited = (await api.wait_call("editMessageText", 1))[-1]["text"]
        assert edited.startswith("Kill switch ON for acme: manual via telegram (@op)")
        assert engine.risk_book("acme").killed is not None and engine.risk_book("globex").killed is None
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await rc.close()
        await api.close()
