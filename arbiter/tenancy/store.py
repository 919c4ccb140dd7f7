"""PostgreSQL storage for tenants, orders, fills, positions and journal copies, isolated by RLS.

Roles (``<prefix>`` defaults to ``arbiter``):

* ``<prefix>_owner`` (NOLOGIN) owns the schema and tables; FORCE ROW LEVEL SECURITY applies to it.
* ``<prefix>_app`` (NOLOGIN) holds the DML grants; every RLS policy targets it.
* ``<prefix>_t_<tenant>`` (LOGIN, member of ``_app``) — one per tenant, what an executor logs in as.

The policies compare each row's ``tenant_id`` with ``arbiter.current_tenant()``, which is the
session setting ``app.tenant_id`` *only if* the login role is that tenant's role. A custom
setting alone can be changed by any SQL the session runs, so it cannot be the security
boundary; the role cannot be changed without a superuser. The admin connection (migrations,
``arbiter tenants add/remove``) is a superuser or a role with CREATEROLE + BYPASSRLS and is
never handed to an executor. Passwords are sent to the server as SCRAM verifiers, so the
plaintext never appears in SQL text or server logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from arbiter.core.accounts import Tier, UserContext, validate_tenant_id
from arbiter.security.secrets import Secret

__all__ = [
    "SQL_FILES",
    "OrderRecord",
    "PositionRecord",
    "TenantDatabase",
    "TenantDbError",
    "TenantSession",
    "scram_verifier",
]

SQL_FILES = ("001_schema.sql", "002_rls.sql", "003_grants.sql")


class TenantDbError(RuntimeError):
    """A tenant database operation failed; the message names tenants and roles, never passwords."""


def scram_verifier(password: Secret, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, computed client-side (RFC 5802/7677)."""
    salt = _random.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.reveal(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order_id: str
    venue: str
    market: str
    side: str
    price: int
    size: int
    status: str
    saga_id: str | None = None


@dataclass(frozen=True, slots=True)
class PositionRecord:
    venue: str
    market: str
    outcome: str
    size: int
    cost: int


class TenantDatabase:
    """Admin side: schema, tenant roles, tenant rows. Holds the admin DSN; never give it to an executor."""

    def __init__(self, admin_dsn: str, *, prefix: str = "arbiter") -> None:
        if not prefix.isidentifier() or prefix.lower() != prefix:
            raise TenantDbError(f"invalid role prefix {prefix!r}")
        self._admin_dsn = admin_dsn
        self.prefix = prefix
        self.owner_role = f"{prefix}_owner"
        self.app_role = f"{prefix}_app"
        self.tenant_prefix = f"{prefix}_t_"

    def __repr__(self) -> str:
        return f"TenantDatabase(prefix={self.prefix!r})"

    def role_for(self, tenant_id: str) -> str:
        return self.tenant_prefix + validate_tenant_id(tenant_id)

    def _admin(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self._admin_dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = _first_line(exc)
            raise TenantDbError(f"cannot connect to the tenant database as admin: {reason}") from None

    def migrate(self) -> None:
        """Create roles, schema, policies and grants; safe to run again."""
        with self._admin() as conn:
            for role in (self.owner_role, self.app_role):
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                if not exists:
                    create = "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
                    conn.execute(sql.SQL(create).format(sql.Identifier(role)))
            database = conn.execute("SELECT current_database()").fetchone()
            assert database is not None
            params = {
                "owner": sql.Identifier(self.owner_role),
                "app": sql.Identifier(self.app_role),
                "tenant_prefix": sql.Literal(self.tenant_prefix),
                "database": sql.Identifier(str(database[0])),
            }
            # The admin must be able to SET ROLE owner so objects end up owned by it.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(self.owner_role)))
            conn.execute(
                sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(params["database"], params["owner"])
            )
            with conn.transaction():
                for name in SQL_FILES:
                    text = resources.files("arbiter.tenancy.sql").joinpath(name).read_text(encoding="utf-8")
                    as_owner = name != "003_grants.sql"
                    if as_owner:
                        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(self.owner_role)))
                    conn.execute(sql.SQL(text).format(**params))
                    if as_owner:
                        conn.execute("RESET ROLE")

    def add_tenant(self, ctx: UserContext, password: Secret | None = None) -> Secret:
        """Create the tenant's login role and row; returns its database password (store it encrypted)."""
        role = self.role_for(ctx.tenant_id)
        password = password or Secret(_random.token_urlsafe(32), f"{ctx.tenant_id}/db")
        with self._admin() as conn, conn.transaction():
            taken = conn.execute("SELECT 1 FROM arbiter.tenants WHERE tenant_id = %s", (ctx.tenant_id,))
            if taken.fetchone():
                raise TenantDbError(f"tenant {ctx.tenant_id!r} already exists")
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(
                    "{verb} ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION "
                    "CONNECTION LIMIT 32 PASSWORD {pw}"
                ).format(
                    verb=sql.SQL(verb), role=sql.Identifier(role), pw=sql.Literal(scram_verifier(password))
                )
            )
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(self.app_role), sql.Identifier(role))
            )
            conn.execute(
                "INSERT INTO arbiter.tenants (tenant_id, tier, db_role) VALUES (%s, %s, %s)",
                (ctx.tenant_id, ctx.tier.value, role),
            )
        return password

    def set_password(self, tenant_id: str, password: Secret | None = None) -> Secret:
        """Rotate a tenant's database password; existing sessions keep working until they reconnect."""
        password = password or Secret(_random.token_urlsafe(32), f"{tenant_id}/db")
        with self._admin() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(self.role_for(tenant_id)), sql.Literal(scram_verifier(password))
                )
            )
        return password

    def set_tier(self, tenant_id: str, tier: Tier) -> None:
        with self._admin() as conn:
            cur = conn.execute(
                "UPDATE arbiter.tenants SET tier = %s WHERE tenant_id = %s", (tier.value, tenant_id)
            )
            if cur.rowcount != 1:
                raise TenantDbError(f"unknown tenant {tenant_id!r}")

    def remove_tenant(self, tenant_id: str) -> None:
        """Delete the tenant's rows (cascade), end its sessions and drop its role."""
        role = self.role_for(tenant_id)
        with self._admin() as conn:
            with conn.transaction():
                cur = conn.execute("DELETE FROM arbiter.tenants WHERE tenant_id = %s", (tenant_id,))
                if cur.rowcount != 1:
                    raise TenantDbError(f"unknown tenant {tenant_id!r}")
                conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    def list_tenants(self) -> list[UserContext]:
        with self._admin() as conn:
            rows = conn.execute("SELECT tenant_id, tier FROM arbiter.tenants ORDER BY tenant_id").fetchall()
        return [UserContext.for_tier(str(t), Tier(str(tier))) for t, tier in rows]

    def tenant_dsn(self, tenant_id: str) -> str:
        """The admin DSN's host/port/database with the tenant's role and no password."""
        info = psycopg.conninfo.conninfo_to_dict(self._admin_dsn)
        wanted = ("host", "port", "dbname", "connect_timeout", "sslmode")
        keep = {k: v for k, v in info.items() if k in wanted}
        keep["user"] = self.role_for(tenant_id)
        return psycopg.conninfo.make_conninfo(**keep)  # type: ignore[arg-type]

    def connect(self, tenant_id: str, password: Secret) -> TenantSession:
        return TenantSession.connect(self.tenant_dsn(tenant_id), tenant_id, password)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class TenantSession:
    """One tenant's connection: logged in as the tenant role, ``app.tenant_id`` set at connect."""

    def __init__(self, conn: psycopg.Connection[Any], tenant_id: str) -> None:
        self.connection = conn
        self.tenant_id = tenant_id

    @classmethod
    def connect(cls, dsn: str, tenant_id: str, password: Secret) -> TenantSession:
        validate_tenant_id(tenant_id)
        try:
            conn = psycopg.connect(dsn, password=password.reveal_str(), autocommit=True)
        except psycopg.OperationalError as exc:
            raise TenantDbError(f"tenant {tenant_id!r} cannot connect: {_first_line(exc)}") from None
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant_id,))
        return cls(conn, tenant_id)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> TenantSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TenantSession(tenant_id={self.tenant_id!r})"

    def current_tenant(self) -> str | None:
        row = self.connection.execute("SELECT arbiter.current_tenant()").fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def record_order(self, order: OrderRecord) -> None:
        self.connection.execute(
            "INSERT INTO arbiter.orders (order_id, saga_id, venue, market, side, price, size, status) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (order.order_id, order.saga_id, order.venue, order.market, order.side, order.price,
             order.size, order.status),
        )

    def set_order_status(self, order_id: str, status: str) -> bool:
        cur = self.connection.execute(
            "UPDATE arbiter.orders SET status = %s, updated_at = now() WHERE order_id = %s",
            (status, order_id),
        )
        return cur.rowcount == 1

    def orders(self) -> list[OrderRecord]:
        rows = self.connection.execute(
            "SELECT order_id, venue, market, side, price, size, status, saga_id FROM arbiter.orders "
            "ORDER BY order_id"
        ).fetchall()
        return [OrderRecord(*r) for r in rows]

    def record_fill(
        self, fill_id: str, order_id: str, price: int, size: int, fee: int, filled_ns: int
    ) -> None:
        self.connection.execute(
            "INSERT INTO arbiter.fills (fill_id, order_id, price, size, fee, filled_ns) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (fill_id, order_id, price, size, fee, filled_ns),
        )

    def fills(self) -> list[tuple[str, str, int, int, int, int]]:
        rows = self.connection.execute(
            "SELECT fill_id, order_id, price, size, fee, filled_ns FROM arbiter.fills ORDER BY fill_id"
        ).fetchall()
        return [(str(a), str(b), int(c), int(d), int(e), int(f)) for a, b, c, d, e, f in rows]

    def upsert_position(self, pos: PositionRecord) -> None:
        self.connection.execute(
            "INSERT INTO arbiter.positions (venue, market, outcome, size, cost) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, venue, market, outcome) "
            "DO UPDATE SET size = EXCLUDED.size, cost = EXCLUDED.cost, updated_at = now()",
            (pos.venue, pos.market, pos.outcome, pos.size, pos.cost),
        )

    def positions(self) -> list[PositionRecord]:
        rows = self.connection.execute(
            "SELECT venue, market, outcome, size, cost FROM arbiter.positions ORDER BY venue, market, outcome"
        ).fetchall()
        return [PositionRecord(*r) for r in rows]

    def copy_journal(
        self, saga_id: str, events: Iterable[tuple[str, dict[str, Any]]], recorded_ns: int
    ) -> int:
        """Copy a saga's journal events (``Journal.raw_events``); idempotent, returns rows added."""
        added = 0
        with self.connection.transaction():
            for idx, (kind, body) in enumerate(events):
                cur = self.connection.execute(
                    "INSERT INTO arbiter.journal (saga_id, idx, kind, body, recorded_ns) "
                    "VALUES (%s, %s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING",
                    (saga_id, idx, kind, json.dumps(body, sort_keys=True), recorded_ns),
                )
                added += cur.rowcount
        return added

    def journal(self, saga_id: str | None = None) -> Iterator[tuple[str, int, str, dict[str, Any]]]:
        query = "SELECT saga_id, idx, kind, body FROM arbiter.journal"
        params: tuple[str, ...] = ()
        if saga_id is not None:
            query += " WHERE saga_id = %s"
            params = (saga_id,)
        for sid, idx, kind, body in self.connection.execute(query + " ORDER BY saga_id, idx", params):
            yield str(sid), int(idx), str(kind), body
