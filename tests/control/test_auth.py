"""Token rules that do not need a server: algorithms, claims, key-set files."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from arbiter.control.auth import AUDIENCE, ISSUER, AuthError, Key, KeySet, Role


def keyset() -> KeySet:
    ks = KeySet()
    ks.add(Key.hmac("k1", "s" * 64))
    return ks


def test_issue_and_verify_with_explicit_clock() -> None:
    ks = keyset()
    tok = ks.issue("alice", "acme", Role.OPERATOR, 60, now_s=1_000)
    who = ks.verify(tok, now_s=1_030)
    assert (who.subject, who.tenant, who.role, who.expires) == ("alice", "acme", Role.OPERATOR, 1_060)
    assert who.can_operate() and not who.is_admin and who.may_see("acme") and not who.may_see("globex")
    with pytest.raises(AuthError, match="expired"):
        ks.verify(tok, now_s=1_066)


def test_alg_none_and_alg_switch_are_refused() -> None:
    ks = keyset()
    claims = {
        "sub": "x",
        "tenant": "acme",
        "role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": 0,
        "exp": 2**40,
    }
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(AuthError):
        ks.verify(unsigned)
    hs512 = jwt.encode(claims, "s" * 64, algorithm="HS512", headers={"kid": "k1"})
    with pytest.raises(AuthError, match="invalid token"):
        ks.verify(hs512)
    with pytest.raises(AuthError, match="not allowed"):
        KeySet.from_json({"keys": [{"kid": "n", "alg": "none", "signing": "x"}]})


def test_claims_must_name_tenant_and_known_role() -> None:
    ks = keyset()
    base = {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "iat": 0, "exp": 2**40}
    no_tenant = jwt.encode({**base, "role": "admin"}, "s" * 64, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(AuthError, match="no tenant"):
        ks.verify(no_tenant)
    root = jwt.encode(
        {**base, "tenant": "acme", "role": "root"}, "s" * 64, algorithm="HS256", headers={"kid": "k1"}
    )
    with pytest.raises(AuthError, match="unknown role"):
        ks.verify(root)
    wrong_aud = jwt.encode(
        {**base, "aud": "other", "tenant": "acme", "role": "admin"},
        "s" * 64,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(AuthError, match="invalid token"):
        ks.verify(wrong_aud)


def test_asymmetric_keys_and_verify_only_sets(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signer = KeySet()
    signer.add(Key("ec1", "ES256", pem, public))
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(signer.to_json()))
    assert KeySet.load(path).to_json() == signer.to_json()
    tok = signer.issue("bot", "acme", Role.VIEWER, 60, now_s=10)
    verifier = KeySet.from_json({"keys": [{"kid": "ec1", "alg": "ES256", "verifying": public}]})
    assert verifier.verify(tok, now_s=20).tenant == "acme"
    with pytest.raises(AuthError, match="no active"):
        verifier.issue("x", "acme", Role.VIEWER, 60, 0)
    with pytest.raises(AuthError, match="cannot read"):
        KeySet.load(tmp_path / "missing.json")


def test_tenant_claim_must_be_a_valid_tenant_id() -> None:
    ks = keyset()
    base = {"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "iat": 0, "exp": 2**40, "role": "viewer"}
    for bad in ("ACME", "acme; drop", "../etc", "a"):
        tok = jwt.encode({**base, "tenant": bad}, "s" * 64, algorithm="HS256", headers={"kid": "k1"})
        with pytest.raises(AuthError, match="invalid tenant claim"):
            ks.verify(tok)
