"""PostgreSQL row-level security against hand-written hostile SQL from a tenant's own session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from arbiter.core.accounts import UserContext
from arbiter.security.secrets import Secret
from arbiter.tenancy.store import OrderRecord, PositionRecord, TenantDatabase, TenantDbError, TenantSession
from tests.tenancy.pg_fixtures import pg_server, tenant_db

__all__ = ["pg_server", "tenant_db"]

pytestmark = pytest.mark.integration

TABLES = ("orders", "fills", "positions", "journal")


@pytest.fixture(scope="module")
def passwords(tenant_db: TenantDatabase) -> dict[str, Secret]:
    out = {}
    for tenant, tier in (("alice", "pro"), ("bob", "free")):
        out[tenant] = tenant_db.add_tenant(UserContext.for_tier(tenant, tier))
        with tenant_db.connect(tenant, out[tenant]) as s:
            s.record_order(
                OrderRecord(f"{tenant}-o1", "kalshi", "KX-1", "buy", 4500, 2_000_000, "new", "saga-1")
            )
            s.record_fill(
                f"{tenant}-f1", f"{tenant}-o1", 4500, 1_000_000, 70_000_000, 1_700_000_000_000_000_000
            )
            s.upsert_position(PositionRecord("kalshi", "KX-1", "yes", 1_000_000, 4_500_000_000))
            s.copy_journal("saga-1", [("started", {"pair": "p"}), ("intent", {"leg": 1})], 1)
    return out


@pytest.fixture
def alice(tenant_db: TenantDatabase, passwords: dict[str, Secret]) -> Iterator[TenantSession]:
    with tenant_db.connect("alice", passwords["alice"]) as session:
        yield session


def _admin_count(tenant_db: TenantDatabase, table: str, tenant: str) -> int:
    with psycopg.connect(tenant_db._admin_dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM arbiter.{table} WHERE tenant_id = %s", (tenant,)).fetchone()
    assert row is not None
    return int(row[0])


def _visible(session: TenantSession, table: str) -> set[str]:
    rows = session.connection.execute(f"SELECT DISTINCT tenant_id FROM arbiter.{table}").fetchall()
    return {r[0] for r in rows}


def test_each_tenant_sees_exactly_its_own_rows(
    tenant_db: TenantDatabase, passwords: dict[str, Secret]
) -> None:
    for tenant in ("alice", "bob"):
        with tenant_db.connect(tenant, passwords[tenant]) as s:
            assert s.current_tenant() == tenant
            assert [o.order_id for o in s.orders()] == [f"{tenant}-o1"]
            assert len(s.fills()) == 1 and len(s.positions()) == 1 and len(list(s.journal())) == 2
            for table in (*TABLES, "tenants"):
                assert _visible(s, table) == {tenant}
    # The rows really exist for both (so "sees nothing" below is isolation, not absence).
    for table in TABLES:
        assert _admin_count(tenant_db, table, "alice") >= 1 and _admin_count(tenant_db, table, "bob") >= 1


def test_application_role_is_not_owner_superuser_or_bypassrls(alice: TenantSession) -> None:
    c = alice.connection
    row = c.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    assert row == (False, False, False, False)
    owners = c.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'arbiter'").fetchall()
    assert owners and all(o[0] != c.execute("SELECT current_user").fetchone()[0] for o in owners)  # type: ignore[index]
    forced = c.execute(
        "SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class "
        "WHERE relnamespace = 'arbiter'::regnamespace AND relkind = 'r'"
    ).fetchone()
    assert forced == (True,)


@pytest.mark.parametrize(
    "switch",
    [
        "SET app.tenant_id = 'bob'",
        "SELECT set_config('app.tenant_id', 'bob', false)",
        "SET SESSION app.tenant_id TO 'bob'",
    ],
)
def test_changing_the_tenant_setting_reaches_nobody(alice: TenantSession, switch: str) -> None:
    c = alice.connection
    c.execute(switch)
    assert alice.current_tenant() is None
    for table in (*TABLES, "tenants"):
        assert _visible(alice, table) == set()
    with pytest.raises((errors.InsufficientPrivilege, errors.NotNullViolation)):
        c.execute(
            "INSERT INTO arbiter.orders (order_id, venue, market, side, price, size, status) "
            "VALUES ('x', 'kalshi', 'M', 'buy', 1, 1, 'new')"
        )
    with pytest.raises(errors.InsufficientPrivilege):
        c.execute(
            "INSERT INTO arbiter.orders (tenant_id, order_id, venue, market, side, price, size, status) "
            "VALUES ('bob', 'x', 'kalshi', 'M', 'buy', 1, 1, 'new')"
        )
    assert c.execute("UPDATE arbiter.orders SET status = 'pwned'").rowcount == 0
    assert c.execute("DELETE FROM arbiter.positions").rowcount == 0


def test_transaction_local_setting_is_no_better(alice: TenantSession) -> None:
    c = alice.connection
    with c.transaction():
        c.execute("SELECT set_config('app.tenant_id', 'bob', true)")
        assert _visible(alice, "orders") == set()
    assert _visible(alice, "orders") == {"alice"}


def test_filtering_updating_deleting_other_tenant_rows_does_nothing(
    tenant_db: TenantDatabase, alice: TenantSession
) -> None:
    c = alice.connection
    assert c.execute("SELECT * FROM arbiter.orders WHERE tenant_id = 'bob'").fetchall() == []
    assert c.execute("SELECT * FROM arbiter.orders WHERE tenant_id <> 'alice' OR true").fetchall() != []
    assert {
        r[0] for r in c.execute("SELECT tenant_id FROM arbiter.orders WHERE tenant_id <> 'alice' OR true")
    } == {"alice"}
    for table in TABLES[:3]:
        assert c.execute(f"DELETE FROM arbiter.{table} WHERE tenant_id = 'bob'").rowcount == 0
    assert c.execute("UPDATE arbiter.orders SET status = 'pwned' WHERE tenant_id = 'bob'").rowcount == 0
    assert c.execute("UPDATE arbiter.orders SET status = 'pwned' WHERE order_id = 'bob-o1'").rowcount == 0
    for table in TABLES:
        assert _admin_count(tenant_db, table, "bob") >= 1
    with psycopg.connect(tenant_db._admin_dsn) as admin:
        assert admin.execute("SELECT status FROM arbiter.orders WHERE order_id = 'bob-o1'").fetchone() == (
            "new",
        )


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO arbiter.orders (tenant_id, order_id, venue, market, side, price, size, status) "
        "VALUES ('bob', 'evil', 'kalshi', 'M', 'buy', 1, 1, 'new')",
        "UPDATE arbiter.orders SET tenant_id = 'bob' WHERE order_id = 'alice-o1'",
        "INSERT INTO arbiter.positions (tenant_id, venue, market, outcome, size, cost) "
        "VALUES ('bob', 'kalshi', 'EVIL', 'yes', 1, 1)",
        "INSERT INTO arbiter.journal (tenant_id, saga_id, idx, kind, body, recorded_ns) "
        "VALUES ('bob', 's', 0, 'k', '{}', 1)",
        "INSERT INTO arbiter.orders (tenant_id, order_id, venue, market, side, price, size, status) "
        "VALUES ('alice', 'alice-o1', 'kalshi', 'M', 'buy', 1, 1, 'new') "
        "ON CONFLICT (tenant_id, order_id) DO UPDATE SET tenant_id = 'bob'",
    ],
)
def test_writing_rows_for_another_tenant_is_refused(
    tenant_db: TenantDatabase, alice: TenantSession, statement: str
) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        alice.connection.execute(statement)
    assert _admin_count(tenant_db, "orders", "bob") == 1


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("SET ROLE {owner}", errors.InsufficientPrivilege),
        ("SET ROLE {bob}", errors.InsufficientPrivilege),
        ("SET ROLE postgres", errors.InsufficientPrivilege),
        ("SET SESSION AUTHORIZATION {bob}", errors.InsufficientPrivilege),
        ("SET SESSION AUTHORIZATION postgres", errors.InsufficientPrivilege),
        ("ALTER TABLE arbiter.orders DISABLE ROW LEVEL SECURITY", errors.InsufficientPrivilege),
        ("ALTER TABLE arbiter.orders NO FORCE ROW LEVEL SECURITY", errors.InsufficientPrivilege),
        ("DROP POLICY tenant_isolation ON arbiter.orders", errors.InsufficientPrivilege),
        ("CREATE POLICY open ON arbiter.orders USING (true)", errors.InsufficientPrivilege),
        ("ALTER POLICY tenant_isolation ON arbiter.orders USING (true)", errors.InsufficientPrivilege),
        (
            "CREATE OR REPLACE FUNCTION arbiter.current_tenant() RETURNS text "
            "LANGUAGE sql AS $$ SELECT 'bob' $$",
            errors.InsufficientPrivilege,
        ),
        ("CREATE TABLE arbiter.steal AS SELECT 1", errors.InsufficientPrivilege),
        ("CREATE TEMP TABLE steal (x int)", errors.InsufficientPrivilege),
        ("CREATE VIEW public.v AS SELECT * FROM arbiter.orders", errors.InsufficientPrivilege),
        ("TRUNCATE arbiter.orders", errors.InsufficientPrivilege),
        ("UPDATE arbiter.journal SET body = '{}'", errors.InsufficientPrivilege),
        ("DELETE FROM arbiter.journal", errors.InsufficientPrivilege),
        ("ALTER ROLE {alice} BYPASSRLS", errors.InsufficientPrivilege),
        ("GRANT {owner} TO {alice}", errors.InsufficientPrivilege),
        ("SELECT rolpassword FROM pg_authid", errors.InsufficientPrivilege),
        ("COPY arbiter.orders TO '/tmp/arbiter-stolen.csv'", errors.InsufficientPrivilege),
        ("COPY arbiter.orders FROM PROGRAM 'id'", errors.InsufficientPrivilege),
        ("SELECT pg_read_file('/etc/passwd')", errors.InsufficientPrivilege),
        ("CREATE EXTENSION dblink", (errors.InsufficientPrivilege, errors.FeatureNotSupported)),
        ("LOAD 'plpgsql'", errors.InsufficientPrivilege),
    ],
)
def test_escalation_attempts_are_refused(
    tenant_db: TenantDatabase,
    alice: TenantSession,
    statement: str,
    error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    names = {
        "owner": f'"{tenant_db.owner_role}"',
        "bob": f'"{tenant_db.role_for("bob")}"',
        "alice": f'"{tenant_db.role_for("alice")}"',
    }
    with pytest.raises(error):
        for key, value in names.items():
            statement = statement.replace("{" + key + "}", value)
        alice.connection.execute(statement)
    # Whatever happened, the session is still alice and still isolated.
    assert _visible(alice, "orders") == {"alice"}


def test_reset_role_and_set_role_app_stay_isolated(tenant_db: TenantDatabase, alice: TenantSession) -> None:
    c = alice.connection
    c.execute("RESET ROLE")
    assert _visible(alice, "orders") == {"alice"}
    c.execute(f'SET ROLE "{tenant_db.app_role}"')  # alice is a member: allowed, and useless
    assert _visible(alice, "orders") == {"alice"}
    c.execute("SET app.tenant_id = 'bob'")
    assert _visible(alice, "orders") == set()
    c.execute("RESET ALL")
    assert _visible(alice, "orders") == set()  # RESET ALL clears app.tenant_id too: still nothing


def test_search_path_games_change_nothing(alice: TenantSession) -> None:
    c = alice.connection
    c.execute("SET search_path = public, pg_temp, pg_catalog")
    assert alice.current_tenant() == "alice"
    assert _visible(alice, "orders") == {"alice"}
    with pytest.raises(errors.InsufficientPrivilege):
        c.execute(
            "CREATE FUNCTION public.current_setting(text, boolean) RETURNS text "
            "LANGUAGE sql AS $$ SELECT 'bob' $$"
        )


def test_row_security_off_is_an_error_not_a_bypass(alice: TenantSession) -> None:
    c = alice.connection
    c.execute("SET row_security = off")
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        c.execute("SELECT * FROM arbiter.orders")


def test_copy_only_exports_own_rows_and_cannot_import(alice: TenantSession) -> None:
    c = alice.connection
    with c.cursor() as cur:
        with cur.copy("COPY arbiter.orders (tenant_id, order_id) TO STDOUT") as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        assert data.decode().split() == ["alice", "alice-o1"]
        with cur.copy(
            "COPY (SELECT tenant_id FROM arbiter.orders WHERE tenant_id = 'bob') TO STDOUT"
        ) as copy:
            assert b"".join(bytes(chunk) for chunk in copy) == b""
    statement = (
        "COPY arbiter.orders (tenant_id, order_id, venue, market, side, price, size, status) FROM STDIN"
    )
    with (
        pytest.raises((errors.FeatureNotSupported, errors.InsufficientPrivilege)),
        c.cursor() as cur,
        cur.copy(statement) as copy,
    ):
        copy.write_row(("bob", "evil", "kalshi", "M", "buy", 1, 1, "new"))


def test_fill_against_another_tenants_order_is_refused(alice: TenantSession) -> None:
    with pytest.raises((errors.ForeignKeyViolation, errors.InsufficientPrivilege)):
        alice.record_fill("evil-fill", "bob-o1", 1, 1, 0, 1)


def test_other_tenants_password_and_role(tenant_db: TenantDatabase, passwords: dict[str, Secret]) -> None:
    with pytest.raises(TenantDbError) as info:
        TenantSession.connect(tenant_db.tenant_dsn("bob"), "bob", passwords["alice"])
    assert passwords["alice"].reveal_str() not in str(info.value)
    # Right password, but claiming the other tenant in the setting: sees nothing.
    with TenantSession.connect(tenant_db.tenant_dsn("alice"), "bob", passwords["alice"]) as confused:
        assert confused.current_tenant() is None and _visible(confused, "orders") == set()


def test_password_never_reaches_the_server_in_clear(
    tenant_db: TenantDatabase, passwords: dict[str, Secret]
) -> None:
    with psycopg.connect(tenant_db._admin_dsn) as admin:
        row = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (tenant_db.role_for("alice"),)
        ).fetchone()
    assert row is not None and str(row[0]).startswith("SCRAM-SHA-256$4096:")
    assert passwords["alice"].reveal_str() not in str(row[0])


def test_add_list_set_tier_and_remove_tenant(tenant_db: TenantDatabase) -> None:
    ctx = UserContext.for_tier("carol", "institutional")
    pw = tenant_db.add_tenant(ctx)
    with pytest.raises(TenantDbError):
        tenant_db.add_tenant(ctx)
    assert "carol" in [c.tenant_id for c in tenant_db.list_tenants()]
    from arbiter.core.accounts import Tier

    tenant_db.set_tier("carol", Tier.FREE)
    assert {c.tenant_id: c.tier for c in tenant_db.list_tenants()}["carol"] is Tier.FREE
    session = tenant_db.connect("carol", pw)
    session.record_order(OrderRecord("c1", "polymarket", "0xabc", "sell", 100, 1, "new"))
    new_pw = tenant_db.set_password("carol")
    with tenant_db.connect("carol", new_pw) as again:
        assert [o.order_id for o in again.orders()] == ["c1"]
    tenant_db.remove_tenant("carol")
    assert _admin_count(tenant_db, "orders", "carol") == 0
    with pytest.raises(psycopg.OperationalError):
        session.connection.execute("SELECT 1")  # its live session was terminated
    with pytest.raises(TenantDbError):
        tenant_db.connect("carol", new_pw)
    with pytest.raises(TenantDbError):
        tenant_db.remove_tenant("carol")


def test_journal_copies_of_a_real_executor_journal(
    tenant_db: TenantDatabase, passwords: dict[str, Secret], tmp_path: Path
) -> None:
    from arbiter.core.risk import Reservation
    from arbiter.core.saga import OrderFinal, PlaceOrder, Started, plan_saga
    from arbiter.execution.journal import Journal
    from tests.execution.factories import PAIR, C, opportunity

    with Journal(tmp_path / "j.db") as journal:
        sid = journal.new_saga_id()
        saga = journal.start(
            Started(plan_saga(sid, opportunity(), PAIR), 1), Reservation(sid, "FED", 10 * C, {}, 1)
        )
        command = saga.next_command(2)
        assert isinstance(command, PlaceOrder)
        journal.record(saga, command.intent)
        journal.record(saga, OrderFinal("L1", "o1", "filled", 10 * C, 5500 * 10 * C, 7, "ack", "", 3))
        events = journal.raw_events(sid)
    assert len(events) == 3
    with tenant_db.connect("alice", passwords["alice"]) as alice:
        assert alice.copy_journal(sid, events, 5) == 3
        assert alice.copy_journal(sid, events, 6) == 0  # idempotent: a re-sync adds nothing
        assert [(kind, body) for _, _, kind, body in alice.journal(sid)] == events
    with tenant_db.connect("bob", passwords["bob"]) as bob:
        assert list(bob.journal(sid)) == []
