"""``arbiter sim joint``: both local venues, correlated walks, arbitrage windows, pairs file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.cli.sim_joint import start_joint
from arbiter.core.pairs import parse_pairs
from arbiter.core.units import PRICE_SCALE
from arbiter.sim.common import load_scenario

pytestmark = pytest.mark.integration


def _kalshi_accounts(tmp_path: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "k.pub.pem").write_bytes(pem)
    path = tmp_path / "kalshi-accounts.toml"
    path.write_text('[[account]]\napi_key_id = "joint-1"\npublic_key = "k.pub.pem"\n'
                    'cash = "1000.00"\n')
    return str(path)


async def test_joint_scenario_correlates_and_opens_windows(tmp_path: Path) -> None:
    scenario = load_scenario("joint")
    joint = await start_joint(_kalshi_accounts(tmp_path), None, scenario, seed=11)
    try:
        await joint.kalshi.stop_makers()
        # the engine trades reviewed pairs only (ADR 0136): the scenario stamps its own
        pairs = parse_pairs(joint.pairs_toml(), require_review=True)
        assert len(pairs) == len(scenario.markets)
        assert {p.reviewed_by for p in pairs} == {"local scenario 'joint' (arbiter sim joint)"}
        poly = {m.yes_token: m for m in joint.polymarket.exchange.markets.values()}
        windows = 0
        for _ in range(24):
            joint.kalshi.step_makers()
            joint.polymarket.step_makers()
            for pair in pairs:
                k_book = joint.kalshi.exchange.markets[pair.kalshi_ticker].book
                pm = poly[pair.polymarket_yes_token]
                k_bid, k_ask = k_book.best_bid(), k_book.best_ask()
                p_bid, p_ask = pm.top(pm.yes_token)
                assert None not in (k_bid, k_ask, p_bid, p_ask)
                assert k_bid is not None and k_ask is not None
                assert p_bid is not None and p_ask is not None
                # same walk: mids differ by at most the two venues' opposite skews (7 ticks)
                assert abs((k_bid + k_ask) - (p_bid + p_ask)) <= 2 * (2 * 7 * 100)
                # YES on one venue + NO on the other for less than $1
                if p_ask + (PRICE_SCALE - k_bid) < PRICE_SCALE or (
                    k_ask + (PRICE_SCALE - p_bid) < PRICE_SCALE
                ):
                    windows += 1
        assert windows > 0
    finally:
        await joint.stop()
