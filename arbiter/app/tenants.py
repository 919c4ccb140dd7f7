"""Tenants for the engine config: from the encrypted credential store (this module) or from the
config file's ``[[tenant]]`` tables (:func:`arbiter.app.config.load_config`)."""

from __future__ import annotations

from arbiter.app.config import TenantConfig, store_tenant_config
from arbiter.core.accounts import Tier
from arbiter.security.credentials import CredentialStore

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
    return store_tenant_config(store, tenant_id, tier=tier, chain_id=chain_id,
                               backend_uri=backend_uri)
