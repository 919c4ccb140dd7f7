"""``--dry-run`` refuses what the venue would refuse, with the same typed error (issue 23).

Each case sends the same order twice against a local venue: through the dry-run wrapper (nothing
leaves; the venue client's ``check_order`` reads the market) and for real. The refusals must be
the same class with the same code, and the dry run must have sent nothing.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from arbiter.core.book import Outcome
from arbiter.core.lifecycle import MarketPhase
from arbiter.core.price_grid import STRUCTURES
from arbiter.core.units import SIZE_SCALE, Price, Size, parse_price, parse_size
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.base import (
    Action,
    DryRunClient,
    OrderRequest,
    RejectedError,
    VenueError,
)
from arbiter.venues.kalshi.order_check import check_order as kalshi_check
from arbiter.venues.kalshi.wire import KalshiMarket
from arbiter.venues.polymarket.client import PolymarketClient
from tests.sim.polymarket.conftest import KEY_A, SimHandle, bare_sim  # noqa: F401 (fixture)
from tests.sim.polymarket.test_client_against_sim import _creds
from tests.venues.kalshi.support import TRADER, client_for
from tests.venues.kalshi.test_commands import demo_env, run, venue_args  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

TICKER = "KXSTATIC-A"  # the static scenario's market: linear_cent grid, whole contracts


def kalshi_req(cid: str, price: str, size: str, outcome: str = "yes") -> OrderRequest:
    return OrderRequest(TICKER, Outcome(outcome), Action.BUY, parse_price(price), parse_size(size),
                        cid)


def _same(dry: BaseException, real: BaseException) -> None:
    assert type(dry) is type(real)
    assert isinstance(dry, VenueError) and isinstance(real, VenueError)
    assert (dry.code, dry.status) == (real.code, real.status)


@pytest.mark.parametrize(("price", "size", "outcome", "code"), [
    ("0.305", "10", "yes", "invalid_price"),   # off the cent grid
    ("0.695", "10", "no", "invalid_price"),    # NO price: YES 0.305, off the grid too
    ("0.30", "1.5", "yes", "invalid_count"),   # fractional on a whole-contract market
])
async def test_kalshi_dry_run_refuses_as_the_venue_does(
        sim: KalshiSim, price: str, size: str, outcome: str, code: str) -> None:
    said: list[str] = []
    async with client_for(sim) as real:
        dry = DryRunClient(real, emit=said.append)
        with pytest.raises(RejectedError) as dry_err:
            await dry.place_order(kalshi_req("dry-bad", price, size, outcome))
        assert dry_err.value.code == code and dry.sent == []
        assert sim.exchange.accounts[TRADER].order_ids == []
        assert any("the venue would refuse" in line for line in said)
        with pytest.raises(RejectedError) as real_err:
            await real.place_order(kalshi_req("real-bad", price, size, outcome))
        _same(dry_err.value, real_err.value)


async def test_kalshi_dry_run_accepts_what_the_venue_accepts(sim: KalshiSim) -> None:
    async with client_for(sim) as real:
        dry = DryRunClient(real)
        ack = await dry.place_order(kalshi_req("dry-ok", "0.30", "10"))
        assert ack.simulated and len(dry.sent) == 1
        live = await real.place_order(kalshi_req("real-ok", "0.30", "10"))
        assert not live.simulated


def _market(**changes: object) -> KalshiMarket:
    base = KalshiMarket(ticker="KXT-1", event_ticker="KXT", title="t", status="active", tick=10,
                        yes_bid=None, yes_ask=None, fractional=False,
                        grid=STRUCTURES["tapered_deci_cent"], phase=MarketPhase.ACTIVE)
    return replace(base, **changes)  # type: ignore[arg-type]


def _order(price: str, size: str, outcome: Outcome = Outcome.YES) -> OrderRequest:
    return OrderRequest("KXT-1", outcome, Action.BUY, parse_price(price), parse_size(size), "c")


def test_kalshi_rules_follow_the_markets_grid_and_fractional_flag() -> None:
    """tapered_deci_cent: $0.001 steps below $0.10 and above $0.90, $0.01 between; fractional
    markets take 0.01 contracts (docs /getting_started/fixed_point_migration)."""
    kalshi_check(_market(), _order("0.055", "1"))          # tail: the decicent step
    kalshi_check(_market(), _order("0.945", "3", Outcome.NO))  # NO 0.945 = YES 0.055
    with pytest.raises(RejectedError, match="not on the market's price grid"):
        kalshi_check(_market(), _order("0.505", "1"))      # middle: cents only
    with pytest.raises(RejectedError, match="fractional counts are not enabled"):
        kalshi_check(_market(), _order("0.50", "2.5"))
    kalshi_check(_market(fractional=True), _order("0.50", "2.5"))
    kalshi_check(_market(fractional=True), _order("0.50", "0.01"))
    with pytest.raises(RejectedError, match="at most 2 decimals"):
        kalshi_check(_market(fractional=True), _order("0.50", "0.005"))
    with pytest.raises(RejectedError, match="not open for trading"):
        kalshi_check(_market(phase=MarketPhase.CLOSED, status="closed"), _order("0.50", "1"))
    with pytest.raises(RejectedError, match="price grid"):  # a market without a grid: refused
        kalshi_check(_market(grid=None), _order("0.50", "1"))


def pm_req(token: str, price: str, size: str, cid: str) -> OrderRequest:
    return OrderRequest(token, Outcome.YES, Action.BUY, Price(parse_price(price)),
                        Size(parse_size(size)), cid)


async def test_polymarket_dry_run_refuses_as_the_venue_does(bare_sim: SimHandle) -> None:  # noqa: F811
    m = bare_sim.market
    client = await PolymarketClient.connect(_creds(KEY_A), bare_sim.url)
    try:
        dry = DryRunClient(client)
        # below min_order_size (5): the venue's INVALID_ORDER_MIN_SIZE, both ways
        with pytest.raises(RejectedError) as dry_err:
            await dry.place_order(pm_req(m.yes_token, "0.5", "2", "dry-small"))
        with pytest.raises(RejectedError) as real_err:
            await client.place_order(pm_req(m.yes_token, "0.5", "2", "real-small"))
        assert dry_err.value.code == "INVALID_ORDER_MIN_SIZE"
        _same(dry_err.value, real_err.value)
        # off the 0.01 tick: the venue's INVALID_ORDER_MIN_TICK_SIZE sentence
        with pytest.raises(RejectedError) as dry_err:
            await dry.place_order(pm_req(m.yes_token, "0.505", "10", "dry-tick"))
        assert dry_err.value.code == "INVALID_ORDER_MIN_TICK_SIZE"
        assert "breaks minimum tick size rule: 0.01" in dry_err.value.message
        with pytest.raises(RejectedError, match="INVALID_ORDER_MIN_TICK_SIZE"):
            await dry.place_order(pm_req(m.yes_token, "0.995", "10", "dry-edge"))  # > 1 - tick
        assert dry.sent == [] and bare_sim.exchange.orders == {}
        ok = await dry.place_order(pm_req(m.yes_token, "0.5", "10", "dry-ok"))
        assert ok.simulated and bare_sim.exchange.orders == {}
    finally:
        await client.close()


async def test_a_client_that_cannot_check_is_refused() -> None:
    """Unknown is never "accepted": a wrapped client without ``check_order`` gets no dry-run ack."""

    class Bare:
        venue = "kalshi"

    dry = DryRunClient(Bare())  # type: ignore[arg-type]
    with pytest.raises(RejectedError, match="DRY_RUN_UNCHECKED"):
        await dry.place_order(_order("0.50", "1"))
    assert dry.sent == [] and SIZE_SCALE == 1_000_000


async def test_order_place_dry_run_on_the_command_line_is_refused_like_live(
        sim: KalshiSim, demo_env: None, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """``arbiter order place --dry-run`` with an off-grid price: exit 1 and the venue's code, as
    the same command without ``--dry-run`` answers; nothing reaches the venue."""
    args = ["order", "place", *venue_args(sim), "--market", TICKER, "--outcome", "yes",
            "--side", "buy", "--price", "0.355", "--size", "4"]
    assert await run([*args, "--dry-run"]) == 1
    dry = capsys.readouterr().err.strip().splitlines()[-1]
    assert sim.exchange.accounts[TRADER].order_ids == []
    assert await run(args) == 1
    live = capsys.readouterr().err.strip().splitlines()[-1]
    assert dry.startswith("arbiter: kalshi: invalid_price: ") and live.startswith(
        "arbiter: kalshi: invalid_price: ")
