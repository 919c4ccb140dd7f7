"""Tenants for the engine config: from the encrypted credential store (this module) or from the
config file's ``[[tenant]]`` tables (:func:`arbiter.app.config.load_config`)."""

from __future__ import annotations

from typing import Any

from arbiter.app.config import TenantConfig
from arbiter.core.accounts import Tier
from arbiter.security.credentials import CredentialStore, StoreKey, polymarket_signature_type

__all__ = ["engine_tenant_config"]


def engine_tenant_config(
    store: CredentialStore,
    tenant_id: str,
    *,
    tier: Tier | str = Tier.INSTITUTIONAL,
    chain_id: int | None = None,
    backend_uri: str | None = None,
) -> TenantConfig:
    """The engine's :class:`~arbiter.app.config.TenantConfig` for a tenant of the store.

    The config holds :class:`StoreKey` references (store directory, backend URI, tenant, field),
    never key material: it is pickled into Ray actor-creation arguments, and the actor decrypts
    where it builds its signers. The bundles are opened here once, though, to authenticate them
    (a tampered or missing credential fails the tenant's add, not a half-started actor later) and
    to read the labels that are public anyway (Kalshi key id, Polymarket funder); the plaintext
    is wiped before returning. ``tier`` comes from the tenant registry (the store keeps none).
    """
    location = store.location(backend_uri)
    tier_value = Tier.parse(tier).value
    kalshi = store.get_kalshi(tenant_id)
    try:
        key_id = kalshi.key_id
    finally:
        kalshi.wipe()
    poly = store.get_polymarket(tenant_id)
    try:
        funder = poly.funder
        sig_type = polymarket_signature_type(poly.signature_type, funder)
        has_api = bool(poly.api_key and poly.api_secret and poly.passphrase)
    finally:
        poly.wipe()

    def ref(name: str, field_name: str, optional: bool = False) -> StoreKey:
        return StoreKey(location, tenant_id, name, name, field_name, optional)

    extra: dict[str, Any] = {} if chain_id is None else {"polymarket_chain_id": chain_id}
    return TenantConfig(
        name=tenant_id,
        tier=tier_value,
        kalshi_key_id=key_id,
        kalshi_private_key=ref("kalshi", "private_key_pem"),
        polymarket_private_key=ref("polymarket", "private_key"),
        polymarket_funder=funder,
        polymarket_signature_type=sig_type,
        polymarket_api=(ref("polymarket", "api_key"), ref("polymarket", "api_secret"),
                        ref("polymarket", "passphrase")) if has_api else None,
        **extra,
    )
