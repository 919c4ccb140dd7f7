"""``arbiter sim joint``: the local Kalshi and the local Polymarket in one process.

Both simulators run the same scenario with the same seed, so their liquidity makers walk the
same fair value (:class:`~arbiter.sim.common.RandomWalk` is keyed by seed and market only) and
differ only by each venue's occasional skew: that is what opens the cross-venue arbitrage
windows the demo trades. Because the markets are the same by construction, the pairs file is
written as *confirmed* pairs here — the only place where that is legitimate.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from arbiter.cli.argtypes import count, port
from arbiter.cli.errors import UsageError
from arbiter.core.pairs import review_lines
from arbiter.core.units import price_str, size_str
from arbiter.sim.common import (
    ScenarioSpec,
    SimConfigError,
    add_admin_token_arg,
    admin_token_arg,
    load_accounts,
    load_scenario,
    new_admin_token,
    serve_until_signalled,
)
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.sim.polymarket.server import PolymarketSim

__all__ = ["JointSims", "register_sim", "start_joint"]


@dataclass
class JointSims:
    kalshi: Any  # arbiter.sim.kalshi.server.KalshiSim (imported lazily: a sibling package)
    polymarket: PolymarketSim
    scenario: ScenarioSpec

    def pairs(self) -> list[dict[str, Any]]:
        """Kalshi ticker ↔ Polymarket tokens for every scenario market (matched by title)."""
        by_title = {m.question: m for m in self.polymarket.exchange.markets.values()}
        out = []
        for ticker, km in self.kalshi.exchange.markets.items():
            pm = by_title.get(str(getattr(km, "title", "")))
            if pm is None:
                continue
            out.append({
                "name": pm.key.lower(),
                "kalshi_ticker": ticker,
                "polymarket_yes_token": pm.yes_token,
                "polymarket_no_token": pm.no_token,
                "polymarket_tick_size": price_str(pm.tick),
                "polymarket_neg_risk": pm.neg_risk,
                "polymarket_fee_rate": pm.fee.rate_text,
                "polymarket_fee_exponent": pm.fee_exponent,
                "polymarket_min_order_size": size_str(pm.min_order_size),
            })
        return out

    def pairs_toml(self, at: datetime | None = None) -> str:
        """The scenario's pairs, each stamped as reviewed by the scenario (ADR 0136): the engine
        trades reviewed pairs only, and these are one market listed on both local venues."""
        review = review_lines(f"local scenario {self.scenario.name!r} (arbiter sim joint)",
                              at or datetime.now(UTC),
                              "both local venues list this market from one scenario spec (matched "
                              "by title): the same contract by construction; fake money")
        lines = [f"# pairs of the joint local scenario {self.scenario.name!r} (identical by "
                 "construction)", ""]
        for pair in self.pairs():
            lines.append("[[pair]]")
            for key, value in pair.items():
                lines.append(f"{key} = {json.dumps(value)}")
            lines += [*review, ""]
        return "\n".join(lines)

    async def stop(self) -> None:
        await self.polymarket.stop()
        await self.kalshi.stop()


async def start_joint(
    kalshi_accounts: str,
    polymarket_accounts: str | None,
    scenario: ScenarioSpec,
    *,
    seed: int = 0,
    host: str = "127.0.0.1",
    kalshi_port: int = 0,
    polymarket_port: int = 0,
    admin_token: str | None = None,
) -> JointSims:
    """Both venues; one admin token for both test controls (a random one when ``None``)."""
    from arbiter.sim.kalshi.server import build_sim as build_kalshi

    token = admin_token or new_admin_token()
    kalshi = build_kalshi(kalshi_accounts, scenario, seed=seed, admin_token=token)
    accounts = load_accounts(polymarket_accounts) if polymarket_accounts else []
    poly = PolymarketSim(build_exchange(scenario, accounts, seed=seed), scenario=scenario,
                         seed=seed, admin_token=token)
    await kalshi.start(host, kalshi_port)
    try:
        await poly.start(host, polymarket_port)
    except BaseException:
        await kalshi.stop()
        raise
    return JointSims(kalshi, poly, scenario)


def _run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except SimConfigError as exc:
        raise UsageError(str(exc)) from None

    joints: list[JointSims] = []

    async def start() -> str:
        try:
            joint = await start_joint(
                args.kalshi_accounts, args.polymarket_accounts, scenario, seed=args.seed,
                host=args.host, kalshi_port=args.kalshi_port,
                polymarket_port=args.polymarket_port, admin_token=admin_token_arg(args),
            )
        except SimConfigError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"cannot listen: {exc.strerror}") from None
        joints.append(joint)
        if args.pairs_out:
            Path(args.pairs_out).write_text(joint.pairs_toml())
        return (
            f"local Kalshi on {joint.kalshi.rest_url} (ws {joint.kalshi.ws_url}); "
            f"local Polymarket on {joint.polymarket.url} (ws {joint.polymarket.ws_url}); "
            f"{len(joint.pairs())} pair(s)"
            + (f" written to {args.pairs_out}" if args.pairs_out else "")
        )

    async def stop() -> None:
        for joint in joints:
            await joint.stop()

    return serve_until_signalled(start, stop, "joint local venues stopped")


def register_sim(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("joint", help="local Kalshi + local Polymarket with correlated prices")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--kalshi-port", type=port, default=8700)
    p.add_argument("--polymarket-port", type=port, default=8710)
    p.add_argument("--kalshi-accounts", required=True, help="local Kalshi ACCOUNTS.toml")
    p.add_argument("--polymarket-accounts", help="local Polymarket ACCOUNTS.toml")
    p.add_argument("--scenario", default="joint", help="built-in name or TOML file")
    p.add_argument("--seed", type=count(0), default=0)
    p.add_argument("--pairs-out", help="write the scenario's pairs file here")
    add_admin_token_arg(p)
    p.set_defaults(func=_run)
