"""The composition root: one place that turns a config into a running engine, live or paper.

Everything the engine talks to is chosen here and nowhere else (cosmicpython's ``bootstrap``):
which venue endpoints, which credentials, dry-run or real orders, which journal file, which
limits. The actors receive an :class:`EngineConfig` (plain, picklable data) and call the
``build_*`` functions below to assemble their objects, so an actor class never decides anything
about wiring.

The config carries *references* to key material, never the material (docs/adr/0075): actor
arguments are pickled into Ray's task specs, which live in the GCS and can be spilled or logged.
A tenant's keys are a :class:`~arbiter.ops.credentials.FileKey` (an absolute path), a
:class:`~arbiter.ops.credentials.TomlKey` (a value inline in this config file) or a
:class:`~arbiter.ops.credentials.StoreKey` (the encrypted store), resolved by the signer builders
below inside the process that signs; the referenced files must exist on the node running it.

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
    tick_cpus = []                 # pin the arbiter (tick path) process to these CPUs, e.g. [0]
    warm_us = 1000                 # rehearse the tick path this often to keep it cached (0: off)
    first_venue = "kalshi"         # leg 1 venue: kalshi (pre-signed create) or polymarket
    reconcile_s = 60               # journal vs venue (positions, orders, fills) per tenant, every N s

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

    [credentials]                  # the encrypted store `arbiter credentials put` fills
    store = "~/.arbiter/credentials"   # envelope directory (default $ARBITER_HOME/credentials)
    secrets = "aws:?prefix=arbiter/prod/"  # master key ring: Secrets Manager, file:/dir, env:
                                   # (default $ARBITER_SECRETS, else file:$ARBITER_HOME/secrets)

    [[tenant]]
    name = "main"                  # a tenant id (docs/tenancy.md)
    tier = "institutional"         # free | pro | institutional (the default): caps risk and rates
    credentials = "store"          # every key from [credentials], by reference (recommended)

    [[tenant]]                     # or key files, by path (one host, paper trading)
    name = "files"
    kalshi_key_id = "..."
    kalshi_private_key = "/etc/arbiter/keys/kalshi.pem"  # path, relative to this file or absolute
    polymarket_private_key = "/etc/arbiter/keys/poly.hex"  # path to a file holding the hex key
    # optional: polymarket_funder, polymarket_signature_type; polymarket_api_key/_secret/
    # _passphrase inline are still read (re-read by the process that signs) but a config holding
    # them must never be in a job's working dir: jobs/live.py refuses it (docs/adr/0166)
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbiter.core.detection import DEFAULT_MAX_BOOK_AGE_NS, DetectionConfig, Detector
from arbiter.core.pairs import Pair, parse_pairs, set_pair_fields
from arbiter.core.ratelimit import KALSHI_TIERS, RateLimiter
from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import SagaPolicy
from arbiter.core.units import Money, Size, parse_money, parse_price, parse_size
from arbiter.engine.executor import ExecutorConfig, SagaExecutor
from arbiter.engine.journal import Journal
from arbiter.engine.risk_manager import RiskManager
from arbiter.engine.tickpath import GateConfig
from arbiter.ops.credentials import (
    CredentialError,
    CredentialStore,
    FileKey,
    KeySource,
    TomlKey,
    engine_tenant_config,
    resolve_keys,
)
from arbiter.ops.errors import UsageError
from arbiter.ops.secrets import Secret
from arbiter.ops.secrets_backend import SecretsBackendError, backend_from_uri
from arbiter.ops.tenancy import TenancyError, Tier, UserContext, apply_tier, validate_tenant_id
from arbiter.venues.base import DryRunClient, ExchangeClient, unwrap
from arbiter.venues.kalshi.config import KalshiConfig, KalshiEnv
from arbiter.venues.kalshi.rest import KalshiRestClient
from arbiter.venues.kalshi.signing import Signer as KalshiSigner
from arbiter.venues.kalshi.signing import load_private_key
from arbiter.venues.polymarket.auth import ApiCreds, PolymarketCredentials
from arbiter.venues.polymarket.client import PolymarketClient
from arbiter.venues.polymarket.constants import POLYGON_CHAIN_ID, SIG_EOA
from arbiter.venues.polymarket.signing import Signer as PolySigner
from arbiter.venues.ratelimited import RateLimitedClient

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported where tracing is on
    from arbiter.ops.tracing import SagaTraces

__all__ = [
    "Endpoints",
    "EngineConfig",
    "TenantConfig",
    "TenantRuntime",
    "build_clients",
    "build_detector",
    "build_tenant",
    "load_config",
    "refresh_market_data",
    "refresh_pair",
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
    """One tenant's account settings. Key fields are references (:data:`KeySource`), resolved by
    :func:`kalshi_signer` / :func:`polymarket_credentials` where the signer is built; the rest
    (key id, funder, signature type, chain, tier) is public and stays plain."""

    name: str
    kalshi_key_id: str
    kalshi_private_key: KeySource
    polymarket_private_key: KeySource
    polymarket_funder: str | None = None
    polymarket_signature_type: int = SIG_EOA
    #: (api key, secret, passphrase) of the Polymarket L2 credentials
    polymarket_api: tuple[KeySource, KeySource, KeySource] | None = None
    polymarket_chain_id: int = POLYGON_CHAIN_ID
    tier: str = Tier.INSTITUTIONAL.value
    #: negotiated (orders per second, burst) replacing the tier's order rate; the venue key and
    #: IP budgets still apply on top of it
    order_rate: tuple[int, int] | None = None

    def user(self) -> UserContext:
        """The tenant's context (id, tier, the tier's limits) every executor and journal row gets."""
        user = UserContext.for_tier(self.name, self.tier)
        if self.order_rate is None:
            return user
        per_second, burst = self.order_rate
        return replace(user, limits=replace(user.limits, orders_per_second=per_second,
                                            order_burst=burst))


@dataclass(frozen=True)
class EngineConfig:
    pairs_toml: str
    endpoints: Endpoints
    tenants: tuple[TenantConfig, ...]
    journal_dir: str
    detection: DetectionConfig = field(
        default_factory=lambda: DetectionConfig(max_book_age_ns=DEFAULT_MAX_BOOK_AGE_NS))
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
    #: CPUs the arbiter process (the tick path) is pinned to; empty: wherever the kernel likes
    tick_cpus: tuple[int, ...] = ()
    #: rehearse the tick path on shadow objects every this many µs, so a frame after a quiet
    #: spell finds its code in the CPU caches (ADR 0067); 0 turns it off
    warm_us: int = 1000
    #: the venue that gets leg 1 (kalshi: its create is pre-signed, see ADR 0060)
    first_venue: str = "kalshi"
    #: Prometheus endpoint of the arbiter actor (0 = a free port, None = off; docs/observability.md)
    metrics_port: int | None = 0
    #: interface the endpoint binds; 0.0.0.0 when Prometheus scrapes from another host
    metrics_host: str = "127.0.0.1"
    #: the Kalshi account's API tier: its published read/write budgets bound every tenant's key
    kalshi_api_tier: str = "basic"
    #: seconds between two reconciliations of a tenant (journal vs venue; ADR 0140); a round
    #: also runs after every recovery, and every few seconds while the last one was not clean
    reconcile_s: float = 60.0

    def rate_limiter(self) -> RateLimiter:
        """The deployment's limiter (one per process that sends orders; tenants share it)."""
        return RateLimiter(time.time_ns(), kalshi_tier=self.kalshi_api_tier)

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


def _key_file(base: Path, value: object, what: str) -> FileKey:
    """A reference to a key file, checked now (so a typo is a config error, not an actor crash)
    but read only by the process that signs with it."""
    if not isinstance(value, str) or not value:
        raise UsageError(f"config: {what} must be a non-empty string")
    # absolute, not resolve(): a symlinked secret mount keeps pointing at the current key
    path = Path(os.path.abspath(Path(value) if Path(value).is_absolute() else base / value))
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise UsageError(f"config: {what}: cannot read {path}: {exc.strerror}") from None
    return FileKey(str(path), what)


def _credential_store(base: Path, section: Mapping[str, Any], file: Path) -> tuple[CredentialStore, str]:
    """The store ``[credentials]`` names (defaults as ``arbiter credentials``: $ARBITER_HOME,
    $ARBITER_SECRETS) and its backend URI, both absolute so another process opens the same."""
    home = Path(os.environ.get("ARBITER_HOME") or Path.home() / ".arbiter").expanduser()
    root = Path(str(section.get("store", home / "credentials"))).expanduser()
    if not root.is_absolute():
        root = base / root
    uri = str(section.get("secrets") or os.environ.get("ARBITER_SECRETS") or f"file:{home / 'secrets'}")
    if uri.startswith("file:"):
        path = Path(uri.removeprefix("file:")).expanduser()
        uri = f"file:{os.path.abspath(path if path.is_absolute() else base / path)}"
    try:
        return CredentialStore.open(os.path.abspath(root), backend_from_uri(uri)), uri
    except (CredentialError, SecretsBackendError) as exc:
        raise UsageError(f"config {file}: [credentials]: {exc}") from None


def _store_tenant(store: CredentialStore, uri: str, t: Mapping[str, Any], name: str, tier: str,
                  where: str, file: Path) -> TenantConfig:
    """A ``credentials = "store"`` tenant: references into the store, authenticated now."""
    chain = t.get("polymarket_chain_id")
    try:
        return engine_tenant_config(store, name, tier=tier, backend_uri=uri,
                                    chain_id=None if chain is None else int(chain))
    except CredentialError as exc:
        raise UsageError(f"config {file}: {where}: credential store: {exc}") from None


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
    config_file = os.path.abspath(file)
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
            max_book_age_ns=_book_age_ns(det),
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
    store: tuple[CredentialStore, str] | None = None
    for i, t in enumerate(tenants_raw):
        where = f"[[tenant]] #{i + 1}"
        if not isinstance(t, dict):
            raise UsageError(f"config {file}: {where} must be a table")
        name = str(t.get("name", f"tenant{i + 1}"))
        tier = str(t.get("tier", Tier.INSTITUTIONAL.value))
        try:
            validate_tenant_id(name)
            tier = Tier.parse(tier).value
        except TenancyError as exc:
            raise UsageError(f"config {file}: {where}: {exc}") from None
        order_rate = None
        if "orders_per_second" in t or "order_burst" in t:
            try:
                per_second = int(t["orders_per_second"])
                burst = int(t.get("order_burst", per_second))
            except (KeyError, TypeError, ValueError):
                raise UsageError(f"config {file}: {where}: orders_per_second (and optional "
                                 "order_burst) must be whole numbers") from None
            if per_second < 1 or burst < 1:
                raise UsageError(f"config {file}: {where}: orders_per_second and order_burst "
                                 "must be at least 1")
            order_rate = (per_second, burst)
        source = t.get("credentials", "files")
        if source == "store":
            inline = sorted(k for k in t if k.startswith(("kalshi_private", "polymarket_private",
                                                          "polymarket_api")))
            if inline:
                raise UsageError(f"config {file}: {where}: credentials = \"store\" takes every "
                                 f"key from the store; remove {', '.join(inline)}")
            if store is None:
                store = _credential_store(base, _section(data, "credentials"), file)
            tenant = _store_tenant(store[0], store[1], t, name, tier, where, file)
            tenants.append(replace(tenant, order_rate=order_rate))
            continue
        if source != "files":
            raise UsageError(f"config {file}: {where}: credentials must be \"store\" or \"files\"")
        api = None
        if t.get("polymarket_api_key"):
            keys = ("polymarket_api_key", "polymarket_api_secret", "polymarket_api_passphrase")
            for key in keys:
                if not isinstance(t.get(key), str) or not t[key]:
                    raise UsageError(f"config {file}: {where}: {key} must be a non-empty string")
            api = (TomlKey(config_file, i, name, keys[0]), TomlKey(config_file, i, name, keys[1]),
                   TomlKey(config_file, i, name, keys[2]))
        tenants.append(TenantConfig(
            name=name,
            tier=tier,
            order_rate=order_rate,
            kalshi_key_id=str(t.get("kalshi_key_id", "")),
            kalshi_private_key=_key_file(base, t.get("kalshi_private_key"), f"{where} kalshi_private_key"),
            polymarket_private_key=_key_file(
                base, t.get("polymarket_private_key"), f"{where} polymarket_private_key"
            ),
            polymarket_funder=t.get("polymarket_funder"),
            polymarket_signature_type=int(t.get("polymarket_signature_type", SIG_EOA)),
            polymarket_api=api,
            polymarket_chain_id=int(t.get("polymarket_chain_id", POLYGON_CHAIN_ID)),
        ))
    kalshi_tier = str(kalshi.get("api_tier", "basic"))
    if kalshi_tier not in KALSHI_TIERS:
        raise UsageError(f"config {file}: [kalshi] api_tier must be one of {', '.join(KALSHI_TIERS)}")
    first_venue = str(engine.get("first_venue", "kalshi"))
    if first_venue not in ("kalshi", "polymarket"):
        raise UsageError(f"config {file}: [engine] first_venue must be kalshi or polymarket")
    journal_dir = Path(str(engine.get("journal_dir", "var/journal"))).expanduser()
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
        tick_cpus=_cpus(engine.get("tick_cpus", [])),
        warm_us=_warm_us(engine.get("warm_us", 1000)),
        first_venue=first_venue,
        metrics_port=_metrics_port(engine.get("metrics_port", 0)),
        metrics_host=str(engine.get("metrics_host", "127.0.0.1")),
        kalshi_api_tier=kalshi_tier,
        reconcile_s=_reconcile_s(engine.get("reconcile_s", 60)),
    )


def _reconcile_s(value: object) -> float:
    """``[engine] reconcile_s``: seconds, at least 1; there is no "off" (ADR 0140)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise UsageError(f"config: [engine] reconcile_s must be a number of seconds >= 1, got {value!r}")
    return float(value)


def _warm_us(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or value >= 100):
        raise UsageError(f"config: [engine] warm_us must be 0 (off) or at least 100, got {value!r}")
    return value


def _cpus(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value
    ):
        raise UsageError(f"config: [engine] tick_cpus must be a list of CPU numbers, got {value!r}")
    return tuple(value)


def _metrics_port(value: object) -> int | None:
    """``[engine] metrics_port``: 0 = a free port, a negative number = no endpoint."""
    port = int(str(value))
    return None if port < 0 else port


def _book_age_ns(det: Mapping[str, Any]) -> int:
    """``[detection] max_book_age_ms``: positive milliseconds; absent means the default. There is
    no "off": a stale book is never traded (docs/polymarket.md "Feeds")."""
    if "max_book_age_ms" not in det:
        return DEFAULT_MAX_BOOK_AGE_NS
    value = det["max_book_age_ms"]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"[detection] max_book_age_ms must be a positive integer, got {value!r}")
    return value * 1_000_000


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
    wiped once parsed (a :class:`~arbiter.ops.credentials.CredentialError` if it cannot be read)."""
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
    poly = await PolymarketClient.connect(
        polymarket_credentials(tenant), config.endpoints.polymarket_rest,
        ws_url=config.endpoints.polymarket_ws,  # the user channel: outcomes of delayed orders
    )
    limiter = _limiter_for(limiter or config.rate_limiter(), tenant)
    clients: dict[str, ExchangeClient] = {
        venue: RateLimitedClient(client, limiter, tenant.name, on_refused=on_rate_limited)
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
    #: the tenant's live saga traces when tracing is on (ADR 0144)
    traces: SagaTraces | None = None

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.journal.close()


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
    clients = await build_clients(config, tenant, limiter, on_rate_limited)
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
