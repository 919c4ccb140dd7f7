"""The local Polymarket: a wire-compatible CLOB (REST + market/user WebSockets) on loopback.

See docs/polymarket.md; ``arbiter sim polymarket`` and ``arbiter sim joint`` start it.
"""
