-- Least privilege for the application role {app}: DML on tenant tables (journal copies are
-- append-only), nothing else. No CREATE anywhere, no TEMP tables, no schema public.
REVOKE ALL ON SCHEMA arbiter FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA arbiter FROM PUBLIC;
REVOKE ALL ON FUNCTION arbiter.current_tenant() FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA arbiter TO {app};
GRANT EXECUTE ON FUNCTION arbiter.current_tenant() TO {app};
GRANT SELECT ON arbiter.tenants TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON arbiter.orders, arbiter.fills, arbiter.positions TO {app};
GRANT SELECT, INSERT ON arbiter.journal TO {app};
REVOKE TEMPORARY, CONNECT ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {app};
