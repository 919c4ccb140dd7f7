"""The bot, unmodified python-telegram-bot, polling a local fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.error import InvalidToken

from arbiter.control.auth import Role
from arbiter.control.engine import InProcessEngine
from arbiter.control.telegram import ArbiterBot, ChatAccess, parse_chat_map
from arbiter.core.book import Outcome
from arbiter.core.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE
from tests.control.fake_bot_api import FakeBotApi

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TOKEN = "123456:TEST-token_abc"
OPS, VIEWER, STRANGER = 100, 200, 999


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Harness:
    def __init__(self, api: FakeBotApi, engine: InProcessEngine, bot: ArbiterBot, clock: Clock) -> None:
        self.api, self.engine, self.bot, self.clock = api, engine, bot, clock

    async def say(self, chat: int, text: str) -> str:
        before = len(self.api.sent(chat_id=chat))
        await self.api.command(chat, text)
        return str((await self.api.wait_call("sendMessage", before + 1, chat))[-1]["text"])

    def last_keyboard(self, chat: int) -> list[str]:
        markup = self.api.sent(chat_id=chat)[-1]["reply_markup"]
        return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]

    async def press(self, chat: int, data: str) -> str:
        before = len(self.api.sent("answerCallbackQuery"))
        edits = len(self.api.sent("editMessageText"))
        await self.api.press(chat, data)
        await self.api.wait_call("answerCallbackQuery", before + 1)
        if (
            data.startswith(("confirm", "cancel"))
            and self.api.sent("answerCallbackQuery")[-1].get("text") is None
        ):
            return str((await self.api.wait_call("editMessageText", edits + 1))[-1]["text"])
        return str(self.api.sent("answerCallbackQuery")[-1].get("text"))


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    api = FakeBotApi(TOKEN)
    await api.start()
    engine = InProcessEngine(["acme", "globex"], ["FED-DEC", "BTC-100K"])
    clock = Clock()
    bot = ArbiterBot(
        engine,
        {OPS: ChatAccess("acme", Role.OPERATOR), VIEWER: ChatAccess("globex")},
        confirm_ttl_s=60,
        clock=clock,
    )
    app = bot.build(TOKEN, base_url=api.url)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1)
    try:
        yield Harness(api, engine, bot, clock)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await api.close()


async def test_status_is_scoped_to_the_chats_tenant(h: Harness) -> None:
    text = await h.say(OPS, "/status")
    assert "acme: running; kill switch off; sagas 0; orders 0; day PnL $0.00" in text
    assert "globex" not in text
    assert "globex: running" in await h.say(VIEWER, "/status")
    assert len(h.api.sent("getMe")) == 1  # initialize() checked the token against the fake API
    assert "/kill" in await h.say(OPS, "/help")


async def test_unknown_chat_is_refused(h: Harness) -> None:
    assert await h.say(STRANGER, "/status") == "This chat is not authorised."
    assert await h.say(STRANGER, "/pause") == "This chat is not authorised."
    assert h.engine.may_trade("acme", "FED-DEC") and h.engine.may_trade("globex", "FED-DEC")


async def test_pause_and_resume(h: Harness) -> None:
    assert await h.say(OPS, "/pause FED-DEC") == "acme: paused FED-DEC"
    assert not h.engine.may_trade("acme", "FED-DEC") and h.engine.may_trade("acme", "BTC-100K")
    assert "paused: FED-DEC" in await h.say(OPS, "/status")
    assert await h.say(OPS, "/pause FED-DEC") == "acme: paused FED-DEC (no change)"
    assert await h.say(OPS, "/resume") == "acme: resumed all pairs"
    assert h.engine.may_trade("acme", "FED-DEC")
    assert await h.say(OPS, "/pause NOPE") == "Unknown pair NOPE."
    assert await h.say(VIEWER, "/pause") == "This chat may only view."
    assert h.engine.may_trade("globex", "FED-DEC")


async def test_kill_switch_needs_confirmation(h: Harness) -> None:
    question = await h.say(OPS, "/kill venue looks broken")
    assert question.startswith("Trip the kill switch for acme?")
    confirm, cancel = h.last_keyboard(OPS)
    assert confirm.startswith("confirm:") and cancel.startswith("cancel:")
    assert h.engine.risk_book("acme").killed is None  # nothing happens before the tap
    assert await h.press(OPS, confirm) == "Kill switch ON for acme: venue looks broken"
    assert h.engine.risk_book("acme").killed == "venue looks broken"
    assert not h.engine.may_trade("acme", "FED-DEC") and h.engine.may_trade("globex", "FED-DEC")
    # the same button again does nothing
    assert await h.press(OPS, confirm) == "Unknown or already used confirmation."
    assert "kill switch ON (venue looks broken)" in await h.say(OPS, "/status")
    assert "kill_switch: tripped: venue looks broken" in await h.say(OPS, "/alerts")
    # reset, also confirmed
    await h.say(OPS, "/unkill")
    assert await h.press(OPS, h.last_keyboard(OPS)[0]) == "Kill switch reset for acme."
    assert h.engine.may_trade("acme", "FED-DEC")


async def test_cancel_expiry_and_foreign_chat(h: Harness) -> None:
    await h.say(OPS, "/kill")
    confirm, cancel = h.last_keyboard(OPS)
    assert await h.press(OPS, cancel) == "Cancelled: nothing was done."
    assert h.engine.risk_book("acme").killed is None
    await h.say(OPS, "/kill")
    confirm, _ = h.last_keyboard(OPS)
    assert await h.press(VIEWER, confirm) == "Unknown or already used confirmation."  # bound to its chat
    await h.say(OPS, "/kill")
    confirm, _ = h.last_keyboard(OPS)
    h.clock.t += 61
    assert await h.press(OPS, confirm) == "Confirmation expired."
    assert h.engine.risk_book("acme").killed is None
    assert await h.say(VIEWER, "/kill") == "This chat may only view."


async def test_pnl_positions_and_alert_push(h: Harness) -> None:
    assert await h.say(OPS, "/positions") == "No open positions."
    book = h.engine.position_book("acme")
    book.apply_fill(
        "kalshi",
        "FED-DEC",
        Outcome.YES,
        "buy",
        10 * SIZE_SCALE,
        4537 * 10 * SIZE_SCALE,
        731 * MONEY_SCALE // 10_000,
    )
    book.apply_fill(
        "kalshi", "FED-DEC", Outcome.YES, "sell", 4 * SIZE_SCALE, PRICE_SCALE // 2 * 4 * SIZE_SCALE
    )
    h.engine.risk_book("acme").daily_pnl = -1234 * MONEY_SCALE // 1000  # -1.234 -> -$1.23
    assert await h.say(OPS, "/positions") == "kalshi FED-DEC yes: 6 (cost $2.72)"
    assert await h.say(OPS, "/pnl") == (
        "acme: net $0.11 (realised $0.19, unrealised $0.00, fees $0.07); today -$1.23"
    )
    alert = h.engine.raise_alert("acme", "hedge_failed", "saga s-9 left 4 contracts")
    assert await h.bot.notify(alert) == 1
    pushed: Any = h.api.sent(chat_id=OPS)[-1]
    assert pushed["text"] == "ALERT [acme] hedge_failed: saga s-9 left 4 contracts"
    assert all("hedge_failed" not in m["text"] for m in h.api.sent(chat_id=VIEWER))


async def test_wrong_token_is_rejected_by_the_api() -> None:
    api = FakeBotApi("999:other")
    await api.start()
    try:
        app = ArbiterBot(InProcessEngine(["acme"]), {}).build(TOKEN, base_url=api.url)
        with pytest.raises(InvalidToken):
            await app.initialize()
    finally:
        await api.close()


def test_chat_map_parsing() -> None:
    assert parse_chat_map(["-100123=acme:operator", "5=globex"]) == {
        -100123: ChatAccess("acme", Role.OPERATOR),
        5: ChatAccess("globex", Role.VIEWER),
    }
    for bad in ("acme", "x=acme", "5=", "5=acme:root"):
        with pytest.raises(ValueError, match="bad chat mapping"):
            parse_chat_map([bad])


async def test_alert_watch_pushes_only_new_alerts(h: Harness) -> None:
    h.engine.raise_alert("acme", "limits", "old news")
    ready = asyncio.Event()
    task = asyncio.create_task(h.bot.watch_alerts(0.02, ready))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        h.engine.raise_alert("globex", "kill_switch", "tripped: feed down")
        pushed = await h.api.wait_call("sendMessage", 1, VIEWER)
        assert pushed[-1]["text"] == "ALERT [globex] kill_switch: tripped: feed down"
        assert all("old news" not in m["text"] for m in h.api.sent())
        assert h.api.sent(chat_id=OPS) == []
    finally:
        task.cancel()
