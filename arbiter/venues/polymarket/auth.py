"""Polymarket credentials and the L1 (wallet) / L2 (API-key HMAC) request headers.

The API key is bound to the EOA that created it through L1, so ``POLY_ADDRESS`` is always the
signer EOA, also when orders spend from a proxy/Safe funder. Secrets never reach ``repr``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from arbiter.venues.polymarket.constants import (
    POLYGON_CHAIN_ID,
    SIG_EOA,
    SIG_POLY_1271,
    SIG_POLY_GNOSIS_SAFE,
)
from arbiter.venues.polymarket.signing import (
    Signer,
    checksum,
    clob_auth_digest,
    hmac_signature,
)

__all__ = [
    "ApiCreds",
    "CredentialsError",
    "PolymarketCredentials",
    "l1_headers",
    "l2_headers",
]

POLY_ADDRESS = "POLY_ADDRESS"
POLY_SIGNATURE = "POLY_SIGNATURE"
POLY_TIMESTAMP = "POLY_TIMESTAMP"
POLY_NONCE = "POLY_NONCE"
POLY_API_KEY = "POLY_API_KEY"
POLY_PASSPHRASE = "POLY_PASSPHRASE"


class CredentialsError(ValueError):
    """Missing or malformed credentials (reported to the operator as one line)."""


@dataclass(frozen=True, slots=True)
class ApiCreds:
    """The L2 triple the venue hands out for (address, nonce)."""

    api_key: str
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PolymarketCredentials:
    signer: Signer
    funder: str | None = None
    signature_type: int = SIG_EOA
    api: ApiCreds | None = None
    chain_id: int = POLYGON_CHAIN_ID

    @property
    def maker(self) -> str:
        """The address whose funds orders use."""
        return self.funder or self.signer.address

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PolymarketCredentials:
        """``POLYMARKET_PRIVATE_KEY`` (+ ``_FUNDER``, ``_SIGNATURE_TYPE``, ``_API_KEY``/...).

        A funder without an explicit signature type means a Gnosis Safe, the common browser
        wallet setup. API creds are optional: the client derives them through L1 when absent.
        """
        env = os.environ if env is None else env
        key = env.get("POLYMARKET_PRIVATE_KEY")
        if not key:
            raise CredentialsError("POLYMARKET_PRIVATE_KEY is not set")
        try:
            signer = Signer(key)
        except ValueError as exc:
            raise CredentialsError(f"POLYMARKET_PRIVATE_KEY: {exc}") from None
        funder = env.get("POLYMARKET_FUNDER") or None
        sig_text = env.get("POLYMARKET_SIGNATURE_TYPE")
        if sig_text:
            try:
                sig_type = int(sig_text)
            except ValueError:
                raise CredentialsError(
                    "POLYMARKET_SIGNATURE_TYPE must be 0, 1, 2 or 3"
                ) from None
            if not SIG_EOA <= sig_type <= SIG_POLY_1271:
                raise CredentialsError("POLYMARKET_SIGNATURE_TYPE must be 0, 1, 2 or 3")
            if sig_type == SIG_POLY_1271 and not funder:
                raise CredentialsError(
                    "POLYMARKET_SIGNATURE_TYPE=3 (deposit wallet) needs POLYMARKET_FUNDER = "
                    "the deposit wallet address"
                )
        else:
            sig_type = SIG_POLY_GNOSIS_SAFE if funder else SIG_EOA
        if funder:
            try:
                funder = checksum(funder)
            except ValueError:
                raise CredentialsError(f"POLYMARKET_FUNDER {funder!r} is not an address") from None
        parts = [env.get(f"POLYMARKET_API_{n}") for n in ("KEY", "SECRET", "PASSPHRASE")]
        api = None
        if any(parts):
            if not all(parts):
                raise CredentialsError(
                    "set all of POLYMARKET_API_KEY, POLYMARKET_API_SECRET, "
                    "POLYMARKET_API_PASSPHRASE or none of them"
                )
            api = ApiCreds(str(parts[0]), str(parts[1]), str(parts[2]))
        chain = int(env.get("POLYMARKET_CHAIN_ID", str(POLYGON_CHAIN_ID)))
        return cls(signer, funder, sig_type, api, chain)


def l1_headers(
    signer: Signer, chain_id: int, nonce: int = 0, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = signer.sign(clob_auth_digest(signer.address, ts, nonce, chain_id))
    return {
        POLY_ADDRESS: signer.address,
        POLY_SIGNATURE: signature,
        POLY_TIMESTAMP: ts,
        POLY_NONCE: str(nonce),
    }


def l2_headers(
    address: str,
    creds: ApiCreds,
    method: str,
    path: str,
    body: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """``path`` without the query string; ``body`` exactly as it will be sent."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        POLY_ADDRESS: address,
        POLY_SIGNATURE: hmac_signature(creds.secret, ts, method, path, body),
        POLY_TIMESTAMP: ts,
        POLY_API_KEY: creds.api_key,
        POLY_PASSPHRASE: creds.passphrase,
    }
