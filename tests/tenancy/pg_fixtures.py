"""A real PostgreSQL for the tenancy tests: one server per test session, one database per module.

The server is a process-wide singleton (started on first use, stopped at exit) rather than a
session fixture, because fixtures imported into several test modules would each start their own.
"""

from __future__ import annotations

import atexit
import secrets
import threading
from collections.abc import Iterator

import psycopg
import pytest

from arbiter.tenancy.store import TenantDatabase
from tools.pg import PgServer

_lock = threading.Lock()
_server: PgServer | None = None


def shared_pg() -> PgServer:
    global _server
    with _lock:
        if _server is None:
            _server = PgServer.start()
            atexit.register(_server.stop)
        return _server


def fresh_database(server: PgServer) -> tuple[str, str]:
    """A new empty database and a role prefix unique to it; returns (dbname, prefix)."""
    suffix = secrets.token_hex(4)
    name, prefix = f"arbiter_{suffix}", f"arb{suffix}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, prefix


@pytest.fixture(scope="module")
def pg_server() -> PgServer:
    return shared_pg()


@pytest.fixture(scope="module")
def tenant_db(pg_server: PgServer) -> Iterator[TenantDatabase]:
    dbname, prefix = fresh_database(pg_server)
    db = TenantDatabase(pg_server.dsn(dbname=dbname), prefix=prefix)
    db.migrate()
    yield db
