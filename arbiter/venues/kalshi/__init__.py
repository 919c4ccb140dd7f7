"""Kalshi venue adapter: RSA-PSS signing, REST client, order book feed (see docs/kalshi.md)."""
