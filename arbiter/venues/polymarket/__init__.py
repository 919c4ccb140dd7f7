"""Polymarket CLOB adapter: EIP-712 order signing, L1/L2 auth, REST client, market/user feeds.

See docs/polymarket.md. The venue-neutral entry point is
:class:`arbiter.venues.polymarket.client.PolymarketClient` (an ``ExchangeClient``).
"""
