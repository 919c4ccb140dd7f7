from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbiter.core.units import (
    CENT,
    MONEY_SCALE,
    PRICE_SCALE,
    SIZE_SCALE,
    UnitError,
    format_money,
    format_price,
    format_size,
    money_str,
    notional,
    parse_money,
    parse_price,
    parse_size,
    parse_tick,
    price_from_cents,
    size_from_count,
)


def test_scales_compose_so_notional_is_exact() -> None:
    assert MONEY_SCALE == PRICE_SCALE * SIZE_SCALE
    # 0.35 x 100 contracts = $35 exactly
    assert notional(parse_price("0.35"), parse_size("100")) == parse_money("35")
    assert parse_money("0.01") == CENT


@pytest.mark.parametrize(
    ("text", "units"),
    [("0.42", 4200), ("0.4200", 4200), ("0.0001", 1), (".5", 5000), ("0.999900", 9999)],
)
def test_parse_price(text: str, units: int) -> None:
    assert parse_price(text) == units


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "outside"),
        ("1", "outside"),
        ("1.0", "outside"),
        ("-0.5", "outside"),
        ("0.00005", "more than 4 decimals"),
        ("abc", "not a decimal"),
        ("", "not a decimal"),
        ("0.4.2", "not a decimal"),
        ("1e-2", "not a decimal"),
    ],
)
def test_parse_price_rejects(text: str, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse_price(text)


def test_off_tick_price_is_rejected_not_rounded() -> None:
    assert parse_price("0.42", tick=100) == 4200
    with pytest.raises(UnitError, match="tick"):
        parse_price("0.425", tick=100)
    with pytest.raises(UnitError, match="outside"):
        price_from_cents(0)


def test_non_string_wire_values_are_rejected() -> None:
    with pytest.raises(UnitError):
        parse_price(0.42)  # type: ignore[arg-type]
    with pytest.raises(UnitError):
        price_from_cents(True)
    with pytest.raises(UnitError):
        size_from_count(-1)


def test_sizes_and_money() -> None:
    assert parse_size("13.00") == 13 * SIZE_SCALE
    assert parse_size("0.000001") == 1
    assert parse_size("5", decimals=2) == 5 * SIZE_SCALE
    with pytest.raises(UnitError, match="negative"):
        parse_size("-1")
    with pytest.raises(UnitError, match="decimals"):
        parse_size("1.123", decimals=2)
    assert parse_money("-1.5") == -15 * MONEY_SCALE // 10
    assert price_from_cents(42) == 4200
    assert size_from_count(7) == 7 * SIZE_SCALE


def test_ticks() -> None:
    assert [parse_tick(t) for t in ("0.1", "0.01", "0.001", "0.0001")] == [1000, 100, 10, 1]
    with pytest.raises(UnitError, match="tick size"):
        parse_tick("0.05")


def test_formatting_never_rounds_silently() -> None:
    assert format_price(4200) == "0.4200"
    assert format_price(4200, 2) == "0.42"
    with pytest.raises(UnitError):
        format_price(4250, 2)
    assert format_size(13 * SIZE_SCALE) == "13.00"
    assert format_money(parse_money("1.5"), 2) == "1.50"
    assert money_str(parse_money("-0.0175")) == "-0.0175"
    assert money_str(0) == "0"


@given(st.integers(min_value=1, max_value=PRICE_SCALE - 1))
def test_price_round_trip(units: int) -> None:
    assert parse_price(format_price(units)) == units


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_money_round_trip(units: int) -> None:
    assert parse_money(format_money(units)) == units
    assert parse_money(money_str(units)) == units
