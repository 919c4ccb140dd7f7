"""``arbiter credentials …`` / ``arbiter tenants …`` end to end, in-process through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.cli.main import main
from arbiter.security.backends import FileBackend
from arbiter.security.credentials import CredentialStore


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ARBITER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ARBITER_SECRETS", raising=False)
    monkeypatch.delenv("ARBITER_DB_ADMIN_DSN", raising=False)
    return tmp_path / "home"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _pem(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "kalshi.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def test_tenant_and_credential_lifecycle(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], venue_vectors: dict[str, Any]
) -> None:
    assert _run(capsys, "credentials", "init")[0] == 0
    code, out, _ = _run(capsys, "credentials", "init")
    assert code == 0 and "already present" in out
    assert _run(capsys, "tenants", "add", "alice", "--tier", "pro")[0] == 0
    assert _run(capsys, "tenants", "add", "bob")[0] == 0
    code, out, _ = _run(capsys, "tenants", "list", "--json")
    assert json.loads(out) == [{"tenant": "alice", "tier": "pro"}, {"tenant": "bob", "tier": "free"}]

    pem = _pem(tmp_path)
    code, out, _ = _run(
        capsys, "credentials", "put", "alice", "kalshi", "--key-id", "kid-1", "--private-key-file", str(pem)
    )
    assert code == 0 and "generation 1" in out
    poly = tmp_path / "poly.json"
    l2 = venue_vectors["polymarket"]["l2_credentials"]
    poly.write_text(
        json.dumps(
            {
                "private_key": venue_vectors["polymarket"]["test_key"]["private_key"],
                "api_key": l2["apiKey"],
                "api_secret": l2["secret"],
                "passphrase": l2["passphrase"],
            }
        )
    )
    assert _run(capsys, "credentials", "put", "alice", "polymarket", "--from-file", str(poly))[0] == 0
    secret_file = tmp_path / "s.txt"
    secret_file.write_text("webhook-token\n")
    assert (
        _run(
            capsys,
            "credentials",
            "put",
            "bob",
            "secret",
            "--name",
            "webhook",
            "--from-file",
            str(secret_file),
        )[0]
        == 0
    )

    code, out, _ = _run(capsys, "credentials", "list", "--json")
    listed = json.loads(out)
    assert listed["master_key_versions"] == [1]
    assert {(c["tenant"], c["name"]) for c in listed["credentials"]} == {
        ("alice", "kalshi"),
        ("alice", "polymarket"),
        ("bob", "webhook"),
    }

    code, out, _ = _run(capsys, "credentials", "rotate")
    assert code == 0 and "v1 -> v2" in out and "re-wrapped 3" in out
    code, out, _ = _run(capsys, "credentials", "retire", "1")
    assert code == 0 and "remaining [2]" in out
    code, out, _ = _run(capsys, "credentials", "rotate", "--retire-old")
    assert code == 0 and "retired [2]" in out

    store = CredentialStore.open(home / "credentials", FileBackend(home / "secrets"))
    assert store.get_kalshi("alice").private_key_pem.reveal() == pem.read_bytes().rstrip(b"\n")
    assert store.get_secret("bob", "webhook").reveal() == b"webhook-token"

    code, out, _ = _run(capsys, "tenants", "set-tier", "bob", "institutional")
    assert code == 0
    code, out, _ = _run(capsys, "tenants", "remove", "alice")
    assert code == 0 and "2 credential(s)" in out
    assert [i.tenant_id for i in store.list()] == ["bob"]
    code, out, _ = _run(capsys, "tenants", "list")
    assert "bob" in out and "institutional" in out and "alice" not in out


@pytest.mark.parametrize(
    "argv",
    [
        ["tenants", "add", "Bad Name"],
        ["tenants", "add", "carol", "--tier", "platinum"],
        ["tenants", "remove", "nobody"],
        ["credentials", "put", "nobody", "secret", "--name", "x", "--from-file", "/dev/null"],
        ["credentials", "retire", "7"],
        ["credentials", "list", "--secrets", "nope:"],
    ],
)
def test_user_errors_are_one_line_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    _run(capsys, "tenants", "add", "alice")
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("arbiter: ") and "Traceback" not in err


def test_put_rejects_bad_inputs_without_echoing_them(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, "tenants", "add", "alice")
    junk = tmp_path / "junk"
    junk.write_text("sk-not-a-pem-0123456789")
    code, _, err = _run(
        capsys, "credentials", "put", "alice", "kalshi", "--key-id", "k", "--private-key-file", str(junk)
    )
    assert code == 2 and "sk-not-a-pem" not in err
    code, _, err = _run(capsys, "credentials", "put", "alice", "polymarket", "--from-file", str(junk))
    assert code == 2 and "sk-not-a-pem" not in err
    code, _, err = _run(capsys, "credentials", "put", "alice", "kalshi", "--key-id", "k")
    assert code == 2
    code, _, err = _run(
        capsys, "credentials", "put", "alice", "kalshi", "--key-id", "k", "--private-key-file", "/nope"
    )
    assert code == 2 and "cannot read" in err


def test_a_deposit_wallet_credential_keeps_its_signature_type(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], venue_vectors: dict[str, Any]
) -> None:
    assert _run(capsys, "credentials", "init")[0] == 0
    assert _run(capsys, "tenants", "add", "alice")[0] == 0
    key = venue_vectors["polymarket"]["test_key"]["private_key"]
    wallet = "0x2222222222222222222222222222222222222222"
    poly = tmp_path / "poly.json"
    poly.write_text(json.dumps({"private_key": key, "funder": wallet, "signature_type": 3}))
    assert _run(capsys, "credentials", "put", "alice", "polymarket", "--from-file", str(poly))[0] == 0
    store = CredentialStore.open(home / "credentials", FileBackend(home / "secrets"))
    creds = store.get_polymarket("alice")
    assert (creds.funder, creds.signature_type) == (wallet, 3)
    poly.write_text(json.dumps({"private_key": key, "signature_type": 3}))  # no wallet: refused
    code, _, err = _run(capsys, "credentials", "put", "alice", "polymarket", "--from-file", str(poly))
    assert code != 0 and key[2:12] not in err
