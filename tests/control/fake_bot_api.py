"""A local stand-in for the Telegram Bot API (aiohttp on 127.0.0.1).

Implements the methods python-telegram-bot calls for a polling bot: getMe, deleteWebhook,
getUpdates (long poll), sendMessage, editMessageText, answerCallbackQuery, plus a few no-ops.
Tests push updates in and read what the bot sent; the library itself runs unmodified.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

from aiohttp import web

BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "arbiter",
    "username": "arbiter_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


class FakeBotApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(1000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what tests use -------------------------------------------------------------------------
    async def push(self, update: dict[str, Any]) -> None:
        async with self._changed:
            update["update_id"] = next(self._ids)
            self.updates.append(update)
            self._changed.notify_all()

    async def command(self, chat_id: int, text: str, user_id: int = 7, username: str = "op") -> None:
        cmd = text.split()[0]
        await self.push(
            {
                "message": {
                    "message_id": next(self._msg_ids),
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "title": "ops"},
                    "from": {"id": user_id, "is_bot": False, "first_name": "Op", "username": username},
                    "text": text,
                    "entities": [{"type": "bot_command", "offset": 0, "length": len(cmd)}],
                }
            }
        )

    async def press(self, chat_id: int, data: str, message_id: int = 1, user_id: int = 7) -> None:
        await self.push(
            {
                "callback_query": {
                    "id": f"cb{next(self._ids)}",
                    "chat_instance": "ci",
                    "data": data,
                    "from": {"id": user_id, "is_bot": False, "first_name": "Op"},
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "text": "?",
                        "chat": {"id": chat_id, "type": "private"},
                        "from": BOT_USER,
                    },
                }
            }
        )

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[dict[str, Any]]:
        return [
            p
            for m, p in self.calls
            if m == method and (chat_id is None or int(p.get("chat_id", 0)) == chat_id)
        ]

    async def wait_call(
        self, method: str, count: int, chat_id: int | None = None, timeout: float = 20
    ) -> list[dict[str, Any]]:
        async def ready() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.sent(method, chat_id)) >= count)

        await asyncio.wait_for(ready(), timeout)
        return self.sent(method, chat_id)

    # -- the Bot API ----------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data: dict[str, Any] = await request.json()
            return data
        form = await request.post()
        out: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else ""
            try:
                out[key] = json.loads(text)
            except ValueError:
                out[key] = text
        return out

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = {
            "message_id": int(params.get("message_id") or next(self._msg_ids)),
            "date": int(time.time()),
            "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        if "reply_markup" in params:
            msg["reply_markup"] = params["reply_markup"]
        return msg

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await self._params(request)
        result: Any
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            wait = min(float(params.get("timeout") or 0), 0.5)
            async with self._changed:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if not self.updates and wait:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait_for(lambda: bool(self.updates)), wait)
                result = list(self.updates)
            return web.json_response({"ok": True, "result": result})
        if method == "getMe":
            result = BOT_USER
        elif method in ("sendMessage", "editMessageText"):
            result = self._message(params)
        elif method in ("answerCallbackQuery", "deleteWebhook", "setMyCommands", "close", "logOut"):
            result = True
        else:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        async with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": result})
