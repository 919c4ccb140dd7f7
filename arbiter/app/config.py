"""The engine config: one typed value, decoded once at the edge (:func:`load_config`).

Everything the engine talks to is chosen here and nowhere else (cosmicpython's ``bootstrap``):
which venue endpoints, which credentials, dry-run or real orders, which journal file, which
limits. The actors receive an :class:`EngineConfig` (plain, picklable data) and call the
``build_*`` functions below to assemble their objects, so an actor class never decides anything
about wiring.

The config carries *references* to key material, never the material (docs/adr/0075): actor
arguments are pickled into Ray's task specs, which live in the GCS and can be spilled or logged.
A tenant's keys are a :class:`~arbiter.security.credentials.FileKey` (an absolute path), a
:class:`~arbiter.security.credentials.TomlKey` (a value inline in this config file) or a
:class:`~arbiter.security.credentials.StoreKey` (the encrypted store), resolved by the signer builders
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
    # home = "/var/lib/arbiter"    # the --home of `arbiter credentials` (default $ARBITER_HOME)
    store = "~/.arbiter/credentials"   # envelope directory (default <home>/credentials)
    secrets = "aws:?prefix=arbiter/prod/"  # master key ring: Secrets Manager, file:/dir, env:
                                   # (default $ARBITER_SECRETS, else file:$ARBITER_HOME/secrets)

    [[tenant]]
    name = "main"                  # a tenant id (docs/tenancy.md)
    tier = "institutional"         # free | pro | institutional (the default): caps risk and rates
    credentials = "store"          # every key from [credentials], by reference (recommended)
    # pairs = ["a", "b"]           # the pairs this tenant trades (default: all; tier-capped)

    [[tenant]]                     # or key files, by path (one host, paper trading)
    name = "files"
    kalshi_key_id = "..."
    kalshi_private_key = "/etc/arbiter/keys/kalshi.pem"  # path, relative to this file or absolute
    polymarket_private_key = "/etc/arbiter/keys/poly.hex"  # path to a file holding the hex key
    # optional: polymarket_funder, polymarket_signature_type; polymarket_api_key/_secret/
    # _passphrase inline are still read (re-read by the process that signs) but a config holding
    # them must never be in a job's working dir: jobs/live.py refuses it (docs/adr/0167)
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arbiter.app.config_schema import CredentialsTable, TenantTable, decode_config
from arbiter.app.errors import ConfigError
from arbiter.core.accounts import TenancyError, Tier, UserContext, validate_tenant_id
from arbiter.core.detection import DEFAULT_MAX_BOOK_AGE_NS, DetectionConfig
from arbiter.core.pairs import Pair, parse_pairs
from arbiter.core.ratelimit import KALSHI_TIERS, RateLimiter
from arbiter.core.risk import RiskLimits
from arbiter.core.units import Money, Size, parse_money, parse_price, parse_size
from arbiter.execution.tickpath import GateConfig
from arbiter.security.backends import SecretsBackendError, backend_from_uri
from arbiter.security.credentials import (
    CredentialError,
    CredentialStore,
    FileKey,
    KeySource,
    StoreKey,
    TomlKey,
    polymarket_signature_type,
)
from arbiter.venues.polymarket.constants import POLYGON_CHAIN_ID, SIG_EOA

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported where tracing is on
    pass

__all__ = [
    "ConfigError",
    "Endpoints",
    "EngineConfig",
    "TenantConfig",
    "engine_tenant_config",
    "load_config",
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
    #: the pairs (by name) this tenant trades; None: every pair of the config. Either way at
    #: most its tier's ``max_markets`` (``check_markets``, at start and on a tier change)
    pairs: tuple[str, ...] | None = None

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
        # only reviewed pairs trade (ADR 0136): a person read both venues' rules texts
        return parse_pairs(self.pairs_toml, "pairs", require_review=True)

    def journal_path(self, tenant: str) -> Path:
        return Path(self.journal_dir) / f"{tenant}.sqlite"

    def with_overrides(self, **changes: Any) -> EngineConfig:
        return replace(self, **changes)


# -- config file --------------------------------------------------------------------------------


def _read(base: Path, value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config: {what} must be a non-empty string")
    path = Path(value) if Path(value).is_absolute() else base / value
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: {what}: cannot read {path}: {exc.strerror}") from None


def _key_file(base: Path, value: object, what: str) -> FileKey:
    """A reference to a key file, checked now (so a typo is a config error, not an actor crash)
    but read only by the process that signs with it."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"config: {what} must be a non-empty string")
    # absolute, not resolve(): a symlinked secret mount keeps pointing at the current key
    path = Path(os.path.abspath(Path(value) if Path(value).is_absolute() else base / value))
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"config: {what}: cannot read {path}: {exc.strerror}") from None
    return FileKey(str(path), what)


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


def _tenant_pairs(value: list[str] | None, known: list[str], file: str,
                  where: str) -> tuple[str, ...] | None:
    """``[[tenant]] pairs = ["a", "b"]``: a subset of the pairs file (a tier caps how many)."""
    if value is None:
        return None
    if not value:
        raise ConfigError(file, where, "pairs", "must name at least one pair (or be left out)")
    unknown = [p for p in value if p not in known]
    if unknown:
        raise ConfigError(file, where, "pairs", f"not in the pairs file: {', '.join(unknown)}")
    return tuple(dict.fromkeys(value))


def _credential_store(base: Path, section: CredentialsTable, file: Path) -> tuple[CredentialStore, str]:
    """The store ``[credentials]`` names (defaults as ``arbiter credentials``: $ARBITER_HOME,
    $ARBITER_SECRETS) and its backend URI, both absolute so another process opens the same."""
    home = Path(section.home or os.environ.get("ARBITER_HOME") or Path.home() / ".arbiter").expanduser()
    if not home.is_absolute():
        home = base / home
    root = Path(section.store).expanduser() if section.store else home / "credentials"
    if not root.is_absolute():
        root = base / root
    uri = section.secrets or os.environ.get("ARBITER_SECRETS") or f"file:{home / 'secrets'}"
    if uri.startswith("file:"):
        path = Path(uri.removeprefix("file:")).expanduser()
        uri = f"file:{os.path.abspath(path if path.is_absolute() else base / path)}"
    try:
        return CredentialStore.open(os.path.abspath(root), backend_from_uri(uri)), uri
    except (CredentialError, SecretsBackendError) as exc:
        raise ConfigError(str(file), "[credentials]", None, str(exc)) from None


def _store_tenant(store: tuple[CredentialStore, str], t: TenantTable, name: str, tier: str,
                  where: str, file: Path) -> TenantConfig:
    """A ``credentials = "store"`` tenant: references into the store, authenticated now."""
    chain = t.polymarket_chain_id
    try:
        return engine_tenant_config(store[0], name, tier=tier, backend_uri=store[1],
                                    chain_id=None if chain == POLYGON_CHAIN_ID else chain)
    except CredentialError as exc:
        raise ConfigError(str(file), where, "credentials", f"credential store: {exc}") from None


def load_config(path: str | Path, *, dry_run: bool | None = None, kalshi_demo: bool = False) -> EngineConfig:
    """Parse the engine config file; every mistake is one :class:`ConfigError` line, a value
    mistake a :class:`ConfigError` naming the file, table and key (config_schema, ADR 0164)."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {file} is not valid TOML: {exc}") from None
    doc = decode_config(data, str(file))
    base = file.parent
    config_file = os.path.abspath(file)
    engine = doc.engine
    pairs_toml = _read(base, engine.pairs, "[engine] pairs")
    try:
        parse_pairs(pairs_toml, str(engine.pairs), require_review=True)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    det = doc.detection
    risk = doc.risk

    def amount(table: str, key: str, value: object, parse: Callable[[str], int],
               minimum: int = 1) -> int:
        try:
            parsed = parse(str(value))
        except ValueError as exc:
            raise ConfigError(str(file), f"[{table}]", key, str(exc)) from None
        if parsed < minimum:
            bound = "above 0" if minimum == 1 else "at least 0"
            raise ConfigError(str(file), f"[{table}]", key, f"must be {bound}, got {value!r}")
        return parsed

    try:
        max_book_age_ns = _book_age_ns({} if det.max_book_age_ms is None
                                       else {"max_book_age_ms": det.max_book_age_ms})
    except ValueError as exc:
        raise ConfigError(f"config {file}: {exc}") from None
    detection = DetectionConfig(
        min_edge=amount("detection", "min_edge", det.min_edge, parse_price, 0)
        if det.min_edge is not None else 0,
        max_contracts=Size(amount("detection", "max_contracts", det.max_contracts, parse_size))
        if det.max_contracts is not None else None,
        budget=Money(amount("detection", "budget", det.budget, parse_money))
        if det.budget is not None else None,
        max_book_age_ns=max_book_age_ns,
    )
    limits = RiskLimits(
        max_open_sagas=risk.max_open_sagas,
        max_gross_exposure=amount("risk", "max_gross_exposure", risk.max_gross_exposure,
                                  parse_money) if risk.max_gross_exposure is not None else None,
        max_daily_loss=amount("risk", "max_daily_loss", risk.max_daily_loss, parse_money)
        if risk.max_daily_loss is not None else None,
        require_balance=risk.require_balance,
        max_hedge_failures=risk.max_hedge_failures,
    )
    gate = GateConfig(max_open_sagas=risk.max_open_sagas, cooldown_ns=engine.cooldown_ms * 1_000_000)
    kalshi = doc.kalshi
    poly = doc.polymarket
    for table, venue in (("kalshi", kalshi), ("polymarket", poly)):
        for key in ("rest_url", "ws_url"):
            if getattr(venue, key) is None:
                raise ConfigError(f"config {file}: missing venue setting '{key}' in [{table}]")
    assert kalshi.rest_url and kalshi.ws_url and poly.rest_url and poly.ws_url
    endpoints = Endpoints(kalshi.rest_url, kalshi.ws_url, poly.rest_url, poly.ws_url,
                          kalshi_demo=kalshi_demo or kalshi.demo)
    if not doc.tenant:
        raise ConfigError(f"config {file}: at least one [[tenant]] is required")
    tenants: list[TenantConfig] = []
    store: tuple[CredentialStore, str] | None = None
    pair_names = [p.name for p in parse_pairs(pairs_toml, "pairs")]
    for i, t in enumerate(doc.tenant):
        where = f"[[tenant]] #{i + 1}"
        name = t.name if t.name is not None else f"tenant{i + 1}"
        pairs = _tenant_pairs(t.pairs, pair_names, str(file), where)
        try:
            validate_tenant_id(name)
            tier = Tier.parse(t.tier).value
        except TenancyError as exc:
            raise ConfigError(f"config {file}: {where}: {exc}") from None
        order_rate = None
        if t.orders_per_second is not None or t.order_burst is not None:
            per_second = t.orders_per_second
            burst = t.order_burst if t.order_burst is not None else per_second
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (per_second, burst)):
                raise ConfigError(f"config {file}: {where}: orders_per_second (and optional "
                                 "order_burst) must be whole numbers")
            if per_second < 1 or burst < 1:
                raise ConfigError(f"config {file}: {where}: orders_per_second and order_burst "
                                 "must be at least 1")
            order_rate = (per_second, burst)
        if t.credentials == "store":
            inline = [k for k in ("kalshi_private_key", "polymarket_private_key", "polymarket_api_key",
                                  "polymarket_api_secret", "polymarket_api_passphrase")
                      if getattr(t, k) is not None]
            if inline:
                raise ConfigError(str(file), where, "credentials",
                                  f'"store" takes every key from the store; remove {", ".join(inline)}')
            if store is None:
                store = _credential_store(base, doc.credentials, file)
            tenants.append(replace(_store_tenant(store, t, name, tier, where, file),
                                   order_rate=order_rate, pairs=pairs))
            continue
        api = None
        if t.polymarket_api_key:
            keys = ("polymarket_api_key", "polymarket_api_secret", "polymarket_api_passphrase")
            for key in keys:
                value = getattr(t, key)
                if not isinstance(value, str) or not value:
                    raise ConfigError(f"config {file}: {where}: {key} must be a non-empty string")
            api = (TomlKey(config_file, i, name, keys[0]), TomlKey(config_file, i, name, keys[1]),
                   TomlKey(config_file, i, name, keys[2]))
        tenants.append(TenantConfig(
            name=name,
            tier=tier,
            order_rate=order_rate,
            kalshi_key_id=t.kalshi_key_id,
            kalshi_private_key=_key_file(base, t.kalshi_private_key, f"{where} kalshi_private_key"),
            polymarket_private_key=_key_file(
                base, t.polymarket_private_key, f"{where} polymarket_private_key"
            ),
            polymarket_funder=t.polymarket_funder,
            polymarket_signature_type=t.polymarket_signature_type,
            polymarket_api=api,
            polymarket_chain_id=t.polymarket_chain_id,
            pairs=pairs,
        ))
    if len({t.name for t in tenants}) != len(tenants):
        raise ConfigError(str(file), "[[tenant]]", "name", "two tenants have the same name")
    kalshi_tier = kalshi.api_tier
    if kalshi_tier not in KALSHI_TIERS:
        raise ConfigError(f"config {file}: [kalshi] api_tier must be one of {', '.join(KALSHI_TIERS)}")
    journal_dir = Path(engine.journal_dir).expanduser()
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
        namespace=engine.namespace,
        journal_sync=engine.journal_sync,
        dry_run=engine.dry_run if dry_run is None else dry_run,
        mode="dry-run" if (dry_run or engine.dry_run) else engine.mode,
        priority=engine.priority,
        realtime=engine.realtime,
        tick_cpus=_cpus(engine.tick_cpus),
        warm_us=_warm_us(engine.warm_us),
        first_venue=engine.first_venue,
        metrics_port=None if engine.metrics_port < 0 else engine.metrics_port,
        metrics_host=engine.metrics_host,
        kalshi_api_tier=kalshi_tier,
        reconcile_s=_reconcile_s(engine.reconcile_s),
    )


def _reconcile_s(value: object) -> float:
    """``[engine] reconcile_s``: seconds, at least 1; there is no "off" (ADR 0140)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ConfigError(f"config: [engine] reconcile_s must be a number of seconds >= 1, got {value!r}")
    return float(value)


def _warm_us(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or value >= 100):
        raise ConfigError(f"config: [engine] warm_us must be 0 (off) or at least 100, got {value!r}")
    return value


def _cpus(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value
    ):
        raise ConfigError(f"config: [engine] tick_cpus must be a list of CPU numbers, got {value!r}")
    return tuple(value)


def _book_age_ns(det: Mapping[str, Any]) -> int:
    """``[detection] max_book_age_ms``: positive milliseconds; absent means the default. There is
    no "off": a stale book is never traded (docs/polymarket.md "Feeds")."""
    if "max_book_age_ms" not in det:
        return DEFAULT_MAX_BOOK_AGE_NS
    value = det["max_book_age_ms"]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"[detection] max_book_age_ms must be a positive integer, got {value!r}")
    return value * 1_000_000
