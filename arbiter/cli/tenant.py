"""``arbiter credentials …`` and ``arbiter tenants …``: operator commands for the multi-tenant store.

Secret values never come from argv (visible in ``ps`` and shell history): they are read from
files or stdin. Output lists names, versions and tiers only. Where things live:

* ``--home`` (``$ARBITER_HOME``, default ``~/.arbiter``): ``credentials/`` (envelopes),
  ``tenants.json`` (the embedded tenant registry), ``secrets/`` (the file secrets backend).
* ``--secrets`` (``$ARBITER_SECRETS``): where the master key ring lives, e.g.
  ``aws:?prefix=arbiter/`` for AWS Secrets Manager, default ``file:<home>/secrets``.
* ``--db`` (``$ARBITER_DB_ADMIN_DSN``): optional PostgreSQL admin DSN; tenants are then also
  created there (role + row) and their database password is stored as credential ``db``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arbiter.cli.argtypes import count
from arbiter.cli.errors import UsageError
from arbiter.core.accounts import TenancyError, Tier, UserContext, validate_tenant_id
from arbiter.security.backends import SecretNotFound, SecretsBackend, SecretsBackendError, backend_from_uri
from arbiter.security.credentials import CredentialError, CredentialStore, MasterKeyRing
from arbiter.security.secrets import KalshiCredentials, PolymarketCredentials, Secret

__all__ = ["load_tenants", "register", "save_tenants"]

Handler = Callable[[argparse.Namespace], int]


def _home(args: argparse.Namespace) -> Path:
    return Path(args.home or os.environ.get("ARBITER_HOME") or Path.home() / ".arbiter").expanduser()


def _backend(args: argparse.Namespace) -> SecretsBackend:
    uri = args.secrets or os.environ.get("ARBITER_SECRETS") or f"file:{_home(args) / 'secrets'}"
    return backend_from_uri(uri)


def _store(args: argparse.Namespace, create: bool = False) -> CredentialStore:
    return CredentialStore.open(_home(args) / "credentials", _backend(args), create=create)


def _tenants_path(args: argparse.Namespace) -> Path:
    return _home(args) / "tenants.json"


def load_tenants(path: Path) -> list[UserContext]:
    """The embedded tenant registry (``tenants.json``); the engine seeds its TenantRegistry from it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read tenant registry {path}: {exc}") from None
    try:
        return [UserContext.for_tier(t["tenant_id"], t["tier"]) for t in doc["tenants"]]
    except (KeyError, TypeError, TenancyError) as exc:
        raise UsageError(f"tenant registry {path} is malformed: {exc}") from None


def save_tenants(path: Path, tenants: list[UserContext]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"tenants": [{"tenant_id": c.tenant_id, "tier": c.tier.value} for c in tenants]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _db(args: argparse.Namespace) -> Any:
    dsn = args.db or os.environ.get("ARBITER_DB_ADMIN_DSN")
    if not dsn:
        return None
    from arbiter.tenancy.store import TenantDatabase

    return TenantDatabase(dsn, prefix=args.db_prefix)


def _guard(handler: Handler) -> Handler:
    """Turn the store's typed errors into one-line usage errors (they never carry secret values)."""

    def run(args: argparse.Namespace) -> int:
        import psycopg

        from arbiter.tenancy.store import TenantDbError

        try:
            return handler(args)
        except (CredentialError, SecretsBackendError, TenancyError, TenantDbError) as exc:
            raise UsageError(str(exc)) from None
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"database: {first}") from None

    return run


def _read_secret_file(path: str, label: str) -> Secret:
    if path == "-":
        return Secret(sys.stdin.buffer.read().rstrip(b"\n"), label)
    try:
        return Secret(Path(path).read_bytes().rstrip(b"\n"), label)
    except OSError as exc:
        raise UsageError(f"cannot read {label} from {path}: {exc.strerror}") from None


def _polymarket_from_json(raw: Secret, source: str) -> PolymarketCredentials:
    """Parsed in its own frame so the plaintext dict is gone before anything else can fail."""
    with raw:
        try:
            doc = json.loads(raw.reveal())
        except ValueError:
            raise UsageError(f"{source} is not JSON") from None
    if not isinstance(doc, dict) or not doc.get("private_key"):
        del doc
        raise UsageError(f"{source} needs at least a private_key field")
    return PolymarketCredentials(
        Secret(str(doc["private_key"]), "private_key"),
        api_key=Secret(str(doc["api_key"]), "api_key") if doc.get("api_key") else None,
        api_secret=Secret(str(doc["api_secret"]), "api_secret") if doc.get("api_secret") else None,
        passphrase=Secret(str(doc["passphrase"]), "passphrase") if doc.get("passphrase") else None,
        funder=str(doc["funder"]) if doc.get("funder") else None,
        signature_type=_signature_type(doc.get("signature_type"), source),
    )


def _signature_type(value: object, source: str) -> int | None:
    """``signature_type`` of a Polymarket JSON (0 EOA, 1 proxy, 2 Safe, 3 deposit wallet)."""
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        raise UsageError(f"{source}: signature_type must be 0, 1, 2 or 3") from None


# --- credentials ---------------------------------------------------------------------------------


def _cmd_init(args: argparse.Namespace) -> int:
    backend = _backend(args)
    try:
        ring = MasterKeyRing.load(backend)
        print(f"master key ring already present in {backend.describe()}: versions {ring.versions}")
        return 0
    except SecretNotFound:
        pass
    MasterKeyRing.generate().save(backend)
    print(f"created master key ring (version 1) in {backend.describe()}")
    return 0


def _cmd_put(args: argparse.Namespace) -> int:
    tenant = validate_tenant_id(args.tenant)
    if tenant not in {c.tenant_id for c in load_tenants(_tenants_path(args))}:
        raise UsageError(f"unknown tenant {tenant!r}: run `arbiter tenants add {tenant}` first")
    store = _store(args)
    if args.kind == "kalshi":
        if not (args.key_id and args.private_key_file):
            raise UsageError("kalshi credentials need --key-id and --private-key-file")
        pem = _read_secret_file(args.private_key_file, "Kalshi private key")
        if b"PRIVATE KEY" not in pem.reveal():
            raise UsageError(f"{args.private_key_file} is not a PEM private key")
        info = store.put_kalshi(tenant, KalshiCredentials(args.key_id, pem), name=args.name or "kalshi")
    elif args.kind == "polymarket":
        if not args.from_file:
            raise UsageError("polymarket credentials need --from-file (JSON with private_key, api_key, ...)")
        raw = _read_secret_file(args.from_file, "Polymarket credentials")
        creds = _polymarket_from_json(raw, args.from_file)
        info = store.put_polymarket(tenant, creds, name=args.name or "polymarket")
    else:
        if not (args.name and args.from_file):
            raise UsageError("generic secrets need --name and --from-file (or --from-file -)")
        info = store.put_secret(tenant, args.name, _read_secret_file(args.from_file, args.name))
    print(
        f"stored {info.name} for {info.tenant_id} "
        f"(generation {info.generation}, key version {info.key_version})"
    )
    return 0


def _cmd_rotate(args: argparse.Namespace) -> int:
    backend = _backend(args)
    store = _store(args)
    report = store.rotate(lambda ring: ring.save(backend), retire_old=args.retire_old)
    retired = f"; retired {report.retired}" if report.retired else ""
    print(
        f"master key rotated v{report.old_version} -> v{report.new_version}; "
        f"re-wrapped {report.rewrapped} credential(s){retired}"
    )
    return 0


def _cmd_retire(args: argparse.Namespace) -> int:
    backend = _backend(args)
    ring = _store(args).retire(args.version, lambda r: r.save(backend))
    print(f"retired master key version {args.version}; remaining {ring.versions}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    infos = store.list(validate_tenant_id(args.tenant) if args.tenant else None)
    if args.json:
        print(json.dumps({
            "master_key_versions": store.keyring.versions,
            "current": store.keyring.current,
            "credentials": [
                {
                    "tenant": i.tenant_id, "name": i.name,
                    "key_version": i.key_version, "generation": i.generation,
                }
                for i in infos
            ],
        }))
        return 0
    print(f"master key versions {store.keyring.versions} (current {store.keyring.current})")
    for i in infos:
        print(f"{i.tenant_id:<20} {i.name:<16} key v{i.key_version}  generation {i.generation}")
    return 0


# --- tenants -------------------------------------------------------------------------------------


def _cmd_tenant_add(args: argparse.Namespace) -> int:
    ctx = UserContext.for_tier(args.tenant, Tier.parse(args.tier))
    path = _tenants_path(args)
    tenants = load_tenants(path)
    if ctx.tenant_id in {c.tenant_id for c in tenants}:
        raise UsageError(f"tenant {ctx.tenant_id!r} already exists")
    store = _store(args, create=True)
    db = _db(args)
    if db is not None:
        with db.add_tenant(ctx) as password:
            store.put_secret(ctx.tenant_id, "db", password)
    save_tenants(path, [*tenants, ctx])
    where = " (database role created, password stored as credential 'db')" if db is not None else ""
    print(f"added tenant {ctx.tenant_id} ({ctx.tier.value}){where}")
    return 0


def _cmd_tenant_remove(args: argparse.Namespace) -> int:
    tenant = validate_tenant_id(args.tenant)
    path = _tenants_path(args)
    tenants = load_tenants(path)
    if tenant not in {c.tenant_id for c in tenants}:
        raise UsageError(f"unknown tenant {tenant!r}")
    db = _db(args)
    if db is not None:
        db.remove_tenant(tenant)
    removed = _store(args).delete_tenant(tenant)
    save_tenants(path, [c for c in tenants if c.tenant_id != tenant])
    print(f"removed tenant {tenant} and {removed} credential(s)")
    return 0


def _cmd_tenant_migrate(args: argparse.Namespace) -> int:
    db = _db(args)
    if db is None:
        raise UsageError("tenants migrate needs --db or $ARBITER_DB_ADMIN_DSN")
    db.migrate()
    print(f"tenant database schema, roles ({db.owner_role}, {db.app_role}) and policies are in place")
    return 0


def _cmd_tenant_list(args: argparse.Namespace) -> int:
    tenants = load_tenants(_tenants_path(args))
    if args.json:
        print(json.dumps([{"tenant": c.tenant_id, "tier": c.tier.value} for c in tenants]))
        return 0
    for c in tenants:
        lim = c.limits
        print(
            f"{c.tenant_id:<20} {c.tier.value:<14} markets {lim.max_markets}  "
            f"orders/s {lim.orders_per_second}  sagas {lim.max_concurrent_sagas}"
        )
    return 0


def _cmd_tenant_tier(args: argparse.Namespace) -> int:
    tier = Tier.parse(args.tier)
    path = _tenants_path(args)
    tenants = load_tenants(path)
    if args.tenant not in {c.tenant_id for c in tenants}:
        raise UsageError(f"unknown tenant {args.tenant!r}")
    db = _db(args)
    if db is not None:
        db.set_tier(args.tenant, tier)
    save_tenants(path, [c.with_tier(tier) if c.tenant_id == args.tenant else c for c in tenants])
    print(f"tenant {args.tenant} is now {tier.value}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="state folder (default $ARBITER_HOME or ~/.arbiter)")
    p.add_argument(
        "--secrets", help="master key backend: aws:?prefix=..., file:/dir, env: (default $ARBITER_SECRETS)"
    )
    p.add_argument("--db", help="PostgreSQL admin DSN (default $ARBITER_DB_ADMIN_DSN; optional)")
    p.add_argument("--db-prefix", default="arbiter", help="role name prefix in PostgreSQL")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    creds = sub.add_parser("credentials", help="encrypted venue credentials per tenant")
    csub = creds.add_subparsers(dest="credentials_command", metavar="ACTION")
    csub.required = True

    p = csub.add_parser("init", help="create the master key ring if absent")
    _common(p)
    p.set_defaults(func=_guard(_cmd_init))

    p = csub.add_parser("put", help="store (or replace) a tenant's credential; values come from files")
    _common(p)
    p.add_argument("tenant")
    p.add_argument("kind", choices=["kalshi", "polymarket", "secret"])
    p.add_argument("--name", help="credential name (default: the kind)")
    p.add_argument("--key-id", help="Kalshi API key id")
    p.add_argument("--private-key-file", help="Kalshi private key PEM file, RSA or Ed25519 ('-' for stdin)")
    p.add_argument("--from-file", help="JSON (polymarket) or raw value (secret) file; '-' for stdin")
    p.set_defaults(func=_guard(_cmd_put))

    p = csub.add_parser("rotate", help="new master key version; re-wrap every data key")
    _common(p)
    p.add_argument("--retire-old", action="store_true", help="drop older versions once re-wrapped")
    p.set_defaults(func=_guard(_cmd_rotate))

    p = csub.add_parser("retire", help="drop an unused old master key version")
    _common(p)
    p.add_argument("version", type=count())
    p.set_defaults(func=_guard(_cmd_retire))

    p = csub.add_parser("list", help="credential names and key versions (never values)")
    _common(p)
    p.add_argument("--tenant")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(_cmd_list))

    tenants = sub.add_parser("tenants", help="add, remove and list tenants")
    tsub = tenants.add_subparsers(dest="tenants_command", metavar="ACTION")
    tsub.required = True

    p = tsub.add_parser("add", help="register a tenant (and its database role with --db)")
    _common(p)
    p.add_argument("tenant")
    p.add_argument("--tier", default="free", help="free, pro or institutional")
    p.set_defaults(func=_guard(_cmd_tenant_add))

    p = tsub.add_parser("remove", help="remove a tenant, its credentials and its database rows")
    _common(p)
    p.add_argument("tenant")
    p.set_defaults(func=_guard(_cmd_tenant_remove))

    p = tsub.add_parser("migrate", help="create/upgrade the PostgreSQL schema, roles and RLS policies")
    _common(p)
    p.set_defaults(func=_guard(_cmd_tenant_migrate))

    p = tsub.add_parser("list", help="tenants and their tier limits")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(_cmd_tenant_list))

    p = tsub.add_parser("set-tier", help="change a tenant's tier")
    _common(p)
    p.add_argument("tenant")
    p.add_argument("tier")
    p.set_defaults(func=_guard(_cmd_tenant_tier))
