-- Tenant data: every row carries tenant_id; amounts are the core's fixed-point integers
-- (price: 1e-4 dollar, size: 1e-6 contract, money: 1e-10 dollar), never floats.
-- Runs as the owner role ({owner}), so the owner owns every object below.
-- Placeholders in braces are filled by arbiter/ops/tenant_db.py (identifiers/literals, quoted).

CREATE SCHEMA IF NOT EXISTS arbiter AUTHORIZATION {owner};

-- The tenant a session acts for. Both halves must agree: the session setting app.tenant_id
-- AND the login role (one role per tenant, named {tenant_prefix} || tenant_id). A tenant
-- session that runs SET app.tenant_id = 'other' therefore gets NULL (sees nothing, writes
-- nothing): the setting selects, the role authorizes. session_user cannot be changed by a
-- non-superuser (SET ROLE changes current_user only).
-- Built-ins are schema-qualified so a session's search_path cannot substitute its own functions
-- (and the function stays inlinable, unlike one with a SET search_path clause).
CREATE OR REPLACE FUNCTION arbiter.current_tenant() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT CASE
        WHEN pg_catalog.left(session_user::text, pg_catalog.length({tenant_prefix})) = {tenant_prefix}
         AND pg_catalog.substr(session_user::text, pg_catalog.length({tenant_prefix}) + 1)
             = pg_catalog.current_setting('app.tenant_id', true)
        THEN pg_catalog.current_setting('app.tenant_id', true)
    END
$fn$;

CREATE TABLE IF NOT EXISTS arbiter.tenants (
    tenant_id  text PRIMARY KEY CHECK (tenant_id ~ '^[a-z][a-z0-9_]{{1,30}}$'),
    tier       text NOT NULL CHECK (tier IN ('free', 'pro', 'institutional')),
    db_role    text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS arbiter.orders (
    tenant_id  text NOT NULL DEFAULT arbiter.current_tenant()
               REFERENCES arbiter.tenants (tenant_id) ON DELETE CASCADE,
    order_id   text NOT NULL,
    saga_id    text,
    venue      text NOT NULL CHECK (venue IN ('kalshi', 'polymarket')),
    market     text NOT NULL,
    side       text NOT NULL,
    price      bigint NOT NULL CHECK (price > 0),
    size       bigint NOT NULL CHECK (size > 0),
    status     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, order_id)
);

CREATE TABLE IF NOT EXISTS arbiter.fills (
    tenant_id text NOT NULL DEFAULT arbiter.current_tenant(),
    fill_id   text NOT NULL,
    order_id  text NOT NULL,
    price     bigint NOT NULL CHECK (price > 0),
    size      bigint NOT NULL CHECK (size > 0),
    fee       bigint NOT NULL DEFAULT 0,
    filled_ns bigint NOT NULL,
    PRIMARY KEY (tenant_id, fill_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES arbiter.orders (tenant_id, order_id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS arbiter.positions (
    tenant_id  text NOT NULL DEFAULT arbiter.current_tenant()
               REFERENCES arbiter.tenants (tenant_id) ON DELETE CASCADE,
    venue      text NOT NULL,
    market     text NOT NULL,
    outcome    text NOT NULL,
    size       bigint NOT NULL,
    cost       bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, venue, market, outcome)
);

-- Copies of the executor's durable journal (the source of truth stays the executor's own
-- journal file): one row per saga event, idempotent on (tenant, saga, index).
CREATE TABLE IF NOT EXISTS arbiter.journal (
    tenant_id   text NOT NULL DEFAULT arbiter.current_tenant()
                REFERENCES arbiter.tenants (tenant_id) ON DELETE CASCADE,
    saga_id     text NOT NULL,
    idx         integer NOT NULL CHECK (idx >= 0),
    kind        text NOT NULL,
    body        jsonb NOT NULL,
    recorded_ns bigint NOT NULL,
    PRIMARY KEY (tenant_id, saga_id, idx)
);
