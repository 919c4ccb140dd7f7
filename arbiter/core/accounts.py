"""Who a piece of work is for: tenant ids, tiers and their limits, the user context.

Several traders share one deployment. Every executor, saga, journal row and metric carries a
:class:`UserContext` so that limits, isolation and accounting are decided from one value instead
of ad-hoc tenant strings. The context is a small frozen, picklable value (it crosses Ray actor
boundaries); it holds no secrets. Pure values and rules; the live registry of tenants is
:class:`arbiter.tenancy.registry.TenantRegistry`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from arbiter.core.risk import RiskLimits
from arbiter.core.units import MONEY_SCALE, Money

__all__ = [
    "DEFAULT_TIER_LIMITS",
    "TenancyError",
    "Tier",
    "TierLimits",
    "UserContext",
    "apply_tier",
    "check_markets",
    "validate_tenant_id",
]

_TENANT_RE = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


class TenancyError(ValueError):
    """A bad tenant id, tier or registry operation (unknown tenant, duplicate add)."""


def validate_tenant_id(tenant_id: str) -> str:
    """Tenant ids become database role names and file names, so they are kept boring on purpose."""
    if not isinstance(tenant_id, str) or not _TENANT_RE.match(tenant_id):
        raise TenancyError(
            f"invalid tenant id {tenant_id!r}: 2-31 chars of lowercase letters, digits and '_', "
            "starting with a letter"
        )
    return tenant_id


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"
    INSTITUTIONAL = "institutional"

    @classmethod
    def parse(cls, text: str) -> Tier:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise TenancyError(
                f"unknown tier {text!r} (choose from {', '.join(t.value for t in cls)})"
            ) from None


@dataclass(frozen=True, slots=True)
class TierLimits:
    """What a tier may do. Exposure is Money (1e-10 dollars); rates are whole orders per second.

    ``fair_share_weight`` is the tenant's weight when a deployment-wide venue budget (one IP
    toward Polymarket's Cloudflare limits) is split between tenants.
    """

    max_markets: int
    orders_per_second: int
    order_burst: int
    max_exposure: int
    max_concurrent_sagas: int
    fair_share_weight: int = 1

    def __post_init__(self) -> None:
        positive = (
            "max_markets", "orders_per_second", "order_burst", "max_concurrent_sagas", "fair_share_weight"
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise TenancyError(f"tier limit {name} must be positive")
        if self.max_exposure < 0:
            raise TenancyError("tier limit max_exposure must not be negative")


DEFAULT_TIER_LIMITS: Mapping[Tier, TierLimits] = {
    Tier.FREE: TierLimits(
        max_markets=5, orders_per_second=1, order_burst=2, max_exposure=Money(500 * MONEY_SCALE),
        max_concurrent_sagas=1, fair_share_weight=1,
    ),
    Tier.PRO: TierLimits(
        max_markets=50, orders_per_second=5, order_burst=10, max_exposure=Money(25_000 * MONEY_SCALE),
        max_concurrent_sagas=4, fair_share_weight=4,
    ),
    Tier.INSTITUTIONAL: TierLimits(
        max_markets=500, orders_per_second=10, order_burst=20, max_exposure=Money(1_000_000 * MONEY_SCALE),
        max_concurrent_sagas=16, fair_share_weight=16,
    ),
}


@dataclass(frozen=True, slots=True)
class UserContext:
    """The tenant a piece of work belongs to, and what it may do."""

    tenant_id: str
    tier: Tier
    limits: TierLimits

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant_id)

    @classmethod
    def for_tier(
        cls, tenant_id: str, tier: Tier | str, limits: Mapping[Tier, TierLimits] = DEFAULT_TIER_LIMITS
    ) -> UserContext:
        t = tier if isinstance(tier, Tier) else Tier.parse(tier)
        return cls(validate_tenant_id(tenant_id), t, limits[t])

    def metric_labels(self) -> dict[str, str]:
        """Labels every metric for this tenant carries (bounded cardinality: tenants are few)."""
        return {"tenant": self.tenant_id, "tier": self.tier.value}

    def journal_fields(self) -> dict[str, str]:
        """Fields stamped on every journal row written on this tenant's behalf."""
        return {"tenant_id": self.tenant_id, "tier": self.tier.value}

    def with_tier(self, tier: Tier, limits: Mapping[Tier, TierLimits] = DEFAULT_TIER_LIMITS) -> UserContext:
        return replace(self, tier=tier, limits=limits[tier])


def apply_tier(limits: RiskLimits, ctx: UserContext) -> RiskLimits:
    """The tier caps the operator's risk limits: exposure and concurrent sagas never exceed it."""
    tier = ctx.limits
    gross = tier.max_exposure if limits.max_gross_exposure is None else min(
        limits.max_gross_exposure, tier.max_exposure
    )
    return replace(
        limits, max_gross_exposure=gross, max_open_sagas=min(limits.max_open_sagas, tier.max_concurrent_sagas)
    )


def check_markets(ctx: UserContext, pairs: Sequence[str]) -> None:
    """Refuse a pairs list larger than the tier allows (one pair trades two markets, counted once)."""
    if len(pairs) > ctx.limits.max_markets:
        raise TenancyError(
            f"tenant {ctx.tenant_id!r} ({ctx.tier.value}) may trade {ctx.limits.max_markets} markets, "
            f"not {len(pairs)}"
        )

