"""The local Kalshi: a wire-compatible REST + WebSocket venue on loopback (docs/kalshi.md)."""
