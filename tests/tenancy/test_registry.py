"""UserContext, tiers and the live tenant registry the engine hooks."""

from __future__ import annotations

import pickle
import threading

import pytest

from arbiter.core.accounts import (
    DEFAULT_TIER_LIMITS,
    TenancyError,
    Tier,
    TierLimits,
    UserContext,
    validate_tenant_id,
)
from arbiter.core.units import MONEY_SCALE
from arbiter.tenancy.registry import TenantRegistry


def test_tiers_order_their_limits() -> None:
    free, pro, inst = (DEFAULT_TIER_LIMITS[t] for t in (Tier.FREE, Tier.PRO, Tier.INSTITUTIONAL))
    for field in (
        "max_markets",
        "orders_per_second",
        "order_burst",
        "max_exposure",
        "max_concurrent_sagas",
        "fair_share_weight",
    ):
        assert getattr(free, field) < getattr(pro, field) < getattr(inst, field), field
    assert free.max_exposure == 500 * MONEY_SCALE  # exact money units, no floats
    assert isinstance(free.max_exposure, int)


def test_user_context_is_a_small_picklable_value() -> None:
    ctx = UserContext.for_tier("alice", "pro")
    assert ctx.tier is Tier.PRO and ctx.limits == DEFAULT_TIER_LIMITS[Tier.PRO]
    assert pickle.loads(pickle.dumps(ctx)) == ctx  # crosses Ray actor boundaries
    assert ctx.metric_labels() == {"tenant": "alice", "tier": "pro"}
    assert ctx.journal_fields() == {"tenant_id": "alice", "tier": "pro"}
    assert ctx.with_tier(Tier.FREE).limits == DEFAULT_TIER_LIMITS[Tier.FREE]


@pytest.mark.parametrize(
    "bad", ["", "a", "Alice", "1abc", "a-b", "a b", "x" * 32, "robert'); DROP TABLE", "ä_b"]
)
def test_tenant_ids_are_boring(bad: str) -> None:
    with pytest.raises(TenancyError):
        validate_tenant_id(bad)


def test_bad_tiers_and_limits() -> None:
    with pytest.raises(TenancyError, match="unknown tier"):
        Tier.parse("platinum")
    assert Tier.parse(" PRO ") is Tier.PRO
    with pytest.raises(TenancyError):
        TierLimits(max_markets=0, orders_per_second=1, order_burst=1, max_exposure=0, max_concurrent_sagas=1)


def test_registry_hooks_follow_adds_and_removes() -> None:
    started: list[str] = []
    stopped: list[str] = []
    registry = TenantRegistry([UserContext.for_tier("alice", "pro")])
    registry.subscribe(lambda c: started.append(c.tenant_id), lambda c: stopped.append(c.tenant_id))
    assert started == ["alice"]  # replayed on subscribe
    registry.add(UserContext.for_tier("bob", "free"))
    assert started == ["alice", "bob"] and "bob" in registry and len(registry) == 2
    with pytest.raises(TenancyError):
        registry.add(UserContext.for_tier("bob", "free"))
    assert registry.remove("alice").tenant_id == "alice"
    assert stopped == ["alice"] and [c.tenant_id for c in registry.list()] == ["bob"]
    with pytest.raises(TenancyError):
        registry.remove("alice")
    with pytest.raises(TenancyError):
        registry.get("alice")


def test_failed_start_leaves_no_half_added_tenant() -> None:
    log: list[str] = []
    registry = TenantRegistry()
    registry.subscribe(lambda c: log.append(f"+{c.tenant_id}"), lambda c: log.append(f"-{c.tenant_id}"))

    def explode(ctx: UserContext) -> None:
        raise RuntimeError("no executor node available")

    registry.subscribe(explode)
    with pytest.raises(RuntimeError):
        registry.add(UserContext.for_tier("carol", "pro"))
    assert "carol" not in registry and log == ["+carol", "-carol"]


def test_registry_is_thread_safe() -> None:
    registry = TenantRegistry()
    seen: list[str] = []
    lock = threading.Lock()

    def on_add(ctx: UserContext) -> None:
        with lock:
            seen.append(ctx.tenant_id)

    registry.subscribe(on_add)

    def add_many(prefix: str) -> None:
        for i in range(50):
            registry.add(UserContext.for_tier(f"{prefix}{i}", "free"))

    threads = [threading.Thread(target=add_many, args=(p,)) for p in ("a", "b", "c", "d")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(registry) == 200 and sorted(seen) == sorted(c.tenant_id for c in registry.list())


def test_tier_caps_the_operators_risk_limits() -> None:
    from arbiter.core.accounts import apply_tier
    from arbiter.core.risk import RiskLimits

    free = UserContext.for_tier("alice", "free")
    capped = apply_tier(RiskLimits(max_open_sagas=8), free)
    assert capped.max_open_sagas == 1 and capped.max_gross_exposure == free.limits.max_exposure
    tighter = apply_tier(
        RiskLimits(max_open_sagas=1, max_gross_exposure=MONEY_SCALE), UserContext.for_tier("b1", "pro")
    )
    assert tighter.max_open_sagas == 1 and tighter.max_gross_exposure == MONEY_SCALE


def test_market_count_is_capped_by_tier() -> None:
    from arbiter.core.accounts import check_markets

    free = UserContext.for_tier("alice", "free")
    check_markets(free, [f"p{i}" for i in range(5)])
    with pytest.raises(TenancyError, match="may trade 5 markets, not 6"):
        check_markets(free, [f"p{i}" for i in range(6)])
