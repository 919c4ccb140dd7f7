"""``arbiter sim kalshi``: run the local Kalshi until interrupted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from arbiter.cli.argtypes import count, port
from arbiter.cli.errors import UsageError
from arbiter.sim.common import (
    SimConfigError,
    add_admin_token_arg,
    admin_token_arg,
    load_scenario,
    serve_until_signalled,
)
from arbiter.sim.kalshi.server import RATE_TIERS, build_sim
from arbiter.venues.kalshi.signing import KeyFileError


def _run(args: argparse.Namespace) -> int:
    try:
        scenario = None if args.no_makers else load_scenario(args.scenario)
        sim = build_sim(
            args.accounts, scenario, seed=args.seed, ts_window_ms=args.ts_window_ms,
            legacy_sdk=args.legacy_sdk, legacy_ws=args.legacy_ws, rate_tier=args.rate_limit,
            shards=_shards(args.shard), ws_auth_required=not args.public_ws,
            admin_token=admin_token_arg(args),
        )
    except (SimConfigError, KeyFileError) as exc:
        raise UsageError(str(exc)) from None
    sim.catalogue.load(_catalogue(args.catalogue))

    async def start() -> str:
        try:
            await sim.start(args.host, args.port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        markets = ", ".join(sim.exchange.markets) or "none"
        return f"local Kalshi listening on {sim.rest_url} (ws {sim.ws_url}); markets: {markets}"

    return serve_until_signalled(start, sim.stop, "local Kalshi stopped")


def _catalogue(paths: list[str] | None) -> list[Any]:
    """Real venue bodies to serve on ``GET /events`` / ``/series`` (arbiter.sim.catalogue)."""
    out = []
    for path in paths or []:
        try:
            out.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--catalogue {path}: {exc}") from None
    return out


def _shards(specs: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for spec in specs or []:
        ticker, sep, index = spec.partition("=")
        if not sep or not ticker or not index.isdigit():
            raise UsageError(f"--shard wants TICKER=INDEX, got {spec!r}")
        out[ticker] = int(index)
    return out


def register_sim(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("kalshi", help="wire-compatible local Kalshi (REST + WebSocket)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8700, help="0 picks a free port")
    p.add_argument("--accounts", required=True, help="ACCOUNTS.toml (public keys only)")
    p.add_argument("--scenario", help="built-in name (default, static, busy) or a TOML file")
    p.add_argument("--no-makers", action="store_true", help="start with empty books")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--ts-window-ms", type=count(0), default=30_000,
                   help="accepted signature timestamp skew")
    p.add_argument("--legacy-sdk", action="store_true",
                   help="answer as the SDK era did (legacy order endpoints, integer fields, "
                   "side/action) instead of 410 like the live venue; for kalshi-python-sync 3.2.0")
    p.add_argument("--shard", action="append", metavar="TICKER=INDEX",
                   help="pin a market to an exchange shard (repeatable; default shard 0)")
    p.add_argument("--legacy-ws", action="store_true",
                   help="also emit the SDK-era integer fields on WebSocket frames")
    p.add_argument("--public-ws", action="store_true",
                   help="accept unsigned WebSocket upgrades for public channels (older docs)")
    p.add_argument("--rate-limit", choices=sorted(RATE_TIERS),
                   help="enforce the venue's token buckets for this tier")
    p.add_argument("--catalogue", nargs="+", metavar="FILE",
                   help="real Kalshi bodies (/events, /markets, /series answers) to serve on "
                        "GET /events and /series, e.g. tests/pairs/data/kalshi_*.json")
    add_admin_token_arg(p)
    p.set_defaults(func=_run)
