"""Secrets never reach an output: logs (every logger at DEBUG), stdout/stderr, exception messages,
tracebacks rendered *with locals*, reprs of every object involved, files at rest, and the
PostgreSQL server log with statement logging on. Runs the real flow: CLI with the master key in
AWS Secrets Manager (moto server) and tenants in PostgreSQL, then every error path we know of.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from arbiter.cli.main import main
from arbiter.core.accounts import UserContext
from arbiter.core.ratelimit import Action, RateLimiter, RateLimitExceeded
from arbiter.security.backends import backend_from_uri
from arbiter.security.credentials import (
    CredentialError,
    CredentialStore,
    MasterKeyRing,
    derive_tenant_kek,
    kalshi_signer,
    polymarket_venue_credentials,
)
from arbiter.security.secrets import Secret
from arbiter.tenancy.store import TenantDatabase, TenantDbError, TenantSession
from tests.security.moto_fixtures import aws_env, moto_endpoint
from tests.tenancy.pg_fixtures import fresh_database, pg_server

__all__ = ["aws_env", "moto_endpoint", "pg_server"]

pytestmark = pytest.mark.integration


def _variants(value: str | bytes) -> set[str]:
    """The forms a leaked secret would take in text: as is, hex, base64, and long fragments."""
    raw = value.encode() if isinstance(value, str) else value
    out = {raw.hex(), base64.b64encode(raw).decode()}
    if isinstance(value, str):
        out.add(value)
        out.add(repr(value)[1:-1])
        if len(value) > 64:  # PEM: every body line is a needle of its own
            out.update(line for line in value.splitlines() if len(line) >= 40 and "-----" not in line)
    return {v for v in out if len(v) >= 12}


def _render(exc: BaseException) -> str:
    parts = [str(exc), repr(exc)]
    parts.extend(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    return "".join(parts)


def test_no_secret_reaches_any_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    moto_endpoint: str,
    aws_env: None,
    pg_server: Any,
    venue_vectors: dict[str, Any],
) -> None:
    caplog.set_level(logging.DEBUG)  # root: botocore, urllib3, psycopg, arbiter, everything
    dbname, prefix = fresh_database(pg_server)
    admin_dsn = pg_server.dsn(dbname=dbname)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{dbname}\" SET log_statement = 'all'")
    home = tmp_path / "home"
    secrets_uri = f"aws:?prefix=scan/&endpoint={moto_endpoint}"
    monkeypatch.setenv("ARBITER_HOME", str(home))
    monkeypatch.setenv("ARBITER_SECRETS", secrets_uri)
    monkeypatch.setenv("ARBITER_DB_ADMIN_DSN", admin_dsn)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pem_file = tmp_path / "k.pem"
    pem_file.write_text(pem)
    poly = venue_vectors["polymarket"]
    poly_file = tmp_path / "p.json"
    poly_file.write_text(
        json.dumps(
            {
                "private_key": poly["test_key"]["private_key"],
                "api_key": poly["l2_credentials"]["apiKey"],
                "api_secret": poly["l2_credentials"]["secret"],
                "passphrase": poly["l2_credentials"]["passphrase"],
            }
        )
    )

    outputs: list[str] = []
    objects: list[Any] = []
    failures: list[BaseException] = []

    def cli(*argv: str, expect: int = 0) -> None:
        code = main(list(argv))
        out, err = capsys.readouterr()
        outputs.extend([out, err])
        assert code == expect, (argv, out, err)

    def fails(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            failures.append(exc)
        else:
            raise AssertionError(f"{fn} did not fail")

    # --- the happy path through the CLI -------------------------------------------------------
    cli("credentials", "init")
    backend = backend_from_uri(secrets_uri)
    first_ring = MasterKeyRing.load(backend)
    cli("tenants", "migrate", "--db-prefix", prefix)
    for tenant, tier in (("alice", "pro"), ("bob", "free")):
        cli("tenants", "add", tenant, "--tier", tier, "--db-prefix", prefix)
    cli("credentials", "put", "alice", "kalshi", "--key-id", "kid-9", "--private-key-file", str(pem_file))
    cli("credentials", "put", "alice", "polymarket", "--from-file", str(poly_file))
    cli("credentials", "list")
    cli("credentials", "list", "--json")
    cli("credentials", "rotate", "--retire-old")
    cli("tenants", "list")

    ring = MasterKeyRing.load(backend)
    assert ring.versions == [2]  # v1 retired: its key must not leak either
    store = CredentialStore.open(home / "credentials", backend)
    db = TenantDatabase(admin_dsn, prefix=prefix)
    db_password = store.get_secret("alice", "db")
    kalshi = store.get_kalshi("alice")
    polycreds = store.get_polymarket("alice")
    session = db.connect("alice", db_password)
    objects += [
        ring,
        store,
        db,
        db_password,
        kalshi,
        polycreds,
        session,
        session.connection,
        kalshi_signer(kalshi),
        polymarket_venue_credentials(polycreds),
        store.list(),
        [ring.key(v) for v in ring.versions],
        backend,
    ]
    logging.getLogger("arbiter.test").info("objects: %s %r", objects, objects)

    # --- every error path we know of -------------------------------------------------------------
    envelope = home / "credentials" / "alice" / "kalshi.json"
    doc = json.loads(envelope.read_text())
    doc["ciphertext"] = doc["ciphertext"][:-8] + "AAAAAAA="
    envelope.write_text(json.dumps(doc))
    fails(store.get_kalshi, "alice")
    (home / "credentials" / "bob").mkdir(exist_ok=True)
    (home / "credentials" / "bob" / "polymarket.json").write_text(
        (home / "credentials" / "alice" / "polymarket.json").read_text()
    )
    fails(store.get_polymarket, "bob")
    fails(store.get_kalshi, "alice", "db")  # wrong bundle kind: payload decrypted, then refused
    fails(TenantSession.connect, db.tenant_dsn("bob"), "bob", db_password)
    fails(db.add_tenant, UserContext.for_tier("alice", "pro"))
    limiter = RateLimiter(0)
    limiter.add_tenant("alice", orders_per_second=1, order_burst=1, now_ns=0)
    limiter.acquire(0, "alice", "kalshi", Action.PLACE)
    fails(limiter.acquire, 0, "alice", "kalshi", Action.PLACE)
    fails(kalshi_signer, type(kalshi)("kid", Secret("-----BEGIN PRIVATE KEY-----\nnot-a-key\n")))
    cli("credentials", "put", "bob", "polymarket", "--from-file", str(pem_file), expect=2)
    fails(lambda: session.connection.execute("SET ROLE postgres"))
    session.close()
    assert all(
        isinstance(f, CredentialError | TenantDbError | RateLimitExceeded | Exception) for f in failures
    )

    # --- the scan --------------------------------------------------------------------------------
    needles: dict[str, set[str]] = {
        "kalshi pem": _variants(pem),
        "polymarket private key": _variants(poly["test_key"]["private_key"])
        | _variants(poly["test_key"]["private_key"][2:]),
        "polymarket api secret": _variants(poly["l2_credentials"]["secret"]),
        "polymarket passphrase": _variants(poly["l2_credentials"]["passphrase"]),
        "db password": _variants(db_password.reveal_str()),
    }
    for r in (first_ring, ring):
        for v in r.versions:
            needles[f"master key v{v}"] = _variants(r.key(v).reveal())
            needles[f"alice kek v{v}"] = _variants(derive_tenant_kek(r.key(v), "alice"))
    haystacks = {
        "stdout/stderr": "".join(outputs),
        "logs": "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
        + caplog.text,
        "reprs": "\n".join(repr(o) + str(o) for o in objects),
        "exceptions": "\n".join(_render(f) for f in failures),
        "files at rest": "\n".join(
            p.read_text(errors="replace") for p in (home / "credentials").rglob("*.json")
        )
        + (home / "tenants.json").read_text(),
        "postgres log": (pg_server.root / "server.log").read_text(errors="replace"),
    }
    assert len(caplog.records) > 20 and "CREATE ROLE" in haystacks["postgres log"]  # the scan saw real output
    assert len(failures) == 8
    leaks = [
        f"{what} in {where}"
        for what, forms in needles.items()
        for where, text in haystacks.items()
        if any(form in text for form in forms)
    ]
    assert leaks == []
