"""The protocol constants the client and the local venue share, read from the official SDKs.

Both sides must agree on these (addresses, EIP-712 domain names, cursors, the ClobAuth message,
signature types): they are facts of the protocol, not a behaviour either side models. Sharing
them is safe only if they equal the official SDKs' values, which is what this test holds them to
(``py-clob-client-v2`` 1.2.1 ``config.py`` / ``constants.py`` / ``signing/eip712.py`` /
``order_utils/model``; ``polymarket-client`` 0.14.0 ``environments.py``, ``_internal``).
"""

from __future__ import annotations

from polymarket import environments as pmc_env
from polymarket._internal import protocol as pmc_protocol
from polymarket._internal.actions import _cursor as pmc_cursor
from polymarket._internal.actions.orders import typed_data as pmc_typed
from py_clob_client_v2 import config as v2_config
from py_clob_client_v2 import constants as v2_constants
from py_clob_client_v2.order_utils.model import ctf_exchange_v2_typed_data as v2_typed
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signing import eip712 as v2_eip712

from arbiter.venues.polymarket import constants as c


def test_exchange_addresses_equal_both_sdks() -> None:
    cfg = v2_config.get_contract_config(c.POLYGON_CHAIN_ID)
    assert (c.V1.exchange, c.V1.neg_risk_exchange) == (cfg.exchange, cfg.neg_risk_exchange)
    assert (c.V2.exchange, c.V2.neg_risk_exchange) == (cfg.exchange_v2,
                                                        cfg.neg_risk_exchange_v2)
    assert c.V3.exchange == c.V3.neg_risk_exchange == cfg.exchange_v3
    assert cfg.conditional_tokens == c.CONDITIONAL_TOKENS
    prod = pmc_env.PRODUCTION._config
    assert prod.chain_id == c.POLYGON_CHAIN_ID
    assert (c.V2.exchange, c.V2.neg_risk_exchange) == (prod.standard_exchange,
                                                        prod.neg_risk_exchange)
    assert c.V3.exchange == prod.exchange_v3
    assert c.V2.collateral == c.V3.collateral == prod.collateral_token == cfg.collateral


def test_domains_messages_cursors_and_signature_types() -> None:
    assert c.EXCHANGE_DOMAIN_NAME == v2_typed.CTF_EXCHANGE_V2_DOMAIN_NAME
    assert c.CLOB_AUTH_MESSAGE == v2_eip712.MSG_TO_SIGN
    assert (c.FIRST_CURSOR, c.END_CURSOR) == (v2_constants.INITIAL_CURSOR,
                                              v2_constants.END_CURSOR)
    assert c.END_CURSOR == pmc_cursor.END_CURSOR
    assert (c.DEPOSIT_WALLET_DOMAIN_NAME, c.DEPOSIT_WALLET_DOMAIN_VERSION) == (
        pmc_typed._DEPOSIT_WALLET_DOMAIN_NAME, pmc_typed._DEPOSIT_WALLET_DOMAIN_VERSION)
    assert (c.SIG_EOA, c.SIG_POLY_PROXY, c.SIG_POLY_GNOSIS_SAFE, c.SIG_POLY_1271) == (
        SignatureTypeV2.EOA, SignatureTypeV2.POLY_PROXY, SignatureTypeV2.POLY_GNOSIS_SAFE,
        SignatureTypeV2.POLY_1271)
    assert c._V2_RESERVED_BITS == pmc_protocol._V2_RESERVED_BITS_MASK
