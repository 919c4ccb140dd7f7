"""arbiter: cross-venue binary prediction-market arbitrage (Kalshi <-> Polymarket)."""
