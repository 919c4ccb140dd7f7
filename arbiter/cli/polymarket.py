"""Polymarket adapter for the operator commands (:mod:`arbiter.cli.venue`).

``--market`` is the outcome token id; ``--outcome`` only labels the output. Credentials come
from the environment (``POLYMARKET_PRIVATE_KEY``, optional ``POLYMARKET_FUNDER`` and
``POLYMARKET_API_KEY``/``_SECRET``/``_PASSPHRASE``), never from flags.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import ssl
import time
from urllib.parse import urlsplit

import aiohttp

from arbiter.cli.checks import Check
from arbiter.core.units import money_str
from arbiter.venues.base import ExchangeClient, VenueError
from arbiter.venues.polymarket.auth import CredentialsError, PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.constants import DEFAULT_REST_URL, DEFAULT_WS_URL
from arbiter.venues.polymarket.rest import PolymarketRest

VENUE = "polymarket"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Polymarket")
    group.add_argument("--polymarket-url",
                       help="CLOB REST base URL (e.g. a local Polymarket; env POLYMARKET_URL)")
    group.add_argument("--polymarket-ws-url",
                       help="WebSocket base URL ending in /ws (env POLYMARKET_WS_URL)")


def rest_url(args: argparse.Namespace) -> str:
    return str(getattr(args, "polymarket_url", None) or os.environ.get("POLYMARKET_URL")
               or DEFAULT_REST_URL)


def ws_url(args: argparse.Namespace) -> str:
    return str(getattr(args, "polymarket_ws_url", None) or os.environ.get("POLYMARKET_WS_URL")
               or _ws_from_rest(rest_url(args)))


def _ws_from_rest(url: str) -> str:
    """A local Polymarket serves both on one port; the real venue uses its own WS host."""
    if url.rstrip("/") == DEFAULT_REST_URL:
        return DEFAULT_WS_URL
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws"


def make_client(args: argparse.Namespace) -> ExchangeClient:
    creds = PolymarketCredentials.from_env()  # CredentialsError is a ValueError
    return PolymarketClient(PolymarketRest(rest_url(args), creds))


async def check_connectivity(args: argparse.Namespace) -> list[Check]:
    checks: list[Check] = []

    def add(step: str, ok: bool, ms: float | None, detail: str = "") -> bool:
        checks.append(Check(VENUE, step, ok, ms, detail))
        return ok

    base = rest_url(args)
    parts = urlsplit(base)
    tls = parts.scheme == "https"
    host, port = parts.hostname or "", parts.port or (443 if tls else 80)
    t0 = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ssl.create_default_context() if tls else None),
            10,
        )
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
        add("tcp", True, (time.perf_counter() - t0) * 1000,
            f"{host}:{port} ({'TLS verified' if tls else 'plain http'})")
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        add("tcp", False, None, f"{host}:{port}: {exc or type(exc).__name__}")
        return checks
    public = PolymarketRest(base)
    token = ""
    try:
        t0 = time.perf_counter()
        try:
            server_time = await public.server_time()
            skew = server_time - int(time.time())
            add("rest", True, (time.perf_counter() - t0) * 1000, f"{base} clock skew {skew:+d}s")
            page = await public.markets_page()
            for market in page.get("data") or []:
                if market.get("active") and market.get("tokens"):
                    token = str(market["tokens"][0]["token_id"])
                    break
        except VenueError as exc:
            add("rest", False, None, f"{base}: {exc}")
            return checks
    finally:
        await public.close()
    try:
        creds = PolymarketCredentials.from_env()
    except CredentialsError as exc:
        add("rest-auth", False, None, str(exc))
    else:
        client = PolymarketClient(PolymarketRest(base, creds))
        try:
            t0 = time.perf_counter()
            try:
                await client.ready()
                amount = await client.balance()
                add("rest-auth", True, (time.perf_counter() - t0) * 1000,
                    f"signer {creds.signer.address}, exchange v{client.exchange_version}, "
                    f"balance ${money_str(amount)}")
            except VenueError as exc:
                add("rest-auth", False, None, str(exc))
        finally:
            await client.close()
    if not token:
        add("ws", False, None, "no active market to subscribe to")
        return checks
    url = ws_url(args).rstrip("/") + "/market"
    t0 = time.perf_counter()
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_json({"assets_ids": [token], "type": "market"})
            msg = await ws.receive(timeout=10)
            ok = msg.type is aiohttp.WSMsgType.TEXT and '"book"' in msg.data
            add("ws", ok, (time.perf_counter() - t0) * 1000,
                f"book snapshot for {token[:12]}…" if ok else f"unexpected {msg.type.name}")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        add("ws", False, None, f"{url}: {exc!r}")
    return checks
