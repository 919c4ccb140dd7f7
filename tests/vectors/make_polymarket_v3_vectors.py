"""Compute the deposit-wallet (POLY_1271) and protocol-V2 (ExchangeV3) order vectors with the
official tools, unchanged: ``polymarket-client`` 0.14.0 (Polymarket/py-sdk) and
``py-clob-client-v2`` 1.2.1, both installed in ``.venv``.

    .venv/bin/python tests/vectors/make_polymarket_v3_vectors.py > tests/vectors/polymarket-v3-vectors.json

Each case is signed by both SDKs from the same inputs (fixed salt and timestamp) and the script
refuses to write anything unless their signatures agree byte for byte; the order hash is
``py-clob-client-v2``'s ``build_order_hash`` of the plain order typed data. Nothing here is our
code: ``tests/venues/polymarket/test_v3_vectors.py`` checks our signer against this output.
The key is the vectors' throwaway test key (venues.md §6); never fund it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import eth_account
import polymarket
import py_clob_client_v2
from eth_account import Account
from eth_utils.crypto import keccak
from polymarket._internal.actions.orders.typed_data import (
    build_order_signature,
    build_order_typed_data,
)
from polymarket._internal.actions.orders.types import UnsignedOrder
from polymarket._internal.environment import PRODUCTION_CONFIG
from polymarket._internal.protocol import is_v2_position_id
from polymarket._internal.wallet import derive_beacon_deposit_wallet_address
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaff92c1b8c2bdd4f"
CHAIN = 137
ZERO32 = "0x" + "00" * 32
CTF_TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
#: a protocol-V2 position id: module 1 (binary), bits 40..103 zero, outcome index 0 (YES)
POSITION_ID = str((1 << 248) | (0xC0FFEE << 104) | (0xBEEF << 8) | 0)


def case(name: str, *, token: str, side: str, maker_amount: int, taker_amount: int,
         signature_type: int, neg_risk: bool, salt: int, timestamp: int) -> dict[str, Any]:
    eoa = Account.from_key(KEY)
    deposit_wallet = derive_beacon_deposit_wallet_address(
        eoa.address, PRODUCTION_CONFIG.wallet_derivation)
    v3 = is_v2_position_id(token)
    exchange = (PRODUCTION_CONFIG.exchange_v3 if v3 else PRODUCTION_CONFIG.neg_risk_exchange
                if neg_risk else PRODUCTION_CONFIG.standard_exchange)
    version = "3" if v3 else "2"
    maker = deposit_wallet if signature_type == 3 else eoa.address
    signer = maker if signature_type == 3 else eoa.address

    # polymarket-client 0.14.0: typed data, eth-account sign_typed_data, envelope
    unsigned = UnsignedOrder(
        chain_id=CHAIN, builder=ZERO32, exchange_address=exchange, expiration=0, maker=maker,
        maker_amount=maker_amount, metadata=ZERO32, order_type="GTC", salt=salt, side=side,
        signature_type=signature_type, signer=signer, taker_amount=taker_amount,
        timestamp=timestamp, token_id=token, protocol_version=version)
    typed = build_order_typed_data(unsigned)
    inner = eoa.sign_typed_data(full_message=typed).signature.hex()
    inner = inner if inner.startswith("0x") else "0x" + inner
    sig_client = build_order_signature(unsigned, inner)

    # py-clob-client-v2 1.2.1: ExchangeOrderBuilderV2 with the same salt and timestamp
    builder = ExchangeOrderBuilderV2(exchange, CHAIN, Signer(KEY, CHAIN),
                                     generate_salt=lambda: str(salt), domain_version=version)
    signed = builder.build_signed_order(OrderDataV2(
        maker=maker, tokenId=token, makerAmount=str(maker_amount),
        takerAmount=str(taker_amount), side=Side.BUY if side == "BUY" else Side.SELL,
        signer=signer, signatureType=SignatureTypeV2(signature_type), timestamp=str(timestamp),
        metadata=ZERO32, builder=ZERO32, expiration="0"))
    sig_v2 = signed.signature if signed.signature.startswith("0x") else "0x" + signed.signature
    if sig_client.lower() != sig_v2.lower():
        sys.exit(f"{name}: polymarket-client and py-clob-client-v2 disagree")
    plain = builder.build_order_typed_data(builder.build_order(OrderDataV2(
        maker=maker, tokenId=token, makerAmount=str(maker_amount),
        takerAmount=str(taker_amount), side=Side.BUY if side == "BUY" else Side.SELL,
        signer=signer, signatureType=SignatureTypeV2(signature_type), timestamp=str(timestamp),
        metadata=ZERO32, builder=ZERO32, expiration="0")))
    order_hash = builder.build_order_hash(plain)
    return {
        "name": name,
        "inputs": {"token_id": token, "side": side, "maker_amount": maker_amount,
                   "taker_amount": taker_amount, "signature_type": signature_type,
                   "neg_risk": neg_risk, "salt": salt, "timestamp_ms": timestamp},
        "signer_eoa": eoa.address,
        "maker": maker,
        "signer": signer,
        "exchange": exchange,
        "domain_version": version,
        "app_domain_separator": "0x" + builder.app_domain_separator.hex(),
        "order_hash": order_hash,
        "signature": sig_v2,
        "typed_data_sign_type": (
            "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
            "address verifyingContract,bytes32 salt)" if signature_type == 3 else None),
        "order_type_hash": "0x" + keccak(text=(
            "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
            "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,"
            "bytes32 metadata,bytes32 builder)")).hex(),
    }


def main() -> None:
    out = {
        "generated_with": {
            "polymarket-client": polymarket.__version__,
            "py-clob-client-v2": getattr(py_clob_client_v2, "__version__", "1.2.1"),
            "eth-account": eth_account.__version__,
            "script": "tests/vectors/make_polymarket_v3_vectors.py",
        },
        "chain_id": CHAIN,
        "deposit_wallet_derivation": {
            "factory": PRODUCTION_CONFIG.wallet_derivation.deposit_wallet_factory,
            "beacon": PRODUCTION_CONFIG.wallet_derivation.deposit_wallet_beacon,
        },
        "orders": [
            case("deposit_wallet_buy_v2", token=CTF_TOKEN, side="BUY", maker_amount=5_700_000,
                 taker_amount=10_000_000, signature_type=3, neg_risk=False, salt=123456789,
                 timestamp=1_764_633_600_000),
            case("deposit_wallet_sell_v2_neg_risk", token=CTF_TOKEN, side="SELL",
                 maker_amount=7_000_000, taker_amount=3_150_000, signature_type=3,
                 neg_risk=True, salt=987654321, timestamp=1_764_633_600_500),
            case("position_id_eoa_buy_v3", token=POSITION_ID, side="BUY", maker_amount=2_500_000,
                 taker_amount=5_000_000, signature_type=0, neg_risk=False, salt=424242,
                 timestamp=1_764_633_601_000),
            case("position_id_deposit_wallet_sell_v3", token=POSITION_ID, side="SELL",
                 maker_amount=5_000_000, taker_amount=2_600_000, signature_type=3,
                 neg_risk=False, salt=777, timestamp=1_764_633_601_500),
        ],
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
