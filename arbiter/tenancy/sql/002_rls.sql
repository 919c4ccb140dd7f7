-- Row-level security: every tenant table is filtered by arbiter.current_tenant(), for reads
-- (USING) and for writes (WITH CHECK), FORCEd so even the owner is subject to it. The policies
-- apply to the application group role {app}; any other role (owner included) matches no
-- policy and therefore sees and writes nothing. Migrations/admin run as a role with BYPASSRLS.

ALTER TABLE arbiter.tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE arbiter.tenants FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_self ON arbiter.tenants;
CREATE POLICY tenant_self ON arbiter.tenants FOR SELECT TO {app}
    USING (tenant_id = arbiter.current_tenant());

ALTER TABLE arbiter.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE arbiter.orders FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON arbiter.orders;
CREATE POLICY tenant_isolation ON arbiter.orders TO {app}
    USING (tenant_id = arbiter.current_tenant())
    WITH CHECK (tenant_id = arbiter.current_tenant());

ALTER TABLE arbiter.fills ENABLE ROW LEVEL SECURITY;
ALTER TABLE arbiter.fills FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON arbiter.fills;
CREATE POLICY tenant_isolation ON arbiter.fills TO {app}
    USING (tenant_id = arbiter.current_tenant())
    WITH CHECK (tenant_id = arbiter.current_tenant());

ALTER TABLE arbiter.positions ENABLE ROW LEVEL SECURITY;
ALTER TABLE arbiter.positions FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON arbiter.positions;
CREATE POLICY tenant_isolation ON arbiter.positions TO {app}
    USING (tenant_id = arbiter.current_tenant())
    WITH CHECK (tenant_id = arbiter.current_tenant());

ALTER TABLE arbiter.journal ENABLE ROW LEVEL SECURITY;
ALTER TABLE arbiter.journal FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON arbiter.journal;
CREATE POLICY tenant_isolation ON arbiter.journal TO {app}
    USING (tenant_id = arbiter.current_tenant())
    WITH CHECK (tenant_id = arbiter.current_tenant());
