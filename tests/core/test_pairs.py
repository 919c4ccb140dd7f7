from __future__ import annotations

from fractions import Fraction

import pytest

from arbiter.core.book import Outcome
from arbiter.core.fees import KalshiFeeModel, KalshiFeeType, NoFees, PolymarketFeeModel
from arbiter.core.pairs import PairsError, parse_pairs
from arbiter.core.units import SIZE_SCALE

GOOD = """
[[pair]]
name = "fed-dec-cut"
kalshi_ticker = "KXFED-25DEC-T4.00"
polymarket_yes_token = "7123"
polymarket_no_token  = "8456"
polymarket_tick_size = "0.01"
polymarket_neg_risk  = false
inverted = false
max_contracts = 500
"""


def test_parses_the_documented_example() -> None:
    (pair,) = parse_pairs(GOOD, "pairs.toml")
    assert pair.name == "fed-dec-cut"
    assert pair.polymarket_tick == 100
    assert pair.max_contracts == 500 * SIZE_SCALE
    assert pair.kalshi_fees.fee_type is KalshiFeeType.QUADRATIC
    assert pair.kalshi_fees.multiplier == Fraction(1)
    assert pair.polymarket_token(Outcome.YES) == "7123"
    assert pair.polymarket_token(Outcome.NO) == "8456"


def test_inverted_pair_maps_kalshi_yes_to_polymarket_no() -> None:
    (pair,) = parse_pairs(GOOD.replace("inverted = false", "inverted = true"))
    assert pair.polymarket_token(Outcome.YES) == "8456"
    assert pair.polymarket_outcome("8456") is Outcome.NO


def _second(name: str = "other", ticker: str = "KX-2", yes: str = "1", no: str = "2") -> str:
    return (
        f'[[pair]]\nname = "{name}"\nkalshi_ticker = "{ticker}"\n'
        f'polymarket_yes_token = "{yes}"\npolymarket_no_token = "{no}"\n'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("inverted", "invertd"), "pairs.toml: pair 'fed-dec-cut': unknown field 'invertd'"),
        (GOOD + _second(name="fed-dec-cut"), "pair 'fed-dec-cut': duplicate name"),
        (GOOD + _second(ticker="KXFED-25DEC-T4.00"), "kalshi_ticker 'KXFED-25DEC-T4.00' is already"),
        (GOOD + _second(yes="7123"), "polymarket_yes_token '7123' is already used by pair 'fed-dec-cut'"),
        (GOOD.replace('"0.01"', '"0.05"'), "field 'polymarket_tick_size' must be one of"),
        (GOOD.replace('polymarket_no_token  = "8456"\n', ""), "missing field 'polymarket_no_token'"),
        (GOOD.replace('"8456"', '"0xabc"'), "must be a decimal token id"),
        (GOOD.replace('"8456"', '"7123"'), "are the same"),
        (GOOD.replace("500", "-5"), "max_contracts"),
        (GOOD.replace("false\ninverted", '"no"\ninverted'), "must be true or false"),
        ("[[pair]\n", "not valid TOML"),
        ("", "no [[pair]] tables"),
        ("title = 'x'\n" + GOOD, "unknown top-level key 'title'"),
    ],
)
def test_validation_names_file_pair_and_field(text: str, message: str) -> None:
    with pytest.raises(PairsError) as info:
        parse_pairs(text, "pairs.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("pairs.toml")


STATED = GOOD.replace(
    "inverted = false",
    'polymarket_fee_rate = "0.04"\npolymarket_fee_exponent = 1\npolymarket_min_order_size = "5"\n'
    "inverted = false",
)


def test_polymarket_fee_and_minimum_are_read_exactly() -> None:
    (pair,) = parse_pairs(STATED, "pairs.toml")
    assert pair.polymarket_fee == PolymarketFeeModel(Fraction(1, 25), 1)
    assert pair.polymarket_min_order_size == 5 * SIZE_SCALE
    assert pair.untradable_reason() is None
    (free,) = parse_pairs(STATED.replace('"0.04"', '"0"'))
    assert free.polymarket_fee is not None and free.polymarket_fee.free
    (fine,) = parse_pairs(STATED.replace('"0.01"', '"0.0025"'))
    assert fine.polymarket_tick == 25


def test_a_pair_without_fee_data_parses_but_is_not_tradable() -> None:
    (pair,) = parse_pairs(GOOD, "pairs.toml")
    assert pair.polymarket_fee is None and pair.polymarket_min_order_size is None
    reason = pair.untradable_reason()
    assert reason is not None
    assert "polymarket_fee_rate" in reason and "polymarket_min_order_size" in reason
    assert "pairs refresh" in reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("inverted = false", "polymarket_fee_bps = 0\ninverted = false"),
         "'polymarket_fee_bps' is no longer accepted"),
        (STATED.replace("polymarket_fee_exponent = 1\n", ""),
         "'polymarket_fee_rate' needs 'polymarket_fee_exponent'"),
        (STATED.replace('polymarket_fee_rate = "0.04"\n', ""),
         "'polymarket_fee_exponent' needs 'polymarket_fee_rate'"),
        (STATED.replace('"0.04"', "0.04"), "'polymarket_fee_rate' must be a decimal string"),
        (STATED.replace('"0.04"', '"1.5"'), "'polymarket_fee_rate' must be a decimal string"),
        (STATED.replace("polymarket_fee_exponent = 1", "polymarket_fee_exponent = 1.5"),
         "'polymarket_fee_exponent' must be an integer"),
        (STATED.replace('"5"', '"-5"'), "'polymarket_min_order_size' must be"),
    ],
)
def test_polymarket_fee_fields_are_strict(text: str, message: str) -> None:
    with pytest.raises(PairsError) as info:
        parse_pairs(text, "pairs.toml")
    assert message in str(info.value)
    if "fee_bps" in message:
        assert "polymarket_fee_rate" in str(info.value) and "polymarket_fee_exponent" in str(info.value)
def _fees(lines: str) -> str:
    return GOOD + lines


def test_kalshi_fee_fields_take_the_venues_meaning() -> None:
    (pair,) = parse_pairs(_fees('kalshi_fee_type = "quadratic_with_maker_fees"\n'
                                'kalshi_fee_multiplier = "0.5"\n'))
    fees = pair.kalshi_fees
    assert fees.taker == KalshiFeeModel(Fraction(1, 2))  # 0.5 x the 0.07 schedule
    assert fees.taker.rate == Fraction(35, 1000)
    assert fees.maker == KalshiFeeModel(Fraction(1, 2), Fraction(7, 400))
    (plain,) = parse_pairs(_fees('kalshi_fee_type = "quadratic"\n'))
    assert plain.kalshi_fees.multiplier == 1 and plain.kalshi_fees.maker == NoFees()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('kalshi_fee_multiplier = "0.07"\n',
         "field 'kalshi_fee_type' is missing: kalshi_fee_multiplier is now"),
        ('kalshi_fee_type = "quadratic"\nkalshi_fee_multiplier = "0.07"\n',
         "'0.07' is an old-style value: kalshi_fee_multiplier is now the series' fee_multiplier"),
        ('kalshi_fee_type = "quadratic"\nkalshi_fee_multiplier = "0.035"\n',
         "the old 0.07 is the new 1"),
        ('kalshi_fee_type = "quadratic"\nkalshi_fee_multiplier = 1\n',
         "must be a non-negative decimal string"),
        ('kalshi_fee_type = "quadratic"\nkalshi_fee_multiplier = "-1"\n', "non-negative"),
        ('kalshi_fee_type = "tiered"\n', "unknown Kalshi fee type 'tiered'"),
        ('kalshi_fee_type = "flat"\n',
         "'flat' (the fee schedule's Specific Trading Fees Table) is not modelled"),
    ],
)
def test_old_style_or_unknown_kalshi_fees_are_refused(lines: str, message: str) -> None:
    with pytest.raises(PairsError, match="pair 'fed-dec-cut'") as info:
        parse_pairs(_fees(lines))
    assert message in str(info.value)
