"""Our encoders and signatures against the official SDKs' vectors, byte for byte."""

from __future__ import annotations

from typing import Any

import pytest
from eth_hash.auto import keccak

from arbiter.core.units import parse_price, parse_size, parse_tick
from arbiter.venues.polymarket.auth import ApiCreds, l1_headers, l2_headers
from arbiter.venues.polymarket.constants import SIDE_CODES, V1, V2
from arbiter.venues.polymarket.orders import OrderSpec, build_order, order_amounts
from arbiter.venues.polymarket.signing import (
    ORDER_V1_TYPE,
    ORDER_V2_TYPE,
    Signer,
    book_hash,
    clob_auth_digest,
    clob_auth_domain_separator,
    clob_auth_struct_hash,
    domain_separator,
    hmac_signature,
    recover_signer,
)


def _signer(v: dict[str, Any]) -> Signer:
    return Signer(v["test_key"]["private_key"])


def test_test_key_address(pm_vectors: dict[str, Any]) -> None:
    assert _signer(pm_vectors).address == pm_vectors["test_key"]["address"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_orders_v1_match_vectors(pm_vectors: dict[str, Any], index: int) -> None:
    vec = pm_vectors["orders_v1"][index]
    inp = vec["inputs"]
    tick = parse_tick(inp["tick_size"])
    spec = OrderSpec(
        token_id=inp["token_id"],
        side=SIDE_CODES[inp["side"]],
        price=parse_price(repr(inp["price"]), tick),
        size=parse_size(repr(inp["size"])),
        tick=tick,
        neg_risk=inp["neg_risk"],
        fee_rate_bps=inp["fee_rate_bps"],
        order_type=inp["order_type"],
        expiration=inp["expiration"],
        nonce=inp["nonce"],
        salt=inp["salt"],
        signature_type=inp["signature_type"],
        funder=inp["funder"],
    )
    signed = build_order(spec, _signer(pm_vectors), vec["chain_id"], V1)
    assert vec["order_type_string"] == ORDER_V1_TYPE
    assert "0x" + keccak(ORDER_V1_TYPE.encode()).hex() == vec["order_type_hash"]
    dom = domain_separator(vec["chain_id"], vec["verifying_contract"], "1")
    assert "0x" + dom.hex() == vec["domain_separator"]
    assert "0x" + signed.order.struct_hash().hex() == vec["struct_hash"]
    assert signed.order_hash == vec["eip712_digest"]
    assert signed.signature == vec["signature"]
    creds = pm_vectors["l2_credentials"]
    owner = creds["apiKey"]
    assert signed.body(owner) == vec["post_order_body"]
    serialized = signed.serialize(owner)
    assert serialized == vec["post_order_body_serialized"]
    headers = l2_headers(
        signed.order.signer,
        ApiCreds(owner, creds["secret"], creds["passphrase"]),
        "POST",
        "/order",
        serialized,
        timestamp=1700000000,
    )
    assert headers == vec["post_order_l2_headers"]
    assert recover_signer(bytes.fromhex(vec["eip712_digest"][2:]), signed.signature) == (
        vec["signer_address"]
    )


def test_order_v2_matches_vector(pm_vectors: dict[str, Any]) -> None:
    vec = pm_vectors["orders_v2"][0]
    msg = vec["message"]
    assert vec["order_type_string"] == ORDER_V2_TYPE
    spec = OrderSpec(
        token_id=msg["tokenId"],
        side=msg["side"],
        price=parse_price("0.57", 100),
        size=parse_size("10"),
        tick=100,
        salt=int(msg["salt"]),
        timestamp_ms=int(msg["timestamp"]),
    )
    signed = build_order(spec, _signer(pm_vectors), vec["domain"]["chainId"], V2)
    assert V2.exchange == vec["domain"]["verifyingContract"]
    assert signed.order_hash == vec["eip712_digest"]
    assert signed.signature == vec["signature"]
    assert signed.body(pm_vectors["l2_credentials"]["apiKey"]) == vec["post_order_body"]


def test_clob_auth_l1(pm_vectors: dict[str, Any]) -> None:
    vec = pm_vectors["clob_auth_l1"]
    ts = str(vec["timestamp"])
    assert "0x" + clob_auth_domain_separator(137).hex() == vec["domain_separator"]
    assert "0x" + clob_auth_struct_hash(vec["address"], ts, 0).hex() == vec["struct_hash"]
    assert "0x" + clob_auth_digest(vec["address"], ts, 0, 137).hex() == vec["eip712_digest"]
    headers = l1_headers(_signer(pm_vectors), 137, 0, timestamp=vec["timestamp"])
    assert headers == vec["headers"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_hmac_l2(pm_vectors: dict[str, Any], index: int) -> None:
    vec = pm_vectors["hmac_l2"][index]
    secret = pm_vectors["l2_credentials"]["secret"]
    sig = hmac_signature(
        secret, vec["timestamp"], vec["method"], vec["request_path"], vec["body"]
    )
    assert sig == vec["signature"]


def test_book_hash(pm_vectors: dict[str, Any]) -> None:
    b = pm_vectors["book_hash"]["book"]
    got = book_hash(
        b["market"], b["asset_id"], b["timestamp"], b["bids"], b["asks"],
        b["min_order_size"], b["tick_size"], b["neg_risk"], b["last_trade_price"],
    )
    assert got == pm_vectors["book_hash"]["sha1"]


def test_exact_amounts_not_float_quirk(pm_vectors: dict[str, Any]) -> None:
    for vec in pm_vectors["sdk_amount_float_quirk"]:
        tick = parse_tick(vec["tick_size"])
        maker, taker = order_amounts(
            SIDE_CODES[vec["side"]],
            parse_price(repr(vec["price"]), tick),
            parse_size(repr(vec["size"])),
            tick,
        )
        assert (str(maker), str(taker)) == (vec["exact_maker_amount"], vec["exact_taker_amount"])
        assert (str(maker), str(taker)) != (vec["sdk_maker_amount"], vec["sdk_taker_amount"])


def test_off_tick_price_is_rejected_not_rounded() -> None:
    with pytest.raises(ValueError, match="tick"):
        order_amounts(0, 5750, 10_000_000, 100)
    with pytest.raises(ValueError, match="outside"):
        order_amounts(0, 10_000, 10_000_000, 100)


def test_tampered_order_recovers_other_address(pm_vectors: dict[str, Any]) -> None:
    vec = pm_vectors["orders_v1"][0]
    digest = bytearray(bytes.fromhex(vec["eip712_digest"][2:]))
    digest[0] ^= 1
    assert recover_signer(bytes(digest), vec["signature"]) != vec["signer_address"]
