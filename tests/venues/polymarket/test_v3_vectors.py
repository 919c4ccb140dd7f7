"""Deposit-wallet (POLY_1271) and ExchangeV3 orders equal the official SDKs' byte for byte.

Vectors: ``tests/vectors/polymarket-v3-vectors.json``, computed by running ``polymarket-client``
0.14.0 and ``py-clob-client-v2`` 1.2.1 (see ``tests/vectors/README.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arbiter.sim.common import ScenarioMarket, ScenarioSpec
from arbiter.sim.polymarket.builder import build_exchange
from arbiter.venues.polymarket.constants import (
    SIDE_CODES,
    V2,
    V3,
    exchange_for,
    is_position_id,
)
from arbiter.venues.polymarket.orders import OrderSpec, build_order
from arbiter.venues.polymarket.signing import (
    SignatureError,
    Signer,
    domain_separator,
    parse_erc7739,
    recover_signer,
    typed_data_sign_digest,
)

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "polymarket-v3-vectors.json").read_text()
)
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaff92c1b8c2bdd4f"
CASES = {c["name"]: c for c in VECTORS["orders"]}


def _spec(case: dict[str, Any]) -> OrderSpec:
    i = case["inputs"]
    side = SIDE_CODES[i["side"]]
    shares = i["taker_amount"] if side == 0 else i["maker_amount"]
    usdc = i["maker_amount"] if side == 0 else i["taker_amount"]
    price = usdc * 10_000 // shares
    return OrderSpec(
        token_id=i["token_id"], side=side, price=price, size=shares, tick=100,
        neg_risk=i["neg_risk"], salt=i["salt"], timestamp_ms=i["timestamp_ms"],
        signature_type=i["signature_type"],
        funder=case["maker"] if i["signature_type"] == 3 else None,
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_our_signature_and_hash_equal_the_official_sdks(name: str) -> None:
    case = CASES[name]
    signed = build_order(_spec(case), Signer(KEY), VECTORS["chain_id"], V2)
    body = signed.order_json()
    assert signed.signature == case["signature"]
    assert signed.order_hash == case["order_hash"]
    assert body["maker"] == case["maker"] and body["signer"] == case["signer"]
    assert body["signatureType"] == case["inputs"]["signature_type"]
    assert signed.version == (3 if case["domain_version"] == "3" else 2)


def test_position_ids_route_to_exchange_v3() -> None:
    v3 = CASES["position_id_eoa_buy_v3"]
    assert is_position_id(v3["inputs"]["token_id"])
    assert not is_position_id(CASES["deposit_wallet_buy_v2"]["inputs"]["token_id"])
    assert exchange_for(V2, v3["inputs"]["token_id"]) is V3
    assert V3.exchange == v3["exchange"] == "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
    assert "0x" + domain_separator(137, V3.exchange, "3").hex() == v3["app_domain_separator"]


def test_the_envelope_parses_and_recovers_the_owner() -> None:
    case = CASES["deposit_wallet_sell_v2_neg_risk"]
    env = parse_erc7739(case["signature"])
    assert "0x" + env.app_domain.hex() == case["app_domain_separator"]
    assert env.contents_type.startswith("Order(uint256 salt,")
    digest = typed_data_sign_digest(env.app_domain, env.contents_hash, 137, case["signer"])
    assert recover_signer(digest, env.inner) == case["signer_eoa"]
    with pytest.raises(SignatureError):
        parse_erc7739(case["signature"][:-2])  # a truncated envelope


def test_the_local_venue_builds_position_id_markets() -> None:
    spec = ScenarioSpec(name="v2", markets=(ScenarioMarket(
        key="PV2", title="A protocol-V2 market", fair=5000,
        venues={"polymarket": {"protocol": "v2"}}),))
    market = next(iter(build_exchange(spec).markets.values()))
    assert is_position_id(market.yes_token) and is_position_id(market.no_token)
    assert market.yes_token != market.no_token
