"""Rate settings in the engine config: the Kalshi API tier and a tenant's negotiated order rate."""

from __future__ import annotations

import pytest

from arbiter.app.config import ConfigError, load_config
from arbiter.core.ratelimit import Action
from arbiter.sim.launcher import LocalVenues

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


def _rewrite(v: LocalVenues, kalshi: str = "", tenant: str = "") -> None:
    text = v.config_path.read_text()
    text = text.replace("[polymarket]\n", kalshi + "\n[polymarket]\n", 1)
    v.config_path.write_text(text + tenant)


async def test_defaults_are_the_tier_and_a_basic_kalshi_key(venues: LocalVenues) -> None:
    config = load_config(venues.config_path)
    user = config.tenants[0].user()
    assert config.kalshi_api_tier == "basic"
    assert (user.limits.orders_per_second, user.limits.order_burst) == (10, 20)  # institutional


async def test_negotiated_rate_and_api_tier_reach_the_limiter(venues: LocalVenues) -> None:
    _rewrite(venues, 'api_tier = "premier"\n', "orders_per_second = 150\norder_burst = 3\n")
    config = load_config(venues.config_path)
    tenant = config.tenants[0]
    assert config.kalshi_api_tier == "premier"
    assert tenant.order_rate == (150, 3)
    user = tenant.user()
    assert (user.limits.orders_per_second, user.limits.order_burst) == (150, 3)
    assert user.tier.value == "institutional"  # the rest of the tier is unchanged
    limiter = config.rate_limiter()
    limiter.add_tenant(user.tenant_id, orders_per_second=150, order_burst=3, now_ns=0)
    refusals = [limiter.check(0, user.tenant_id, "polymarket", Action.PLACE) for _ in range(4)]
    assert [r is None for r in refusals] == [True, True, True, False]  # the burst, then refused


@pytest.mark.parametrize(("kalshi", "tenant", "message"), [
    ('api_tier = "gold"\n', "", "api_tier must be one of"),
    ("", "order_burst = 5\n", "orders_per_second"),
    ("", 'orders_per_second = "lots"\n', "whole numbers"),
    ("", "orders_per_second = 0\n", "at least 1"),
])
async def test_bad_rate_settings_are_usage_errors(
    venues: LocalVenues, kalshi: str, tenant: str, message: str
) -> None:
    _rewrite(venues, kalshi, tenant)
    with pytest.raises(ConfigError, match=message):
        load_config(venues.config_path)
