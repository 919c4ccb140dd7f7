"""The one composition root: the engine config, decoded once at the edge, and the builders that
turn it into tenants, clients and engines for live, dry-run, paper and backtest (ADR 0145)."""
