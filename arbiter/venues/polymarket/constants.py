"""Venue constants for the Polymarket CLOB, in one place because the venue keeps moving them.

The v1 column is what ``py-clob-client`` 0.34.6 signs against (and what the local Polymarket
speaks by default, so the official SDK works against it); v2 is the live venue since 2026-04-28
(venues.md §2.1, §2.13). Changing a venue version means editing this file only.

The client and the local Polymarket both read this module, which is safe only because these are
protocol facts (contract addresses, EIP-712 domain names, the ClobAuth message, cursors,
signature types), each equal to the official SDKs' own value
(``py-clob-client-v2`` 1.2.1 ``config.py``, ``constants.py``, ``signing/eip712.py``,
``order_utils/model``; ``polymarket-client`` 0.14.0 ``environments.py``): held to them by
``tests/venues/polymarket/test_constants_vs_sdk.py``. Venue *behaviour* (rules, sentences,
routing) is never shared: the local venue has its own (ADR 0124).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

POLYGON_CHAIN_ID: Final = 137
AMOY_CHAIN_ID: Final = 80002

DEFAULT_REST_URL: Final = "https://clob.polymarket.com"
DEFAULT_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws"

ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32: Final = "0x" + "00" * 32

#: Cursor the venue returns on the last page; the SDK loops until it sees it.
END_CURSOR: Final = "LTE="
FIRST_CURSOR: Final = "MA=="

CLOB_AUTH_MESSAGE: Final = "This message attests that I control the given wallet"

EXCHANGE_DOMAIN_NAME: Final = "Polymarket CTF Exchange"


@dataclass(frozen=True, slots=True)
class ExchangeVersion:
    """One generation of the CTF exchange: its EIP-712 domain version and contract addresses."""

    version: int
    domain_version: str
    exchange: str
    neg_risk_exchange: str
    collateral: str

    def verifying_contract(self, neg_risk: bool) -> str:
        return self.neg_risk_exchange if neg_risk else self.exchange


V1: Final = ExchangeVersion(
    version=1,
    domain_version="1",
    exchange="0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E",
    neg_risk_exchange="0xC5d563A36AE78145C45a50134d48A1215220f80a",
    collateral="0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174",
)
V2: Final = ExchangeVersion(
    version=2,
    domain_version="2",
    exchange="0xE111180000d2663C0091e4f400237545B87B996B",
    neg_risk_exchange="0xe2222d279d744050d28e00520010520000310F59",
    collateral="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
)
VERSIONS: Final = {1: V1, 2: V2}
#: Protocol V2 markets (outcome ids are *position ids*) trade on ExchangeV3 with EIP-712 domain
#: version "3" and the same 11-field struct (docs /protocol-v2-migration; ``py-clob-client-v2``
#: 1.2.1 ``config.py`` ``exchange_v3`` and ``order_builder/builder.py`` "position_id always
#: selects Exchange V3"; ``polymarket-client`` 0.14.0 ``environments.py`` ``exchange_v3``,
#: ``orders/context.py`` ``resolve_order_exchange_address``). Not a ``GET /version`` answer:
#: chosen per token, on a venue that answers 2. One contract for normal and neg-risk markets.
V3: Final = ExchangeVersion(
    version=3,
    domain_version="3",
    exchange="0xe3333700cA9d93003F00f0F71f8515005F6c00Aa",
    neg_risk_exchange="0xe3333700cA9d93003F00f0F71f8515005F6c00Aa",
    collateral="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
)
#: bits 40..103 of a protocol-V2 position id are zero (``polymarket-client``
#: ``_internal/protocol.py`` ``_V2_RESERVED_BITS_MASK``); a CTF token id (a hash) has them set
_V2_RESERVED_BITS: Final = ((1 << 64) - 1) << 40


def is_position_id(token_id: str) -> bool:
    """Is this outcome id a protocol-V2 position id (an ExchangeV3 market)?"""
    try:
        value = int(token_id)
    except ValueError:
        return False
    return 0 <= value < 2**256 and value & _V2_RESERVED_BITS == 0


def exchange_for(version: ExchangeVersion, token_id: str) -> ExchangeVersion:
    """The generation an order for ``token_id`` is signed for on a venue speaking ``version``."""
    return V3 if version.version >= 2 and is_position_id(token_id) else version

CONDITIONAL_TOKENS: Final = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"

#: Signature types (``signatureType`` in the signed struct).
SIG_EOA: Final = 0
SIG_POLY_PROXY: Final = 1
SIG_POLY_GNOSIS_SAFE: Final = 2
SIG_POLY_1271: Final = 3  # deposit wallets: maker = signer = wallet, ERC-7739 envelope

#: ERC-7739 ``TypedDataSign`` wrapper of a deposit wallet's order signature: the wallet's
#: EIP-712 domain (``polymarket-client`` ``orders/typed_data.py`` ``_DEPOSIT_WALLET_DOMAIN_*``;
#: ``py-clob-client-v2`` ``exchange_order_builder_v2.py`` ``DEPOSIT_WALLET_*``)
DEPOSIT_WALLET_DOMAIN_NAME: Final = "DepositWallet"
DEPOSIT_WALLET_DOMAIN_VERSION: Final = "1"

#: ``side`` in the signed struct; the POST body carries the strings.
SIDE_BUY: Final = 0
SIDE_SELL: Final = 1
SIDE_NAMES: Final = {SIDE_BUY: "BUY", SIDE_SELL: "SELL"}
SIDE_CODES: Final = {"BUY": SIDE_BUY, "SELL": SIDE_SELL}

ORDER_TYPES: Final = ("GTC", "FOK", "GTD", "FAK")

#: A GTD order's expiration must be at least this far ahead: ``polymarket-client`` 0.14.0
#: ``_internal/actions/orders/limit.py`` ``_MIN_EXPIRATION_BUFFER_S = 180`` ("expiration must be
#: at least 180 seconds in the future", checked before signing); docs /trading/place-orders
#: "the expiration must be at least 3 minutes in the future — orders expiring sooner are
#: rejected". (Earlier docs said 60 s; venues.md §0.1.)
GTD_MIN_LEAD_S: Final = 180
