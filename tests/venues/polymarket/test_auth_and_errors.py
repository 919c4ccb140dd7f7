"""Credentials from the environment and the venue-error mapping."""

from __future__ import annotations

from typing import Any

import pytest

from arbiter.venues.base import (
    AuthError,
    DuplicateOrderError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from arbiter.venues.polymarket.auth import CredentialsError, PolymarketCredentials
from arbiter.venues.polymarket.rest import error_from_message


def test_credentials_from_env(pm_vectors: dict[str, Any]) -> None:
    key = pm_vectors["test_key"]["private_key"]
    creds = PolymarketCredentials.from_env({"POLYMARKET_PRIVATE_KEY": key})
    assert creds.signer.address == pm_vectors["test_key"]["address"]
    assert (creds.signature_type, creds.funder, creds.api) == (0, None, None)
    assert creds.maker == creds.signer.address
    safe = PolymarketCredentials.from_env({
        "POLYMARKET_PRIVATE_KEY": key,
        "POLYMARKET_FUNDER": "0x1111111111111111111111111111111111111111",
        "POLYMARKET_API_KEY": "k", "POLYMARKET_API_SECRET": "sekrit-value",
        "POLYMARKET_API_PASSPHRASE": "pass-value",
    })
    assert safe.signature_type == 2 and safe.maker == safe.funder
    assert safe.api is not None and safe.api.secret == "sekrit-value"
    assert "sekrit" not in repr(safe) and "pass-value" not in repr(safe)
    assert key[2:] not in repr(safe)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "POLYMARKET_PRIVATE_KEY is not set"),
        ({"POLYMARKET_PRIVATE_KEY": "0x1234"}, "POLYMARKET_PRIVATE_KEY"),
        ({"POLYMARKET_API_KEY": "k"}, "all of"),
        ({"POLYMARKET_FUNDER": "0xnothex"}, "POLYMARKET_FUNDER"),
        ({"POLYMARKET_SIGNATURE_TYPE": "safe"}, "POLYMARKET_SIGNATURE_TYPE"),
    ],
)
def test_bad_credentials_name_the_variable(
    pm_vectors: dict[str, Any], env: dict[str, str], message: str
) -> None:
    full = {"POLYMARKET_PRIVATE_KEY": pm_vectors["test_key"]["private_key"], **env} if env else {}
    with pytest.raises(CredentialsError, match=message):
        PolymarketCredentials.from_env(full)


@pytest.mark.parametrize(
    ("status", "message", "kind", "code"),
    [
        (401, "Unauthorized/Invalid api key", AuthError, "UNAUTHORIZED/INVALID_API_KEY"),
        (429, "Too Many Requests", RateLimitedError, "TOO_MANY_REQUESTS"),
        (404, "No orderbook exists for the requested token id", NotFoundError, None),
        (503, "Trading is currently cancel-only. Check polymarket.com", TransientError, None),
        (400, "INVALID_ORDER_DUPLICATED: order already exists", DuplicateOrderError,
         "INVALID_ORDER_DUPLICATED"),
        (400, "not enough balance / allowance", RejectedError,
         "INVALID_ORDER_NOT_ENOUGH_BALANCE"),
        (400, "FOK_ORDER_NOT_FILLED_ERROR", RejectedError, "FOK_ORDER_NOT_FILLED_ERROR"),
    ],
)
def test_error_mapping_keeps_the_venue_message(
    status: int, message: str, kind: type[Exception], code: str | None
) -> None:
    err = error_from_message(status, message)
    assert type(err) is kind and err.message == message and err.status == status
    if code is not None:
        assert err.code == code
