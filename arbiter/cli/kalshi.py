"""Kalshi adapter for the operator commands (:mod:`arbiter.cli.venue`).

Connectivity is checked step by step (DNS, TCP, TLS, public REST, signed REST, WebSocket
subscribe) so a failure names the layer that broke, with the latency of each step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import time
from urllib.parse import urlsplit

from arbiter.cli.checks import Check
from arbiter.venues.base import ExchangeClient, VenueError
from arbiter.venues.kalshi.config import KalshiConfig, load_signer, resolve_config
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.ws import KalshiFeed

VENUE = "kalshi"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kalshi")
    group.add_argument("--kalshi-demo", action="store_true",
                       help="use the demo environment and KALSHI_DEMO_* credentials")
    group.add_argument("--kalshi-url", help="REST base URL (e.g. a local Kalshi)")
    group.add_argument("--kalshi-ws-url", help="WebSocket URL (e.g. a local Kalshi)")


def config_from_args(args: argparse.Namespace, require_credentials: bool = True) -> KalshiConfig:
    return resolve_config(
        demo=bool(getattr(args, "kalshi_demo", False)),
        rest_url=getattr(args, "kalshi_url", None),
        ws_url=getattr(args, "kalshi_ws_url", None),
        require_credentials=require_credentials,
    )


def make_client(args: argparse.Namespace) -> ExchangeClient:
    config = config_from_args(args)
    return KalshiRestClient(config, load_signer(config))


async def _timed_tcp(host: str, port: int, tls: bool) -> tuple[float, float | None]:
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    tcp_ms = (time.perf_counter() - t0) * 1000
    tls_ms: float | None = None
    if tls:
        t1 = time.perf_counter()
        await writer.start_tls(ssl.create_default_context(), server_hostname=host)
        tls_ms = (time.perf_counter() - t1) * 1000
    writer.close()
    await writer.wait_closed()
    del reader
    return tcp_ms, tls_ms


async def check_connectivity(args: argparse.Namespace) -> list[Check]:
    config = config_from_args(args)  # ValueError (credentials) is reported by the caller
    checks: list[Check] = []

    def add(step: str, ok: bool, ms: float | None, detail: str = "") -> bool:
        checks.append(Check(f"{VENUE}-{config.env.value}", step, ok, ms, detail))
        return ok

    url = urlsplit(config.rest_url)
    host = url.hostname or ""
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    try:
        socket.inet_aton(host)
        add("dns", True, None, f"{host} is an address")
    except OSError:
        t0 = time.perf_counter()
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port)
            add("dns", True, (time.perf_counter() - t0) * 1000, str(infos[0][4][0]))
        except OSError as exc:
            add("dns", False, None, f"{host}: {exc}")
            return checks
    try:
        tcp_ms, tls_ms = await asyncio.wait_for(_timed_tcp(host, port, tls), 10)
        add("tcp", True, tcp_ms, f"{host}:{port}")
        add("tls", True, tls_ms, "verified") if tls else add("tls", True, None, "n/a (plain http)")
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        add("tcp/tls", False, None, f"{host}:{port}: {exc or type(exc).__name__}")
        return checks
    signer = load_signer(config)
    client = KalshiRestClient(config, signer, max_retries=0, timeout_s=10)
    tickers: list[str] = []
    try:
        t0 = time.perf_counter()
        try:
            status = await client.exchange_status()
            add("rest", True, (time.perf_counter() - t0) * 1000,
                f"trading_active={status.get('trading_active')}")
            markets = await client.markets(status="open", limit=1)
            tickers = [m.ticker for m in markets]
        except VenueError as exc:
            add("rest", False, None, str(exc))
        t0 = time.perf_counter()
        try:
            await client.balance()
            add("rest-auth", True, (time.perf_counter() - t0) * 1000, f"key {config.key_id}")
        except VenueError as exc:
            add("rest-auth", False, None, str(exc))
    finally:
        await client.close()
    if not tickers:
        add("ws", False, None, "no open market to subscribe to")
        return checks
    feed = KalshiFeed(config, signer, tickers[:1], max_backoff_s=1.0)
    t0 = time.perf_counter()
    task = asyncio.create_task(feed.run())
    try:
        synced = await feed.wait_synced(10)
        if synced:
            add("ws", True, (time.perf_counter() - t0) * 1000, f"orderbook_delta {tickers[0]}")
        else:
            codes = feed.stats.error_codes
            add("ws", False, None, f"no snapshot within 10 s (errors {codes})" if codes
                else "no snapshot within 10 s (handshake refused or unreachable)")
    finally:
        feed.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    return checks
