"""RSA-PSS signing against the SDK-made vectors, both directions, and tamper rejection."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from arbiter.venues.kalshi.signing import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KeyFileError,
    Signer,
    load_private_key,
    load_private_key_file,
    load_public_key,
    sign_message,
    signing_path,
    verify_message,
)


def _rsa(venue_vectors: dict[str, Any]) -> dict[str, Any]:
    rsa: dict[str, Any] = venue_vectors["kalshi"]["rsa"]
    return rsa


def test_sdk_vector_signatures_verify(venue_vectors: dict[str, Any]) -> None:
    rsa = _rsa(venue_vectors)
    public = load_public_key(rsa["public_key_pem"])
    for case in rsa["cases"]:
        h = case["headers"]
        path = signing_path(case["url"])
        assert path == case["signed_path"]
        assert verify_message(public, h[HEADER_TIMESTAMP], case["method"], path,
                              h[HEADER_SIGNATURE])
        assert h[HEADER_KEY] == rsa["key_id"]


def test_our_signatures_verify_with_the_vector_key(venue_vectors: dict[str, Any]) -> None:
    rsa = _rsa(venue_vectors)
    signer = Signer(rsa["key_id"], load_private_key(rsa["private_key_pem_pkcs1"]))
    public = load_public_key(rsa["public_key_pem"])
    for case in rsa["cases"]:
        headers = signer.headers(case["method"], case["url"], now_ms=int(case["timestamp_ms"]))
        assert headers[HEADER_TIMESTAMP] == case["timestamp_ms"]
        assert headers[HEADER_KEY] == rsa["key_id"]
        assert verify_message(public, case["timestamp_ms"], case["method"],
                              case["signed_path"], headers[HEADER_SIGNATURE])
        # PSS is randomized: the same message never signs to the same bytes
        again = signer.headers(case["method"], case["url"], now_ms=int(case["timestamp_ms"]))
        assert again[HEADER_SIGNATURE] != headers[HEADER_SIGNATURE]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ts", "1700000000124"),
        ("method", "POST"),
        ("path", "/trade-api/v2/portfolio/orders/x"),
        ("sig", "AAAA"),
        ("sig", "not base64 at all!"),
    ],
)
def test_tampered_requests_are_rejected(
    venue_vectors: dict[str, Any], field: str, value: str
) -> None:
    rsa = _rsa(venue_vectors)
    case = rsa["cases"][0]
    public = load_public_key(rsa["public_key_pem"])
    args = {"ts": case["timestamp_ms"], "method": case["method"], "path": case["signed_path"],
            "sig": case["headers"][HEADER_SIGNATURE]}
    args[field] = value
    assert not verify_message(public, args["ts"], args["method"], args["path"], args["sig"])


def test_urlsafe_base64_is_rejected(venue_vectors: dict[str, Any]) -> None:
    rsa = _rsa(venue_vectors)
    key = load_private_key(rsa["private_key_pem_pkcs1"])
    public = load_public_key(rsa["public_key_pem"])
    for _ in range(20):  # find a signature whose standard encoding has + or /
        sig = sign_message(key, 1, "GET", "/trade-api/v2/x")
        if "+" in sig or "/" in sig:
            break
    urlsafe = sig.replace("+", "-").replace("/", "_")
    assert verify_message(public, "1", "GET", "/trade-api/v2/x", sig)
    assert not verify_message(public, "1", "GET", "/trade-api/v2/x", urlsafe)


def test_signing_path_strips_host_query_and_keeps_encoding() -> None:
    assert signing_path("https://h.example/trade-api/v2/markets?limit=5") == "/trade-api/v2/markets"
    assert signing_path("/trade-api/v2/markets/A%2FB?x=1#f") == "/trade-api/v2/markets/A%2FB"
    assert signing_path("wss://h.example/trade-api/ws/v2") == "/trade-api/ws/v2"
    assert signing_path("http://h.example") == "/"


def test_pkcs8_keys_load_and_non_rsa_keys_are_refused(venue_vectors: dict[str, Any],
                                                      tmp_path: Any) -> None:
    rsa = _rsa(venue_vectors)
    key = load_private_key(rsa["private_key_pem_pkcs1"])
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    assert load_private_key(pkcs8).key_size == 2048
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    with pytest.raises(KeyFileError, match="neither an RSA nor an Ed25519 key"):
        load_private_key(ec_pem)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_private_key(b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError, match="cannot read private key file"):
        load_private_key_file(tmp_path / "missing.pem")


def test_errors_and_repr_never_show_key_material(venue_vectors: dict[str, Any],
                                                 tmp_path: Any) -> None:
    rsa = _rsa(venue_vectors)
    signer = Signer(rsa["key_id"], load_private_key(rsa["private_key_pem_pkcs1"]))
    assert "MII" not in repr(signer) and rsa["key_id"] in repr(signer)
    broken = tmp_path / "broken.pem"
    body = rsa["private_key_pem_pkcs1"].replace("MIIEow", "MIIEox")
    broken.write_text(body)
    with pytest.raises(KeyFileError) as info:
        load_private_key_file(broken)
    assert "MII" not in str(info.value)
