"""Tenants: the registry (tiers, tier limits, rate-limit hooks) and its PostgreSQL store with
row-level security (ADR 0145)."""
