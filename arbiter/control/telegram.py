"""Telegram bot for operators: status, PnL, positions, alerts, pause/resume, kill switch.

Built on python-telegram-bot (long polling, no public webhook needed). Authorisation is per chat:
the configuration maps a chat id to one tenant and a role, and every command is scoped to that
tenant; an unknown chat gets one refusal line and nothing else. The bot talks to an
:class:`~arbiter.control.engine.EngineControl`, in process or over the gRPC control API
(:class:`~arbiter.control.client.RemoteEngine`), where the server enforces the same tenant
scoping again with the bot's own token.

The kill switch (and its reset) needs a second, explicit tap on an inline "Confirm" button within
``confirm_ttl_s``: a stray ``/kill`` in a busy chat must not stop trading, and a confirmation is
bound to the chat that asked for it. Pause and resume act at once; they are cheap to undo.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from arbiter.control.auth import Role
from arbiter.control.engine import Alert, EngineControl, UnknownTenant
from arbiter.core.units import MONEY_DECIMALS, SIZE_DECIMALS, format_decimal

__all__ = ["ArbiterBot", "ChatAccess", "parse_chat_map"]

log = logging.getLogger(__name__)

HELP = (
    "/status - engine and tenant state\n/pnl - profit and loss\n/positions - open positions\n"
    "/alerts - recent alerts\n/pause [pair] - stop new trades (all pairs or one)\n"
    "/resume [pair] - allow trades again\n/kill [reason] - trip the kill switch (asks to confirm)\n"
    "/unkill - reset the kill switch (asks to confirm)"
)


@dataclass(frozen=True, slots=True)
class ChatAccess:
    tenant: str
    role: Role = Role.VIEWER


def parse_chat_map(items: list[str]) -> dict[int, ChatAccess]:
    """``CHAT_ID=TENANT[:ROLE]`` entries, e.g. ``-1001234=acme:operator``."""
    out: dict[int, ChatAccess] = {}
    for item in items:
        bad = f"bad chat mapping {item!r}: expected CHAT_ID=TENANT[:viewer|operator|admin]"
        chat, sep, rest = item.partition("=")
        tenant, _, role = rest.partition(":")
        if not sep or not tenant:
            raise ValueError(bad)
        try:
            out[int(chat)] = ChatAccess(tenant, Role(role or "viewer"))
        except ValueError:
            raise ValueError(bad) from None
    return out


def _usd(amount: int) -> str:
    """Dollars to the cent for chat display (exact value rounded half away from zero)."""
    cents, rem = divmod(abs(amount), 10**(MONEY_DECIMALS - 2))
    if rem * 2 >= 10**(MONEY_DECIMALS - 2):
        cents += 1
    sign = "-" if amount < 0 and cents else ""
    return f"{sign}${cents // 100}.{cents % 100:02d}"


@dataclass(slots=True)
class _Pending:
    chat_id: int
    action: str
    tenant: str
    reason: str
    expires: float


class ArbiterBot:
    def __init__(self, engine: EngineControl, chats: Mapping[int, ChatAccess], confirm_ttl_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.chats = dict(chats)
        self.confirm_ttl_s = confirm_ttl_s
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self.app: Application[Any, Any, Any, Any, Any, Any] | None = None

    # -- wiring ---------------------------------------------------------------------------------
    def build(self, token: str, base_url: str | None = None) -> Application[Any, Any, Any, Any, Any, Any]:
        """The python-telegram-bot Application; ``base_url`` points it at a local Bot API server."""
        builder = Application.builder().token(token)
        if base_url is not None:
            root = base_url.rstrip("/")
            builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
        app = builder.build()
        for name, fn in (("start", self.cmd_help), ("help", self.cmd_help), ("status", self.cmd_status),
                         ("pnl", self.cmd_pnl), ("positions", self.cmd_positions),
                         ("alerts", self.cmd_alerts), ("pause", self.cmd_pause), ("resume", self.cmd_resume),
                         ("kill", self.cmd_kill), ("unkill", self.cmd_unkill)):
            app.add_handler(CommandHandler(name, fn))
        app.add_handler(CallbackQueryHandler(self.on_button, pattern=r"^(confirm|cancel):"))
        self.app = app
        return app

    async def notify(self, alert: Alert) -> int:
        """Send an engine alert to every chat of its tenant (and admin chats); returns the count."""
        if self.app is None:
            return 0
        sent = 0
        for chat_id, access in self.chats.items():
            if access.tenant == alert.tenant or access.role is Role.ADMIN:
                text = f"ALERT [{alert.tenant}] {alert.kind}: {alert.detail}"
                await self.app.bot.send_message(chat_id, text)
                sent += 1
        return sent

    async def watch_alerts(self, poll_s: float = 5.0, ready: asyncio.Event | None = None) -> None:
        """Push alerts raised after the watch started to their chats; runs until cancelled.

        Polling ``alerts`` works the same in process and over gRPC; the first poll only sets the
        baseline, so a restart does not replay history into the chats.
        """
        tenants = sorted({a.tenant for a in self.chats.values()})
        seen: dict[str, int] = {}
        while True:
            for tenant in tenants:
                try:
                    alerts = await self.engine.alerts(tenant)
                except Exception as exc:  # a control-plane hiccup must not kill the watcher
                    log.warning("alert poll failed", extra={"tenant_id": tenant, "error": str(exc)})
                    continue
                newest = max((a.ts_ns for a in alerts), default=0)
                if tenant in seen:
                    for alert in alerts:
                        if alert.ts_ns > seen[tenant]:
                            await self.notify(alert)
                seen[tenant] = max(newest, seen.get(tenant, 0))
            if ready is not None:
                ready.set()
            await asyncio.sleep(poll_s)

    # -- helpers --------------------------------------------------------------------------------
    async def _access(self, update: Update, act: bool = False) -> ChatAccess | None:
        chat = update.effective_chat
        msg = update.effective_message
        access = self.chats.get(chat.id) if chat is not None else None
        if access is None:
            log.warning("telegram command from unauthorised chat",
                        extra={"chat_id": getattr(chat, "id", None)})
            if msg is not None:
                await msg.reply_text("This chat is not authorised.")
            return None
        if act and access.role is Role.VIEWER:
            if msg is not None:
                await msg.reply_text("This chat may only view.")
            return None
        return access

    @staticmethod
    async def _reply(update: Update, text: str) -> None:
        if update.effective_message is not None:
            await update.effective_message.reply_text(text)

    # -- read commands --------------------------------------------------------------------------
    async def cmd_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if await self._access(update) is not None:
            await self._reply(update, HELP)

    async def cmd_status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        access = await self._access(update)
        if access is None:
            return
        st = await self.engine.status(access.tenant)
        lines = [f"engine: {st.engine}"]
        for t in st.tenants:
            state = "running" if t.running else "stopped"
            if t.paused_all:
                state += ", paused"
            elif t.paused_pairs:
                state += f", paused: {', '.join(t.paused_pairs)}"
            kill = f"ON ({t.kill_reason})" if t.kill_reason else "off"
            lines.append(f"{t.tenant}: {state}; kill switch {kill}; sagas {t.open_sagas}; "
                         f"orders {t.open_orders}; day PnL {_usd(t.daily_pnl)}")
        await self._reply(update, "\n".join(lines))

    async def cmd_pnl(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        access = await self._access(update)
        if access is None:
            return
        rows = await self.engine.pnl(access.tenant)
        await self._reply(update, "\n".join(
            f"{r.tenant}: net {_usd(r.pnl.net)} (realised {_usd(r.pnl.realised)}, unrealised "
            f"{_usd(r.pnl.unrealised)}, fees {_usd(r.pnl.fees)}); today {_usd(r.daily)}" for r in rows))

    async def cmd_positions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        access = await self._access(update)
        if access is None:
            return
        rows = await self.engine.positions(access.tenant)
        if not rows:
            await self._reply(update, "No open positions.")
            return
        await self._reply(update, "\n".join(
            f"{p.venue} {p.market} {p.outcome.value}: {format_decimal(p.size, SIZE_DECIMALS)} "
            f"(cost {_usd(p.basis)})" for _, p in rows))

    async def cmd_alerts(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        access = await self._access(update)
        if access is None:
            return
        alerts = (await self.engine.alerts(access.tenant))[-10:]
        if not alerts:
            await self._reply(update, "No alerts.")
            return
        await self._reply(update, "\n".join(
            f"{time.strftime('%H:%M:%S', time.gmtime(a.ts_ns / 1e9))}Z {a.kind}: {a.detail}" for a in alerts))

    # -- actions --------------------------------------------------------------------------------
    async def _pause_resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE, pause: bool) -> None:
        access = await self._access(update, act=True)
        if access is None:
            return
        pair = context.args[0] if context.args else None
        try:
            if pause:
                result = await self.engine.pause(access.tenant, pair)
            else:
                result = await self.engine.resume(access.tenant, pair)
        except UnknownTenant as exc:
            await self._reply(update, f"Unknown {exc.args[0]}.")
            return
        suffix = "" if result.changed else " (no change)"
        await self._reply(update, f"{access.tenant}: {result.detail}{suffix}")

    async def cmd_pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._pause_resume(update, context, True)

    async def cmd_resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._pause_resume(update, context, False)

    async def _ask(self, update: Update, action: str, tenant: str, reason: str, question: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        now = self._clock()
        self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
        nonce = secrets.token_hex(6)
        self._pending[nonce] = _Pending(chat.id, action, tenant, reason, now + self.confirm_ttl_s)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Confirm", callback_data=f"confirm:{nonce}"),
                                          InlineKeyboardButton("Cancel", callback_data=f"cancel:{nonce}")]])
        if update.effective_message is not None:
            await update.effective_message.reply_text(question, reply_markup=keyboard)

    async def cmd_kill(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        access = await self._access(update, act=True)
        if access is None:
            return
        user = update.effective_user
        who = f"@{user.username}" if user is not None and user.username else "telegram"
        reason = " ".join(context.args or []) or f"manual via telegram ({who})"
        await self._ask(update, "kill", access.tenant, reason,
                        f"Trip the kill switch for {access.tenant}? New trades stop; open sagas still hedge.")

    async def cmd_unkill(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        access = await self._access(update, act=True)
        if access is None:
            return
        await self._ask(update, "unkill", access.tenant, "", f"Reset the kill switch for {access.tenant}?")

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        verb, _, nonce = query.data.partition(":")
        chat = update.effective_chat
        pending = self._pending.pop(nonce, None)
        if pending is None or chat is None or pending.chat_id != chat.id or chat.id not in self.chats:
            await query.answer("Unknown or already used confirmation.")
            return
        if pending.expires <= self._clock():
            await query.answer("Confirmation expired.")
            await query.edit_message_text("Expired: nothing was done.")
            return
        await query.answer()
        if verb == "cancel":
            await query.edit_message_text("Cancelled: nothing was done.")
            return
        if pending.action == "kill":
            result = await self.engine.trip_kill_switch(pending.tenant, pending.reason)
            text = f"Kill switch ON for {pending.tenant}: {pending.reason}"
        else:
            result = await self.engine.reset_kill_switch(pending.tenant)
            text = f"Kill switch reset for {pending.tenant}."
        if not result.changed:
            text += " (it already was)"
        await query.edit_message_text(text)
