"""The composition root's builders: from an :class:`~arbiter.app.config.EngineConfig` to the
objects a tenant trades with (clients, signers, journal, risk, executor) and the market data the
detector prices with.

Everything the engine talks to is chosen here and nowhere else (cosmicpython's ``bootstrap``):
which venue endpoints, which credentials, dry-run or real orders, which journal file, which
limits. The actors receive an :class:`~arbiter.app.config.EngineConfig` (plain, picklable data)
and call these ``build_*`` functions to assemble their objects, so an actor class never decides
anything about wiring; the paper session and the backtest build through the same functions.
Signers resolve key references (:mod:`arbiter.security.credentials`) inside the process that
signs (docs/adr/0075).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from arbiter.core.accounts import apply_tier
from arbiter.core.detection import Detector
from arbiter.core.pairs import Pair, set_pair_fields
from arbiter.core.ratelimit import RateLimiter
from arbiter.core.risk import RiskBook
from arbiter.core.saga import SagaPolicy
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.risk_manager import RiskManager
from arbiter.security.credentials import resolve_keys
from arbiter.security.secrets import Secret
from arbiter.venues.base import DryRunClient, ExchangeClient, unwrap
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import Signer as KalshiSigner
from arbiter.venues.kalshi.signing import load_private_key
from arbiter.venues.polymarket.auth import ApiCreds, PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.signing import Signer as PolySigner
from arbiter.venues.ratelimited import RateLimitedClient

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported where tracing is on
    pass
from arbiter.app.config import EngineConfig, TenantConfig
from arbiter.execution.tenant import TenantRuntime

__all__ = [
    "build_clients",
    "build_detector",
    "build_tenant",
    "kalshi_config",
    "kalshi_signer",
    "limiter_for",
    "polymarket_credentials",
    "refresh_market_data",
    "refresh_pair",
    "warm_up",
]


# -- builders (called inside the actors) ----------------------------------------------------------


def build_detector(config: EngineConfig) -> Detector:
    return Detector(config.pairs, config.detection)


#: what a failed ``/clob-markets`` read can raise (the market's data is then unknown)
def _market_errors() -> tuple[type[BaseException], ...]:
    import aiohttp

    from arbiter.venues.base import VenueError

    return (VenueError, aiohttp.ClientError, OSError, TimeoutError)


async def refresh_market_data(config: EngineConfig) -> tuple[EngineConfig, dict[str, str]]:
    """Start-up: every pair's Polymarket fee, minimum size, tick and neg-risk, from the venue.

    Live and paper trading price a market with what the venue states *now*
    (``/clob-markets/{condition_id}``; ADR 0036), not with what the pairs file said when it was
    written: the file's market fields are overwritten in the config's copy. A pair whose data
    cannot be read (or whose fee we cannot compute) loses its fee fields, so the detector builds
    no route for it and the executor can never plan it; the returned map names each such pair and
    why. The public CLOB endpoints need no credentials, so dry runs refresh the same way.
    """
    from arbiter.venues.polymarket.market_info import (
        fetch_pair_market,
        pair_fields,
        unknown_fields,
    )
    from arbiter.venues.polymarket.rest import PolymarketRest

    updates: dict[str, dict[str, str | int | bool | None]] = {}
    failed: dict[str, str] = {}
    rest = PolymarketRest(config.endpoints.polymarket_rest)
    try:
        for pair in config.pairs:
            try:
                updates[pair.name] = pair_fields(await fetch_pair_market(rest, pair))
            except _market_errors() as exc:
                failed[pair.name] = str(exc) or repr(exc)
                updates[pair.name] = unknown_fields()
    finally:
        await rest.close()
    text = set_pair_fields(config.pairs_toml, updates, "pairs")
    return config.with_overrides(pairs_toml=text), failed


async def refresh_pair(config: EngineConfig, pair: Pair) -> tuple[Pair, str | None]:
    """One pair's market data re-read (after the venue said it changed): the refreshed pair, or
    the pair with its fee unknown (never traded) and the reason the read failed."""
    from arbiter.venues.polymarket.market_info import apply_to_pair, fetch_pair_market
    from arbiter.venues.polymarket.rest import PolymarketRest

    rest = PolymarketRest(config.endpoints.polymarket_rest)
    try:
        return apply_to_pair(pair, await fetch_pair_market(rest, pair)), None
    except _market_errors() as exc:
        return replace(pair, polymarket_fee=None), str(exc) or repr(exc)
    finally:
        await rest.close()


def kalshi_config(config: EngineConfig, tenant: TenantConfig | None) -> KalshiConfig:
    ep = config.endpoints
    return KalshiConfig(
        env=KalshiEnv.DEMO if ep.kalshi_demo else KalshiEnv.PRODUCTION,
        rest_url=ep.kalshi_rest, ws_url=ep.kalshi_ws,
        key_id=tenant.kalshi_key_id if tenant else None,
    )


def _wipe(secrets: list[Secret | None]) -> None:
    for secret in secrets:
        if secret is not None:
            secret.wipe()


def kalshi_signer(tenant: TenantConfig) -> KalshiSigner:
    """The tenant's Kalshi signer; its key is read here, in the calling process, and the PEM text
    wiped once parsed (a :class:`~arbiter.security.credentials.CredentialError` if it cannot be read)."""
    secrets = resolve_keys([tenant.kalshi_private_key])
    try:
        pem = secrets[0]
        assert pem is not None  # only optional store fields resolve to None
        return KalshiSigner(tenant.kalshi_key_id, load_private_key(
            pem.reveal(), source=f"tenant {tenant.name!r} Kalshi private key"))
    finally:
        _wipe(secrets)


def polymarket_credentials(tenant: TenantConfig) -> PolymarketCredentials:
    """The tenant's Polymarket wallet signer and L2 credentials, read here (see kalshi_signer).

    The L2 triple has to stay text inside :class:`ApiCreds` (every request is HMAC'd with it);
    the wallet key lives on only inside the signer.
    """
    secrets = resolve_keys([tenant.polymarket_private_key, *(tenant.polymarket_api or ())])
    try:
        wallet, *triple = secrets
        assert wallet is not None  # only optional store fields resolve to None
        api = None
        if len(triple) == 3 and all(s is not None for s in triple):
            api = ApiCreds(*(s.reveal_str() for s in triple if s is not None))
        return PolymarketCredentials(
            PolySigner(wallet.reveal_str()), tenant.polymarket_funder,
            tenant.polymarket_signature_type, api, tenant.polymarket_chain_id,
        )
    finally:
        _wipe(secrets)


def limiter_for(limiter: RateLimiter, tenant: TenantConfig) -> RateLimiter:
    """Give ``tenant`` its tier's order budget and its Kalshi key's bucket (once per limiter)."""
    user = tenant.user()
    if user.tenant_id not in limiter.tenants():
        limiter.add_tenant(
            user.tenant_id, orders_per_second=user.limits.orders_per_second,
            order_burst=user.limits.order_burst, weight=user.limits.fair_share_weight,
            now_ns=time.time_ns(),
        )
    if tenant.kalshi_key_id:
        limiter.set_venue_key(user.tenant_id, "kalshi", tenant.kalshi_key_id)
    return limiter


async def build_clients(
    config: EngineConfig, tenant: TenantConfig, limiter: RateLimiter | None = None,
    on_rate_limited: Callable[[str], None] | None = None,
) -> dict[str, ExchangeClient]:
    """One client per venue for ``tenant``, behind the tenant's rate budget; wrapped in
    :class:`DryRunClient` for dry runs (which then charges reads only: mutations never leave).

    ``limiter`` is the deployment's; pass the same one for every tenant so the per-IP Polymarket
    budget is shared fairly. Without one, the tenant gets a limiter of its own.
    ``on_rate_limited`` is told the venue of every request the limiter or the venue refused.
    """
    kcfg = kalshi_config(config, tenant)
    # the create's headers are signed ahead once the order lane opens (PresignedHeaders)
    kalshi = KalshiRestClient(kcfg, kalshi_signer(tenant), max_retries=0)
    try:
        poly = await PolymarketClient.connect(
            polymarket_credentials(tenant), config.endpoints.polymarket_rest,
            ws_url=config.endpoints.polymarket_ws,  # the user channel: outcomes of delayed orders
        )
    except BaseException:
        await kalshi.close()
        raise
    limiter = limiter_for(limiter or config.rate_limiter(), tenant)
    clients: dict[str, ExchangeClient] = {
        venue: RateLimitedClient(client, limiter, tenant.name, on_refused=on_rate_limited)
        for venue, client in (("kalshi", kalshi), ("polymarket", poly))
    }
    if config.dry_run:
        return {venue: DryRunClient(client) for venue, client in clients.items()}
    return clients


async def build_tenant(
    config: EngineConfig, tenant: TenantConfig, limiter: RateLimiter | None = None,
    on_rate_limited: Callable[[str], None] | None = None,
) -> TenantRuntime:
    """The tenant's journal, clients, risk and executor; the tier caps the operator's limits."""
    user = tenant.user()
    path = config.journal_path(tenant.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(path, synchronous=config.journal_sync, tenant=user.tenant_id)
    journal.checkpoint_in_background()  # no multi-ms WAL checkpoint inside a tick-path commit
    try:
        clients = await build_clients(config, tenant, limiter, on_rate_limited)
    except BaseException:  # unreadable credentials: the others start, nothing of it is left open
        journal.close()
        raise
    pairs = {p.name: p for p in config.pairs}
    risk = RiskManager(RiskBook(apply_tier(config.limits, user)), clients, pairs, journal)
    first = config.first_venue
    policy = SagaPolicy(first_venues=(first, *(v for v in ("kalshi", "polymarket") if v != first)))
    executor = SagaExecutor(
        journal, clients, pairs, risk=risk, policy=policy,
        config=ExecutorConfig(order_timeout_s=5.0, absent_grace_s=1.0), user=user,
    )
    return TenantRuntime(tenant.name, journal, clients, risk, executor)


async def warm_up(runtime: TenantRuntime, config: EngineConfig) -> None:
    """Fetch what the first order would otherwise fetch (token metadata, balances)."""
    poly = runtime.clients.get("polymarket")
    inner = unwrap(poly) if poly is not None else None
    if isinstance(inner, PolymarketClient):
        for pair in config.pairs:
            await inner.token_meta(pair.polymarket_yes_token)
            await inner.token_meta(pair.polymarket_no_token)
            if pair.untradable_reason() is None:
                # the fee curve every order and fill of the market is priced with (ADR 0036)
                if pair.polymarket_condition_id is not None:
                    await inner.clob_market(pair.polymarket_condition_id)
                await inner.token_fee(pair.polymarket_yes_token)
    await runtime.risk.refresh_balances()
