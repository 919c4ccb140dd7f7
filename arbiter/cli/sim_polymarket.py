"""``arbiter sim polymarket``: run the local Polymarket until interrupted."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from arbiter.cli.argtypes import count, port
from arbiter.cli.errors import UsageError
from arbiter.sim.common import (
    SimConfigError,
    add_admin_token_arg,
    admin_token_arg,
    load_accounts,
    load_scenario,
    serve_until_signalled,
)
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.server import PolymarketSim


def build_sim(args: argparse.Namespace) -> PolymarketSim:
    try:
        scenario = load_scenario(args.scenario)
        accounts = load_accounts(args.accounts)
        exchange = build_exchange(scenario, accounts, seed=args.seed, version=args.version)
    except SimConfigError as exc:
        raise UsageError(str(exc)) from None
    exchange.auth_window_s = args.auth_window_s
    sim = PolymarketSim(
        exchange,
        scenario=None if args.no_makers else scenario,
        seed=args.seed,
        reject_status=args.reject_status,
        rate_limit_scale=1.0 if args.rate_limit else None,
        admin_token=admin_token_arg(args),
    )
    for path in args.catalogue or []:  # real Gamma bodies for /gamma/events (sim.catalogue)
        try:
            sim.gamma.load([json.loads(Path(path).read_text())])
        except (OSError, ValueError) as exc:
            raise UsageError(f"--catalogue {path}: {exc}") from None
    return sim


def _run(args: argparse.Namespace) -> int:
    sim = build_sim(args)

    async def start() -> str:
        try:
            await sim.start(args.host, args.port)
        except OSError as exc:
            raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        return (
            f"local Polymarket listening on {sim.url} (ws {sim.ws_url}); "
            f"{len(sim.exchange.markets)} market(s), exchange v{sim.exchange.version}"
        )

    return serve_until_signalled(start, sim.stop, "local Polymarket stopped")


def register_sim(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("polymarket", help="wire-compatible local Polymarket CLOB (REST + WS)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8710, help="0 picks a free port")
    p.add_argument("--accounts", required=True,
                   help="ACCOUNTS.toml: [[account]] address, collateral, optional signer/api_*")
    p.add_argument("--scenario", help="built-in name (default, static, busy) or a TOML file")
    p.add_argument("--no-makers", action="store_true",
                   help="list the scenario's markets but start with empty books")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--version", type=int, choices=[1, 2], default=2,
                   help="GET /version: 2 (default) is the live venue (v1 orders are refused with "
                        "order_version_mismatch); 1 keeps the legacy py-clob-client 0.34.6 working")
    p.add_argument("--reject-status", type=int, choices=[200, 400], default=400,
                   help="order rejections as HTTP 400 {error} or 200 {success: false}")
    p.add_argument("--rate-limit", action="store_true",
                   help="enforce the venue's documented per-endpoint request windows (429)")
    p.add_argument("--auth-window-s", type=count(0), default=300,
                   help="accepted POLY_TIMESTAMP skew in seconds")
    p.add_argument("--catalogue", nargs="+", metavar="FILE",
                   help="real Gamma bodies (/events or /markets answers) to serve on "
                        "<url>/gamma/events, e.g. tests/pairs/data/p*.json")
    add_admin_token_arg(p)
    p.set_defaults(func=_run)
