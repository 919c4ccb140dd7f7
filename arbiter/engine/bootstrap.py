"""The composition root: one place that turns a config into a running engine, live or paper.

Everything the engine talks to is chosen here and nowhere else (cosmicpython's ``bootstrap``):
which venue endpoints, which credentials, dry-run or real orders, which journal file, which
limits. The actors receive an :class:`EngineConfig` (plain, picklable data, secrets included as
text so a remote node needs no files) and call the ``build_*`` functions below to assemble
their objects, so an actor class never decides anything about wiring.

Config file (``--config``, TOML)::

    [engine]
    namespace = "arbiter"          # Ray namespace; actor names read well in the dashboard
    pairs = "pairs.toml"           # relative to this file
    journal_dir = "var/journal"    # one SQLite journal per tenant
    journal_sync = "INTENTS"       # FULL | INTENTS | NORMAL (docs/adr/0041, 0061); paper: NORMAL
    dry_run = false                # true: orders are logged, never sent (DryRunClient)
    cooldown_ms = 50               # a pair rests this long after a saga on it ends
    priority = 0                   # nice -N for the tick path thread (needs the permission)
    realtime = false               # SCHED_RR for the tick path thread (needs CAP_SYS_NICE)
    first_venue = "kalshi"         # leg 1 venue: kalshi (pre-signed create) or polymarket

    [detection]
    min_edge = "0.01"              # dollars per contract after fees
    max_contracts = 10
    budget = "100"                 # dollars per opportunity

    [risk]
    max_open_sagas = 4
    max_gross_exposure = "1000"
    max_daily_loss = "50"

    [kalshi]
    rest_url = "http://127.0.0.1:8700/trade-api/v2"
    ws_url = "ws://127.0.0.1:8700/trade-api/ws/v2"

    [polymarket]
    rest_url = "http://127.0.0.1:8800"
    ws_url = "ws://127.0.0.1:8800/ws"

    [[tenant]]
    name = "main"                  # a tenant id (docs/tenancy.md)
    tier = "institutional"         # free | pro | institutional (the default): caps risk and rates
    kalshi_key_id = "..."
    kalshi_private_key = "keys/kalshi.pem"      # path, relative to this file
    polymarket_private_key = "keys/poly.hex"    # path to a file holding the hex key
    # optional: polymarket_funder, polymarket_signature_type, polymarket_api_key/_secret/_passphrase
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from arbiter.core.detection import DetectionConfig, Detector
from arbiter.core.pairs import Pair, parse_pairs
from arbiter.core.ratelimit import RateLimiter
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import SagaPolicy
from arbiter.core.units import Money, Size, parse_money, parse_price, parse_size
from arbiter.engine.executor import ExecutorConfig, SagaExecutor
from arbiter.engine.journal import Journal
from arbiter.engine.risk_manager import RiskManager
from arbiter.engine.tickpath import GateConfig
from arbiter.ops.errors import UsageError
from arbiter.ops.tenancy import TenancyError, Tier, UserContext, apply_tier, validate_tenant_id
from arbiter.venues.base import DryRunClient, ExchangeClient
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import Signer as KalshiSigner
from arbiter.venues.kalshi.signing import load_private_key, signing_path
from arbiter.venues.polymarket.auth import ApiCreds, PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.constants import POLYGON_CHAIN_ID, SIG_EOA
from arbiter.venues.polymarket.signing import Signer as PolySigner
from arbiter.venues.ratelimited import RateLimitedClient

__all__ = [
    "Endpoints",
    "EngineConfig",
    "TenantConfig",
    "TenantRuntime",
    "build_clients",
    "build_detector",
    "build_tenant",
    "load_config",
    "unwrap",
]


@dataclass(frozen=True)
class Endpoints:
    kalshi_rest: str
    kalshi_ws: str
    polymarket_rest: str
    polymarket_ws: str
    kalshi_demo: bool = False


@dataclass(frozen=True)
class TenantConfig:
    name: str
    kalshi_key_id: str
    kalshi_private_key_pem: str = field(repr=False)
    polymarket_private_key: str = field(repr=False)
    polymarket_funder: str | None = None
    polymarket_signature_type: int = SIG_EOA
    polymarket_api: tuple[str, str, str] | None = field(default=None, repr=False)
    polymarket_chain_id: int = POLYGON_CHAIN_ID
    tier: str = Tier.INSTITUTIONAL.value

    def user(self) -> UserContext:
        """The tenant's context (id, tier, the tier's limits) every executor and journal row gets."""
        return UserContext.for_tier(self.name, self.tier)


@dataclass(frozen=True)
class EngineConfig:
    pairs_toml: str
    endpoints: Endpoints
    tenants: tuple[TenantConfig, ...]
    journal_dir: str
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    limits: RiskLimits = field(default_factory=RiskLimits)
    gate: GateConfig = field(default_factory=GateConfig)
    namespace: str = "arbiter"
    journal_sync: str = "INTENTS"
    dry_run: bool = False
    #: label shown in the dashboard and the terminal view ("paper", "live", "dry-run")
    mode: str = "paper"
    #: raise the tick path thread's CPU priority by this much (nice -N; 0 = leave it)
    priority: int = 0
    #: run the tick path thread under SCHED_RR (needs CAP_SYS_NICE; see ADR 0060)
    realtime: bool = False
    #: the venue that gets leg 1 (kalshi: its create is pre-signed, see ADR 0060)
    first_venue: str = "kalshi"
    #: Prometheus endpoint of the arbiter actor (0 = a free port, None = off; docs/observability.md)
    metrics_port: int | None = 0
    #: interface the endpoint binds; 0.0.0.0 when Prometheus scrapes from another host
    metrics_host: str = "127.0.0.1"

    @property
    def pairs(self) -> list[Pair]:
        return parse_pairs(self.pairs_toml, "pairs")

    def journal_path(self, tenant: str) -> Path:
        return Path(self.journal_dir) / f"{tenant}.sqlite"

    def with_overrides(self, **changes: Any) -> EngineConfig:
        return replace(self, **changes)


# -- config file --------------------------------------------------------------------------------


def _read(base: Path, value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise UsageError(f"config: {what} must be a non-empty string")
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"config: {what}: cannot read {path}: {exc.strerror}") from None


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise UsageError(f"config: [{name}] must be a table")
    return value


def load_config(path: str | Path, *, dry_run: bool | None = None, kalshi_demo: bool = False) -> EngineConfig:
    """Parse the engine config file; every mistake is one :class:`UsageError` line."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read config {file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config {file} is not valid TOML: {exc}") from None
    base = file.parent
    engine = _section(data, "engine")
    pairs_toml = _read(base, engine.get("pairs"), "[engine] pairs")
    try:
        parse_pairs(pairs_toml, str(engine.get("pairs")))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    det = _section(data, "detection")
    risk = _section(data, "risk")
    try:
        detection = DetectionConfig(
            min_edge=parse_price(str(det["min_edge"])) if "min_edge" in det else 0,
            max_contracts=Size(parse_size(str(det["max_contracts"])))
            if "max_contracts" in det else None,
            budget=Money(parse_money(str(det["budget"]))) if "budget" in det else None,
        )
        limits = RiskLimits(
            max_open_sagas=int(risk.get("max_open_sagas", 4)),
            max_gross_exposure=parse_money(str(risk["max_gross_exposure"]))
            if "max_gross_exposure" in risk else None,
            max_daily_loss=parse_money(str(risk["max_daily_loss"]))
            if "max_daily_loss" in risk else None,
            require_balance=bool(risk.get("require_balance", True)),
            max_hedge_failures=int(risk.get("max_hedge_failures", 3)),
        )
        gate = GateConfig(
            max_open_sagas=int(risk.get("max_open_sagas", 4)),
            cooldown_ns=int(engine.get("cooldown_ms", 50)) * 1_000_000,
        )
    except (ValueError, TypeError) as exc:
        raise UsageError(f"config {file}: {exc}") from None
    kalshi = _section(data, "kalshi")
    poly = _section(data, "polymarket")
    try:
        endpoints = Endpoints(
            str(kalshi["rest_url"]), str(kalshi["ws_url"]),
            str(poly["rest_url"]), str(poly["ws_url"]),
            kalshi_demo=kalshi_demo or bool(kalshi.get("demo", False)),
        )
    except KeyError as exc:
        raise UsageError(f"config {file}: missing venue setting {exc}") from None
    tenants_raw = data.get("tenant", [])
    if not isinstance(tenants_raw, list) or not tenants_raw:
        raise UsageError(f"config {file}: at least one [[tenant]] is required")
    tenants = []
    for i, t in enumerate(tenants_raw):
        where = f"[[tenant]] #{i + 1}"
        api = None
        if t.get("polymarket_api_key"):
            api = (str(t["polymarket_api_key"]), str(t["polymarket_api_secret"]),
                   str(t["polymarket_api_passphrase"]))
        name = str(t.get("name", f"tenant{i + 1}"))
        tier = str(t.get("tier", Tier.INSTITUTIONAL.value))
        try:
            validate_tenant_id(name)
            tier = Tier.parse(tier).value
        except TenancyError as exc:
            raise UsageError(f"config {file}: {where}: {exc}") from None
        tenants.append(TenantConfig(
            name=name,
            tier=tier,
            kalshi_key_id=str(t.get("kalshi_key_id", "")),
            kalshi_private_key_pem=_read(base, t.get("kalshi_private_key"), f"{where} kalshi_private_key"),
            polymarket_private_key=_read(
                base, t.get("polymarket_private_key"), f"{where} polymarket_private_key"
            ).strip(),
            polymarket_funder=t.get("polymarket_funder"),
            polymarket_signature_type=int(t.get("polymarket_signature_type", SIG_EOA)),
            polymarket_api=api,
            polymarket_chain_id=int(t.get("polymarket_chain_id", POLYGON_CHAIN_ID)),
        ))
    first_venue = str(engine.get("first_venue", "kalshi"))
    if first_venue not in ("kalshi", "polymarket"):
        raise UsageError(f"config {file}: [engine] first_venue must be kalshi or polymarket")
    journal_dir = Path(str(engine.get("journal_dir", "var/journal")))
    if not journal_dir.is_absolute():
        journal_dir = base / journal_dir
    return EngineConfig(
        pairs_toml=pairs_toml,
        endpoints=endpoints,
        tenants=tuple(tenants),
        journal_dir=str(journal_dir),
        detection=detection,
        limits=limits,
        gate=gate,
        namespace=str(engine.get("namespace", "arbiter")),
        journal_sync=str(engine.get("journal_sync", "INTENTS")),
        dry_run=bool(engine.get("dry_run", False)) if dry_run is None else dry_run,
        mode="dry-run" if (dry_run or engine.get("dry_run")) else str(engine.get("mode", "paper")),
        priority=int(engine.get("priority", 0)),
        realtime=bool(engine.get("realtime", False)),
        first_venue=first_venue,
        metrics_port=_metrics_port(engine.get("metrics_port", 0)),
        metrics_host=str(engine.get("metrics_host", "127.0.0.1")),
    )


def _metrics_port(value: object) -> int | None:
    """``[engine] metrics_port``: 0 = a free port, a negative number = no endpoint."""
    port = int(str(value))
    return None if port < 0 else port


# -- builders (called inside the actors) ----------------------------------------------------------


def build_detector(config: EngineConfig) -> Detector:
    return Detector(config.pairs, config.detection)


def kalshi_config(config: EngineConfig, tenant: TenantConfig | None) -> KalshiConfig:
    ep = config.endpoints
    return KalshiConfig(
        env=KalshiEnv.DEMO if ep.kalshi_demo else KalshiEnv.PRODUCTION,
        rest_url=ep.kalshi_rest, ws_url=ep.kalshi_ws,
        key_id=tenant.kalshi_key_id if tenant else None,
    )


def kalshi_signer(tenant: TenantConfig) -> KalshiSigner:
    return KalshiSigner(tenant.kalshi_key_id, load_private_key(tenant.kalshi_private_key_pem))


class PresignedSigner:
    """Kalshi headers for the order-create request, signed ahead of time.

    Kalshi signs ``timestamp + method + path`` only (never the body), and an RSA-2048 signature
    costs ~1 ms here: too much for the tick path. The create path is fixed, so its headers are
    re-signed every ``refresh_s`` off the tick path (:meth:`refresh`) and reused until then; any
    other request is signed on the spot. A reused signature is no weaker than the venue's scheme
    already is (a captured header is replayable within the timestamp window either way), and its
    age stays far below the venue's tolerance (5-30 s past skew, venues.md §1.2).
    """

    HOT: tuple[str, str] = ("POST", "/portfolio/events/orders")

    def __init__(self, inner: KalshiSigner, base_path: str, max_age_ms: int = 2_000) -> None:
        self.inner = inner
        self.key_id = inner.key_id
        self.hot_path = base_path.rstrip("/") + self.HOT[1]
        self.max_age_ms = max_age_ms
        self._cached: tuple[int, dict[str, str]] | None = None

    def refresh(self) -> None:
        now = int(time.time() * 1000)
        self._cached = (now, self.inner.headers(self.HOT[0], self.hot_path, now))

    def headers(self, method: str, path: str, now_ms: int | None = None) -> dict[str, str]:
        cached = self._cached
        if cached is not None and method == self.HOT[0] and path == self.hot_path:
            ts, headers = cached
            if int(time.time() * 1000) - ts < self.max_age_ms:
                return dict(headers)
        return self.inner.headers(method, path, now_ms)


def polymarket_credentials(tenant: TenantConfig) -> PolymarketCredentials:
    api = ApiCreds(*tenant.polymarket_api) if tenant.polymarket_api else None
    return PolymarketCredentials(
        PolySigner(tenant.polymarket_private_key), tenant.polymarket_funder,
        tenant.polymarket_signature_type, api, tenant.polymarket_chain_id,
    )


def unwrap(client: ExchangeClient) -> ExchangeClient:
    """The venue's own client under the wrappers (dry run, rate limit) that keep it as ``inner``."""
    layer: ExchangeClient = client
    while isinstance(layer, DryRunClient | RateLimitedClient):
        layer = layer.inner
    return layer


def _limiter_for(limiter: RateLimiter, tenant: TenantConfig) -> RateLimiter:
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
    config: EngineConfig, tenant: TenantConfig, limiter: RateLimiter | None = None
) -> dict[str, ExchangeClient]:
    """One client per venue for ``tenant``, behind the tenant's rate budget; wrapped in
    :class:`DryRunClient` for dry runs (which then charges reads only: mutations never leave).

    ``limiter`` is the deployment's; pass the same one for every tenant so the per-IP Polymarket
    budget is shared fairly. Without one, the tenant gets a limiter of its own.
    """
    kcfg = kalshi_config(config, tenant)
    signer = PresignedSigner(kalshi_signer(tenant), signing_path(kcfg.rest_url))
    signer.refresh()
    kalshi = KalshiRestClient(kcfg, signer, max_retries=0)  # type: ignore[arg-type]
    poly = await PolymarketClient.connect(
        polymarket_credentials(tenant), config.endpoints.polymarket_rest
    )
    limiter = _limiter_for(limiter or RateLimiter(time.time_ns()), tenant)
    clients: dict[str, ExchangeClient] = {
        venue: RateLimitedClient(client, limiter, tenant.name)
        for venue, client in (("kalshi", kalshi), ("polymarket", poly))
    }
    if config.dry_run:
        return {venue: DryRunClient(client) for venue, client in clients.items()}
    return clients


@dataclass
class TenantRuntime:
    """Everything one tenant trades with inside the arbiter process."""

    name: str
    journal: Journal
    clients: dict[str, ExchangeClient]
    risk: RiskManager
    executor: SagaExecutor
    presigned: list[PresignedSigner] = field(default_factory=list)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.journal.close()


async def build_tenant(
    config: EngineConfig, tenant: TenantConfig, limiter: RateLimiter | None = None
) -> TenantRuntime:
    """The tenant's journal, clients, risk and executor; the tier caps the operator's limits."""
    user = tenant.user()
    path = config.journal_path(tenant.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(path, synchronous=config.journal_sync, tenant=user.tenant_id)
    clients = await build_clients(config, tenant, limiter)
    pairs = {p.name: p for p in config.pairs}
    risk = RiskManager(RiskBook(apply_tier(config.limits, user)), clients, pairs, journal)
    first = config.first_venue
    policy = SagaPolicy(first_venues=(first, *(v for v in ("kalshi", "polymarket") if v != first)))
    executor = SagaExecutor(
        journal, clients, pairs, risk=risk, policy=policy,
        config=ExecutorConfig(order_timeout_s=5.0, absent_grace_s=1.0), user=user,
    )
    presigned = []
    for client in clients.values():
        inner = unwrap(client)
        signer = getattr(inner, "signer", None)
        if isinstance(signer, PresignedSigner):
            presigned.append(signer)
    return TenantRuntime(tenant.name, journal, clients, risk, executor, presigned)


async def warm_up(runtime: TenantRuntime, config: EngineConfig) -> None:
    """Fetch what the first order would otherwise fetch (token metadata, balances)."""
    poly = runtime.clients.get("polymarket")
    inner = unwrap(poly) if poly is not None else None
    if isinstance(inner, PolymarketClient):
        for pair in config.pairs:
            await inner.token_meta(pair.polymarket_yes_token)
            await inner.token_meta(pair.polymarket_no_token)
    await runtime.risk.refresh_balances()
