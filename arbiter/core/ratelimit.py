"""Token buckets per tenant, per venue key and per deployment, with typed rejections.

Three budgets stand between an executor and a venue request:

* **tenant** — the tier's order rate (``orders_per_second``/``order_burst``): what the tenant paid for.
* **venue key** — the venue's published limit for one account/API key (Kalshi: per-account
  read and write buckets, venues.md §1.10). Two tenants on the same key share it.
* **deployment** — limits that bind the whole deployment, not one key: Polymarket's Cloudflare
  windows are *per IP* (venues.md §2.9), so every tenant behind our egress IP draws on one
  budget. That budget is partitioned between tenants by tier weight, so a flooding tenant
  empties its own slice and can never get the shared IP throttled for the others. Static
  partitions also mean each tenant's executor can hold its own slice with no cross-actor call.

A request is admitted only if *every* bucket it touches can pay (all-or-nothing: a rejected
request consumes nothing). A rejection names the binding scope and when to retry.

Sliding windows ("N requests per W") are enforced with a bucket of capacity N/2 refilling N/2 per
W: in any interval of length W it admits at most capacity + refill = N, so the venue's window
can never be exceeded whatever the arrival pattern. All arithmetic is integer; time is an
injected ``now_ns``. A lock makes one limiter safe to share between threads (no I/O here).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "KALSHI_TIERS",
    "POLYMARKET_IP_WINDOWS",
    "SECOND_NS",
    "Action",
    "BucketSpec",
    "RateLimitExceeded",
    "RateLimiter",
    "Rejection",
    "TokenBucket",
    "window_bucket",
]

SECOND_NS = 1_000_000_000


class Action(StrEnum):
    PLACE = "place"
    CANCEL = "cancel"
    READ = "read"
    BOOK = "book"
    AUTH = "auth"


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """``capacity`` tokens, refilled at ``refill_tokens`` per ``refill_period_ns`` (exact rational)."""

    capacity: int
    refill_tokens: int
    refill_period_ns: int

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.refill_tokens <= 0 or self.refill_period_ns <= 0:
            raise ValueError(f"bucket spec must be positive: {self}")

    def share(self, weight: int, total_weight: int) -> BucketSpec:
        """This budget scaled by weight/total (capacity floored, at least one token)."""
        return _reduced(
            max(1, self.capacity * weight // total_weight),
            self.refill_tokens * weight,
            self.refill_period_ns * total_weight,
        )

    def scaled(self, pct: int) -> BucketSpec:
        """A safety margin: ``pct`` percent of the published budget."""
        capacity = max(1, self.capacity * pct // 100)
        return _reduced(capacity, self.refill_tokens * pct, self.refill_period_ns * 100)


def _reduced(capacity: int, tokens: int, period_ns: int) -> BucketSpec:
    """Equal rates compare equal: the refill fraction is kept in lowest terms."""
    g = math.gcd(tokens, period_ns)
    return BucketSpec(capacity, tokens // g, period_ns // g)


def window_bucket(limit: int, window_ns: int) -> BucketSpec:
    """A bucket that never admits more than ``limit`` requests in any window of ``window_ns``."""
    half = limit // 2
    return _reduced(half, half, window_ns)


class TokenBucket:
    """The level is kept in token x period units so refill needs no division and never rounds."""

    __slots__ = ("_last_ns", "_level", "spec")

    def __init__(self, spec: BucketSpec, now_ns: int, tokens: int | None = None) -> None:
        self.spec = spec
        start = spec.capacity if tokens is None else min(tokens, spec.capacity)
        self._level = start * spec.refill_period_ns
        self._last_ns = now_ns

    def _advance(self, now_ns: int) -> None:
        if now_ns > self._last_ns:
            full = self.spec.capacity * self.spec.refill_period_ns
            self._level = min(full, self._level + (now_ns - self._last_ns) * self.spec.refill_tokens)
            self._last_ns = now_ns

    def tokens(self, now_ns: int) -> int:
        self._advance(now_ns)
        return self._level // self.spec.refill_period_ns

    def wait_ns(self, now_ns: int, cost: int) -> int:
        """Nanoseconds until ``cost`` tokens are available (0: now)."""
        self._advance(now_ns)
        missing = cost * self.spec.refill_period_ns - self._level
        if missing <= 0:
            return 0
        return -(-missing // self.spec.refill_tokens)

    def take(self, now_ns: int, cost: int) -> None:
        self._advance(now_ns)
        self._level -= cost * self.spec.refill_period_ns

    def drain(self, now_ns: int) -> None:
        self._advance(now_ns)
        self._level = min(self._level, 0)

    def resized(self, spec: BucketSpec, now_ns: int) -> TokenBucket:
        return TokenBucket(spec, now_ns, self.tokens(now_ns))


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request may not go now: which budget (``scope``/``key``) and when to try again."""

    scope: str
    key: str
    retry_after_ns: int

    @property
    def retry_after_s(self) -> float:
        """For display and HTTP ``Retry-After`` only; decisions use ``retry_after_ns``."""
        return self.retry_after_ns / SECOND_NS


class RateLimitExceeded(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(
            f"rate limited by {rejection.scope} budget {rejection.key}; "
            f"retry after {rejection.retry_after_s:.3f}s"
        )
        self.rejection = rejection

    @property
    def retry_after_ns(self) -> int:
        return self.rejection.retry_after_ns


#: Kalshi per-account budgets (tokens per second: read, write) by API tier; most calls cost 10.
KALSHI_TIERS: Mapping[str, tuple[int, int]] = {
    "basic": (200, 100),
    "advanced": (300, 300),
    "premier": (1000, 1000),
    "paragon": (2000, 2000),
    "prime": (4000, 4000),
}
_KALSHI_COST: Mapping[Action, tuple[str, int]] = {
    Action.PLACE: ("write", 10),
    Action.CANCEL: ("write", 2),
    Action.READ: ("read", 10),
    Action.BOOK: ("read", 10),
    Action.AUTH: ("read", 10),
}

_TEN_S = 10 * SECOND_NS
#: Polymarket CLOB per-IP windows (limit, window) by endpoint class; every call also counts as general.
POLYMARKET_IP_WINDOWS: Mapping[str, tuple[tuple[int, int], ...]] = {
    "general": ((9000, _TEN_S),),
    "book": ((1500, _TEN_S),),
    "data": ((500, _TEN_S),),
    "auth": ((100, _TEN_S),),
    "order_post": ((3500, _TEN_S), (36_000, 600 * SECOND_NS)),
    "order_delete": ((3000, _TEN_S), (30_000, 600 * SECOND_NS)),
}
_POLYMARKET_CLASS: Mapping[Action, str | None] = {
    Action.PLACE: "order_post",
    Action.CANCEL: "order_delete",
    Action.READ: "data",
    Action.BOOK: "book",
    Action.AUTH: "auth",
}

BucketKey = tuple[str, ...]


@dataclass(slots=True)
class _Tenant:
    weight: int
    orders: TokenBucket
    venue_keys: dict[str, str]


class RateLimiter:
    """All budgets of one deployment. ``margin_pct`` keeps us below the published limits."""

    def __init__(
        self,
        now_ns: int,
        *,
        kalshi_tier: str = "basic",
        margin_pct: int = 90,
        polymarket_windows: Mapping[str, tuple[tuple[int, int], ...]] = POLYMARKET_IP_WINDOWS,
        polymarket_signer: BucketSpec | None = None,
    ) -> None:
        if not 0 < margin_pct <= 100:
            raise ValueError("margin_pct must be in (0, 100]")
        if kalshi_tier not in KALSHI_TIERS:
            raise ValueError(f"unknown Kalshi tier {kalshi_tier!r}")
        self._lock = threading.Lock()
        self._margin = margin_pct
        read, write = KALSHI_TIERS[kalshi_tier]
        # Write holds two seconds of budget (venues.md §1.10); read is assumed to hold one.
        self._kalshi_specs = {
            "read": BucketSpec(read, read, SECOND_NS).scaled(margin_pct),
            "write": BucketSpec(2 * write, write, SECOND_NS).scaled(margin_pct),
        }
        self._deployment_specs: dict[str, list[BucketSpec]] = {
            cls: [window_bucket(limit, window).scaled(margin_pct) for limit, window in windows]
            for cls, windows in polymarket_windows.items()
        }
        self._signer_spec = polymarket_signer.scaled(margin_pct) if polymarket_signer else None
        self._tenants: dict[str, _Tenant] = {}
        self._venue_buckets: dict[BucketKey, TokenBucket] = {}
        self._deployment: dict[BucketKey, TokenBucket] = {}
        self._blocked_until: dict[BucketKey, int] = {}
        self._strikes: dict[BucketKey, int] = {}

    # --- tenants ------------------------------------------------------------------------------

    def add_tenant(
        self, tenant_id: str, *, orders_per_second: int, order_burst: int, weight: int = 1, now_ns: int
    ) -> None:
        with self._lock:
            if tenant_id in self._tenants:
                raise ValueError(f"tenant {tenant_id!r} already has budgets")
            spec = BucketSpec(max(order_burst, 1), orders_per_second, SECOND_NS)
            self._tenants[tenant_id] = _Tenant(weight, TokenBucket(spec, now_ns), {})
            self._repartition(now_ns)

    def remove_tenant(self, tenant_id: str, now_ns: int) -> None:
        with self._lock:
            if self._tenants.pop(tenant_id, None) is None:
                raise ValueError(f"unknown tenant {tenant_id!r}")
            for key in [k for k in self._deployment if k[-1] == tenant_id]:
                del self._deployment[key]
            self._repartition(now_ns)

    def set_venue_key(self, tenant_id: str, venue: str, key_id: str) -> None:
        """Which venue account (Kalshi key id, Polymarket signer address) the tenant trades with."""
        with self._lock:
            self._tenant(tenant_id).venue_keys[venue] = key_id

    def _tenant(self, tenant_id: str) -> _Tenant:
        try:
            return self._tenants[tenant_id]
        except KeyError:
            raise ValueError(f"unknown tenant {tenant_id!r}") from None

    def _repartition(self, now_ns: int) -> None:
        total = sum(t.weight for t in self._tenants.values())
        for tenant_id, t in self._tenants.items():
            for cls, specs in self._deployment_specs.items():
                for i, spec in enumerate(specs):
                    key = ("deployment", "polymarket", cls, str(i), tenant_id)
                    share = spec.share(t.weight, total)
                    old = self._deployment.get(key)
                    fresh = TokenBucket(share, now_ns) if old is None else old.resized(share, now_ns)
                    self._deployment[key] = fresh

    def share(self, tenant_id: str, endpoint_class: str, now_ns: int) -> BucketSpec:
        """The tenant's slice of a deployment-wide budget (first window of the class)."""
        with self._lock:
            return self._deployment[("deployment", "polymarket", endpoint_class, "0", tenant_id)].spec

    # --- admission ----------------------------------------------------------------------------

    def _charges(
        self, tenant_id: str, venue: str, action: Action, now_ns: int
    ) -> list[tuple[BucketKey, int]]:
        t = self._tenant(tenant_id)
        out: list[tuple[BucketKey, int]] = []
        if action is Action.PLACE:
            out.append((("tenant", tenant_id, "orders"), 1))
        if venue == "kalshi":
            key_id = t.venue_keys.get("kalshi", f"tenant:{tenant_id}")
            budget, cost = _KALSHI_COST[action]
            key = ("venue_key", "kalshi", key_id, budget)
            if key not in self._venue_buckets:
                self._venue_buckets[key] = TokenBucket(self._kalshi_specs[budget], now_ns)
            out.append((key, cost))
        elif venue == "polymarket":
            classes = ["general"]
            cls = _POLYMARKET_CLASS[action]
            if cls is not None:
                classes.append(cls)
            for c in classes:
                for i in range(len(self._deployment_specs.get(c, []))):
                    out.append((("deployment", "polymarket", c, str(i), tenant_id), 1))
            if self._signer_spec is not None and action in (Action.PLACE, Action.CANCEL):
                signer = t.venue_keys.get("polymarket", f"tenant:{tenant_id}")
                key = ("venue_key", "polymarket", signer, "orders")
                if key not in self._venue_buckets:
                    self._venue_buckets[key] = TokenBucket(self._signer_spec, now_ns)
                out.append((key, 1))
        else:
            raise ValueError(f"unknown venue {venue!r}")
        return out

    def _bucket(self, key: BucketKey) -> TokenBucket:
        if key[0] == "tenant":
            return self._tenants[key[1]].orders
        if key[0] == "deployment":
            return self._deployment[key]
        return self._venue_buckets[key]

    def check(self, now_ns: int, tenant_id: str, venue: str, action: Action | str) -> Rejection | None:
        """Admit (and charge) one request, or say why not; a rejection charges nothing."""
        act = Action(action)
        with self._lock:
            charges = self._charges(tenant_id, venue, act, now_ns)
            worst: Rejection | None = None
            for key, cost in charges:
                bucket = self._bucket(key)
                if cost > bucket.spec.capacity:
                    raise ValueError(f"cost {cost} exceeds capacity of {_describe(key)}")
                wait = max(bucket.wait_ns(now_ns, cost), self._blocked_until.get(key[:4], now_ns) - now_ns)
                if wait > 0 and (worst is None or wait > worst.retry_after_ns):
                    worst = Rejection(key[0], _describe(key), wait)
            if worst is not None:
                return worst
            for key, cost in charges:
                self._bucket(key).take(now_ns, cost)
                self._strikes.pop(key[:4], None)
            return None

    def acquire(self, now_ns: int, tenant_id: str, venue: str, action: Action | str) -> None:
        rejection = self.check(now_ns, tenant_id, venue, action)
        if rejection is not None:
            raise RateLimitExceeded(rejection)

    def throttled(
        self, now_ns: int, tenant_id: str, venue: str, action: Action | str,
        base_ns: int = SECOND_NS // 2, max_ns: int = 30 * SECOND_NS,
    ) -> int:
        """The venue answered 429 anyway: drain and block its budgets with exponential backoff.

        Kalshi sends no Retry-After (venues.md §1.10), so the delay doubles per consecutive 429
        on the same budget and resets on the next admitted request. Returns the delay chosen.
        """
        act = Action(action)
        with self._lock:
            delay = base_ns
            for key, _ in self._charges(tenant_id, venue, act, now_ns):
                if key[0] == "tenant":
                    continue
                block_key = key[:4]
                strikes = self._strikes.get(block_key, 0)
                delay = max(delay, min(max_ns, base_ns << strikes))
                self._strikes[block_key] = strikes + 1
                self._bucket(key).drain(now_ns)
            for key, _ in self._charges(tenant_id, venue, act, now_ns):
                if key[0] != "tenant":
                    self._blocked_until[key[:4]] = max(self._blocked_until.get(key[:4], 0), now_ns + delay)
            return delay

    def tenants(self) -> Iterable[str]:
        with self._lock:
            return list(self._tenants)


def _describe(key: BucketKey) -> str:
    if key[0] == "deployment":
        return f"{key[1]}:{key[2]}[{key[3]}] share of {key[4]}"
    return ":".join(key[1:])
