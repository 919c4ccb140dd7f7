"""A market's Kalshi fee schedule from the venue: series, event overrides, pairs-file fields."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from arbiter.core.fees import KalshiFeeError, KalshiFeeModel, KalshiFeeType, NoFees
from arbiter.core.pairs import parse_pairs
from arbiter.sim.kalshi.server import KalshiSim
from arbiter.venues.kalshi.series import (
    MarketFees,
    fees_with_event_override,
    multiplier_from_wire,
    pair_fields,
    series_from_wire,
)
from tests.venues.kalshi.support import client_for

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_captured_series_answer_is_read_exactly() -> None:
    """A real ``GET /series/KXNFLGAME`` body (fixtures/README.md): maker fees, multiplier 1."""
    body = json.loads((FIXTURES / "kalshi_series_kxnflgame.json").read_text())
    series = series_from_wire(body)
    assert (series.ticker, series.fee_type, series.fee_multiplier) == (
        "KXNFLGAME", "quadratic_with_maker_fees", Fraction(1))
    fees = series.fees()
    assert fees.taker == KalshiFeeModel(Fraction(1))
    assert fees.maker == KalshiFeeModel(Fraction(1), Fraction(7, 400))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, Fraction(1)), (0.5, Fraction(1, 2)), (1.1, Fraction(11, 10)), ("0.25", Fraction(1, 4)),
     (0, Fraction(0))],
)
def test_multipliers_are_exact(value: object, expected: Fraction) -> None:
    assert multiplier_from_wire(value, "s") == expected


@pytest.mark.parametrize("value", [None, True, "x", -1, [1]])
def test_a_multiplier_that_is_not_a_number_is_refused(value: object) -> None:
    with pytest.raises(KalshiFeeError, match="s: fee_multiplier"):
        multiplier_from_wire(value, "s")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"series": {"ticker": "KXA", "fee_type": "tiered", "fee_multiplier": 1}},
         "series KXA: unknown Kalshi fee type 'tiered'"),
        ({"series": {"ticker": "KXA", "fee_multiplier": 1}}, "series KXA: the answer has no fee_type"),
        ({"series": {"ticker": "KXA", "fee_type": "quadratic"}}, "has no fee_multiplier"),
        ({"series": {"ticker": "KXA", "fee_type": "quadratic", "fee_multiplier": None}},
         "fee_multiplier None is not a number"),
        ({"error": "nope"}, "no series object"),
    ],
)
def test_unknown_or_missing_fee_fields_fail_closed(body: dict[str, object], message: str) -> None:
    with pytest.raises(KalshiFeeError, match=message):
        series_from_wire(body)


def test_flat_series_cannot_be_priced() -> None:
    series = series_from_wire({"series": {"ticker": "KXF", "fee_type": "flat", "fee_multiplier": 1}})
    with pytest.raises(KalshiFeeError, match="'flat'"):
        series.fees()


def test_event_overrides_each_fall_back_to_the_series() -> None:
    series = series_from_wire({"series": {"ticker": "KXA", "fee_type": "quadratic",
                                          "fee_multiplier": 1}})
    plain = fees_with_event_override("KXA-1-B", {"event": {"event_ticker": "KXA-1",
                                                           "fee_type_override": None}}, series)
    assert (plain.fees.fee_type, plain.fees.multiplier, plain.overridden) == (
        KalshiFeeType.QUADRATIC, 1, False)
    half = fees_with_event_override(
        "KXA-1-B", {"event": {"event_ticker": "KXA-1", "fee_multiplier_override": 0.5}}, series)
    assert (half.fees.fee_type, half.fees.multiplier, half.overridden) == (
        KalshiFeeType.QUADRATIC, Fraction(1, 2), True)
    assert half.fees.maker == NoFees()


def test_pair_fields_round_trip_through_the_pairs_file() -> None:
    fees = fees_with_event_override(
        "KXA-1-B", {"event": {"event_ticker": "KXA-1",
                              "fee_type_override": "quadratic_with_maker_fees",
                              "fee_multiplier_override": 0.75}},
        series_from_wire({"series": {"ticker": "KXA", "fee_type": "quadratic",
                                     "fee_multiplier": 1}}))
    fields = pair_fields(fees)
    assert fields == {"kalshi_fee_type": "quadratic_with_maker_fees",
                      "kalshi_fee_multiplier": "0.75"}
    text = ('[[pair]]\nname = "a"\nkalshi_ticker = "KXA-1-B"\npolymarket_yes_token = "1"\n'
            'polymarket_no_token = "2"\n'
            + "".join(f'{k} = "{v}"\n' for k, v in fields.items()))
    (pair,) = parse_pairs(text)
    assert pair.kalshi_fees == fees.fees
    with pytest.raises(KalshiFeeError, match="no exact decimal"):
        pair_fields(MarketFees("m", "e", "s", fees.fees.__class__(fees.fees.fee_type,
                                                                  Fraction(1, 3)), False))


@pytest.mark.integration
async def test_market_fees_from_the_local_kalshi(sim: KalshiSim) -> None:
    sim.exchange.add_series("KXSTATIC", "quadratic_with_maker_fees", "0.5")
    async with client_for(sim) as client:
        fees = await client.market_fees("KXSTATIC-A")
        assert (fees.series, fees.event, fees.overridden) == ("KXSTATIC", "KXSTATIC", False)
        assert fees.fees.taker.rate == Fraction(35, 1000)
        sim.exchange.event_fee_overrides["KXSTATIC"] = ("quadratic", Fraction(2))
        again = await client.market_fees("KXSTATIC-A")
        grids = await client.market_grids(["KXSTATIC-A"])
        assert again.overridden and pair_fields(again, grids["KXSTATIC-A"]) == {  # type: ignore[arg-type]
            "kalshi_fee_type": "quadratic", "kalshi_fee_multiplier": "2",
            "kalshi_price_level_structure": "linear_cent"}
        sim.exchange.add_series("KXSTATIC", "tiered", "1")
        sim.exchange.event_fee_overrides.clear()
        with pytest.raises(KalshiFeeError, match="unknown Kalshi fee type 'tiered'"):
            await client.market_fees("KXSTATIC-A")


@pytest.mark.integration
async def test_pairs_refresh_updates_for_every_pair(sim: KalshiSim) -> None:
    from arbiter.venues.kalshi.series import kalshi_pair_updates

    sim.exchange.add_series("KXSTATIC", "quadratic_with_maker_fees", "0.5")
    sim.exchange.add_series("KXFLATS", "flat", "1")
    sim.exchange.add_market("KXFLATS-26-A", "flat", structure="tapered_deci_cent")
    text = "".join(
        f'[[pair]]\nname = "{n}"\nkalshi_ticker = "{t}"\npolymarket_yes_token = "{i}1"\n'
        f'polymarket_no_token = "{i}2"\n'
        for i, (n, t) in enumerate([("a", "KXSTATIC-A"), ("f", "KXFLATS-26-A"),
                                    ("gone", "KXNOPE-1")], start=1))
    async with client_for(sim) as client:
        updates, failed = await kalshi_pair_updates(client, parse_pairs(text))
    assert updates == {"a": {"kalshi_fee_type": "quadratic_with_maker_fees",
                             "kalshi_fee_multiplier": "0.5",
                             "kalshi_price_level_structure": "linear_cent"}}
    assert "'flat'" in failed["f"] and "does not list" in failed["gone"]


@pytest.mark.integration
async def test_the_feed_refuses_a_market_whose_fees_differ_from_the_pairs_file(
    sim: KalshiSim,
) -> None:
    from arbiter.core.fees import KALSHI_DEFAULT_FEES, KalshiSeriesFees
    from arbiter.venues.kalshi.ws import KalshiFeed
    from tests.venues.kalshi.support import TRADER, make_key
    from tests.venues.kalshi.test_ws import config, eventually, running

    sim.exchange.add_series("KXSTATIC", "quadratic", "1")
    sim.exchange.event_fee_overrides["KXSTATIC"] = ("quadratic_with_maker_fees", Fraction(1))
    expected = {"KXSTATIC-A": KALSHI_DEFAULT_FEES}  # what a file without fee keys says
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A"], fees=expected)
    async with running(feed):
        await eventually(lambda: "KXSTATIC-A" in feed.refused)
        assert "the venue charges quadratic_with_maker_fees x 1" in feed.refused["KXSTATIC-A"]
        assert "KXSTATIC-A" not in feed.valid
    right = {"KXSTATIC-A": KalshiSeriesFees.of("quadratic_with_maker_fees", "1")}
    feed = KalshiFeed(config(sim), make_key(TRADER).signer(), ["KXSTATIC-A"], fees=right)
    async with running(feed):
        assert await feed.wait_synced(15) and feed.refused == {}
