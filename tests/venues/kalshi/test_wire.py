"""Wire forms <-> core units: order entry mapping, tolerant readers, error mapping, fast parsers."""

from __future__ import annotations

import json

import pytest

from arbiter.core.book import Outcome
from arbiter.core.units import Price, Size, UnitError
from arbiter.venues.base import (
    Action,
    AuthError,
    DuplicateOrderError,
    NotFoundError,
    OrderRequest,
    OrderStatus,
    RateLimitedError,
    RejectedError,
    TimeInForce,
    TransientError,
)
from arbiter.venues.kalshi.rest import error_from_response
from arbiter.venues.kalshi.wire import (
    WireError,
    ack_from_create,
    ack_from_order,
    balance_from_wire,
    fill_from_wire,
    order_body,
    orderbook_from_wire,
    position_from_wire,
)
from arbiter.venues.kalshi.ws import parse_count, parse_signed_count, parse_wire_price


def _req(outcome: str, action: str, price: int, tif: TimeInForce = TimeInForce.GTC) -> OrderRequest:
    return OrderRequest("KXT-1", Outcome(outcome), Action(action), Price(price),
                        Size(10_000_000), "cid-1", tif)


@pytest.mark.parametrize(
    ("outcome", "action", "price", "side", "wire_price"),
    [
        ("yes", "buy", 4500, "bid", "0.4500"),
        ("yes", "sell", 4500, "ask", "0.4500"),
        ("no", "buy", 4500, "ask", "0.5500"),
        ("no", "sell", 4500, "bid", "0.5500"),
    ],
)
def test_events_order_mapping(outcome: str, action: str, price: int, side: str,
                              wire_price: str) -> None:
    body = order_body(_req(outcome, action, price))
    assert body["side"] == side
    assert body["price"] == wire_price
    assert body["count"] == "10.00"
    assert body["client_order_id"] == "cid-1"
    assert body["time_in_force"] == "good_till_canceled"
    assert body["self_trade_prevention_type"] == "taker_at_cross"


def test_create_answer_is_reported_in_request_terms() -> None:
    req = _req("no", "buy", 4500, TimeInForce.IOC)
    ack = ack_from_create(req, {"order_id": "o1", "client_order_id": "cid-1",
                                "fill_count": "4.00", "remaining_count": "0.00",
                                "average_fill_price": "0.5600", "average_fee_paid": "0.0200",
                                "ts_ms": 5})
    assert ack.status is OrderStatus.CANCELED  # IOC remainder cancelled
    assert ack.filled == 4_000_000 and ack.remaining == 0
    assert ack.avg_fill_price == 4400  # NO price = 1 - YES average
    assert ack.fees == 8 * 10**8  # 4 x $0.02
    resting = ack_from_create(_req("yes", "buy", 4500), {"order_id": "o2",
                                                          "fill_count": "0.00",
                                                          "remaining_count": "10.00"})
    assert resting.status is OrderStatus.OPEN


def test_order_reader_accepts_both_generations() -> None:
    legacy = {"order_id": "o", "ticker": "T", "side": "no", "action": "buy",
              "status": "resting", "yes_price": 42, "no_price": 58, "fill_count": 1,
              "remaining_count": 2, "initial_count": 3, "client_order_id": "c",
              "taker_fees": 1, "maker_fees": 0}
    current = {"order_id": "o", "ticker": "T", "side": "no", "action": "buy",
               "status": "executed", "no_price_dollars": "0.5800", "fill_count_fp": "3.00",
               "remaining_count_fp": "0.00", "initial_count_fp": "3.00",
               "taker_fees_dollars": "0.0300", "maker_fees_dollars": "0.0000"}
    a, b = ack_from_order(legacy), ack_from_order(current)
    assert (a.price, a.filled, a.remaining, a.size, a.status) == (
        5800, 1_000_000, 2_000_000, 3_000_000, OrderStatus.OPEN)
    assert (b.price, b.filled, b.status) == (5800, 3_000_000, OrderStatus.FILLED)


def test_fill_position_balance_readers() -> None:
    fill = fill_from_wire({"fill_id": "f", "trade_id": "f", "order_id": "o", "ticker": "T",
                           "side": "yes", "action": "buy", "count_fp": "2.50",
                           "yes_price_dollars": "0.4100", "fee_cost": "0.0200",
                           "is_taker": True, "ts": 100})
    assert (fill.price, fill.size, fill.fee, fill.ts_ms) == (4100, 2_500_000, 2 * 10**8, 100_000)
    legacy = fill_from_wire({"trade_id": "f", "order_id": "o", "market_ticker": "T",
                             "side": "no", "action": "sell", "count": 2, "no_price": 59,
                             "yes_price": 41, "fee_cost": "0.0200", "is_taker": False,
                             "created_time": "2026-03-12T10:00:00.250Z"})
    assert (legacy.price, legacy.size, legacy.outcome) == (5900, 2_000_000, Outcome.NO)
    assert legacy.ts_ms == 1_773_309_600_250  # from created_time when ts/ts_ms are absent
    short = position_from_wire({"ticker": "T", "position_fp": "-3.00",
                                "market_exposure_dollars": "1.7700"})
    assert short is not None and short.outcome is Outcome.NO and short.size == 3_000_000
    assert position_from_wire({"ticker": "T", "position": 0}) is None
    assert balance_from_wire({"balance": 12345}) == 12345 * 10**8
    assert balance_from_wire({"balance": 1, "balance_dollars": "123.45"}) == 12345 * 10**8


def test_orderbook_reader_prefers_fp_then_dollars_then_cents() -> None:
    fp = {"orderbook_fp": {"yes_dollars": [["0.4200", "13.00"]], "no_dollars": None},
          "orderbook": {"yes": [[1, 1]], "no": [[1, 1]]}}
    assert orderbook_from_wire(fp) == ([(4200, 13_000_000)], [])
    dollars = {"orderbook": {"yes_dollars": [["0.0100", "200.00"]], "no_dollars": [],
                             "yes": [[2, 2]]}}
    assert orderbook_from_wire(dollars) == ([(100, 200_000_000)], [])
    cents = {"orderbook": {"yes": [[42, 13]], "no": None}}
    assert orderbook_from_wire(cents) == ([(4200, 13_000_000)], [])
    unsorted = {"orderbook_fp": {"yes_dollars": [["0.4200", "1"], ["0.0100", "2.50"]]}}
    assert orderbook_from_wire(unsorted) == ([(4200, 1_000_000), (100, 2_500_000)], [])


@pytest.mark.parametrize(
    "body",
    [
        {"orderbook": {"yes": None, "no": None}},  # what the venue sends for an empty market
        {"orderbook": {"yes_dollars": [], "no_dollars": [], "yes": [], "no": []}},
        {"orderbook": {}},
        {"orderbook_fp": {"yes_dollars": None, "no_dollars": []}},
        {"orderbook_fp": None, "orderbook": {"yes": None, "no": None}},
    ],
)
def test_orderbook_reader_empty_books(body: dict[str, object]) -> None:
    assert orderbook_from_wire(body) == ([], [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "order book body has no 'orderbook_fp' or 'orderbook' object"),
        ({"error": {"code": "not_found"}}, "has no 'orderbook_fp' or 'orderbook' object"),
        ({"orderbook": None}, "has no 'orderbook_fp' or 'orderbook' object"),
        (["orderbook"], "order book body is list, not an object"),
        ({"orderbook": [[42, 13]]}, "'orderbook' is list, not an object"),
        ({"orderbook": "empty"}, "'orderbook' is str, not an object"),
        ({"orderbook_fp": [], "orderbook": {"yes": []}}, "'orderbook_fp' is list, not an object"),
        ({"orderbook_fp": {"yes_dollars": "0.42"}},
         "orderbook_fp.yes_dollars is str, not a list of [price, count] pairs"),
        ({"orderbook": {"no": {"42": 13}}}, "orderbook.no is dict, not a list"),
        ({"orderbook_fp": {"no_dollars": [["0.42", "1", "x"]]}},
         "orderbook_fp.no_dollars[0]: ['0.42', '1', 'x'] is not a [price, count] pair"),
        ({"orderbook": {"yes": [[42, 1], 42]}}, "orderbook.yes[1]: 42 is not a [price, count] pair"),
        ({"orderbook": {"yes": [{"price": 42, "count": 1}]}}, "is not a [price, count] pair"),
        ({"orderbook": {"yes": [[150, 3]]}},
         "orderbook.yes[0]: price '150c' is outside the open interval (0, 1)"),
        ({"orderbook": {"yes": [[0, 3]]}}, "orderbook.yes[0]: price '0c' is outside"),
        ({"orderbook_fp": {"yes_dollars": [["1.0000", "3"]]}},
         "orderbook_fp.yes_dollars[0]: price '1.0000' is outside the open interval (0, 1)"),
        ({"orderbook_fp": {"yes_dollars": [["0.42", "0.00"]]}},
         "orderbook_fp.yes_dollars[0]: count '0.00' is not positive"),
        ({"orderbook": {"no": [[42, 0]]}}, "orderbook.no[0]: count 0 is not positive"),
        ({"orderbook": {"no": [[42, -1]]}}, "orderbook.no[0]: count must be a non-negative integer"),
        ({"orderbook_fp": {"yes_dollars": [["0.42", "-1"]]}}, "size '-1' is negative"),
        ({"orderbook_fp": {"yes_dollars": [["0.42", "lots"]]}},
         "orderbook_fp.yes_dollars[0]: size 'lots' is not a decimal number"),
        ({"orderbook_fp": {"yes_dollars": [["0.42", "1.0000001"]]}}, "has more than 6 decimals"),
        ({"orderbook_fp": {"yes_dollars": [[0.42, "1"]]}},
         "orderbook_fp.yes_dollars[0]: price and count must be decimal strings, got 0.42, '1'"),
        ({"orderbook": {"yes_dollars": [["0.42", 13]]}}, "must be decimal strings"),
        ({"orderbook": {"yes": [[42.5, 1]]}}, "price in cents must be an integer, got 42.5"),
        ({"orderbook": {"yes": [[True, 1]]}}, "price in cents must be an integer, got True"),
        ({"orderbook": {"yes": [[42, 1.5]]}}, "count must be a non-negative integer, got 1.5"),
        ({"orderbook": {"yes": [["42", 1]]}}, "price in cents must be an integer, got '42'"),
    ],
)
def test_orderbook_reader_refuses_malformed_shapes(body: object, message: str) -> None:
    with pytest.raises(WireError) as caught:
        orderbook_from_wire(body)  # type: ignore[arg-type]
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (401, {"error": {"code": "authentication_error", "message": "m",
                         "details": "INCORRECT_API_KEY_SIGNATURE"}}, AuthError,
         "authentication_error"),
        (404, {"code": "market_not_found", "message": "no"}, NotFoundError, "market_not_found"),
        (409, {"error": {"code": "order_already_exists"}}, DuplicateOrderError,
         "order_already_exists"),
        (429, {"error": "too many requests"}, RateLimitedError, "too_many_requests"),
        (503, "upstream down", TransientError, "http_503"),
        (410, {"error": {"code": "deprecated_v1_order_endpoint"}}, RejectedError,
         "deprecated_v1_order_endpoint"),
        (400, {"error": {"code": "insufficient_balance", "message": "m"}}, RejectedError,
         "insufficient_balance"),
    ],
)
def test_error_bodies_map_to_typed_errors(status: int, body: object, kind: type,
                                          code: str) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    err = error_from_response(status, text)
    assert type(err) is kind
    assert err.code == code and err.status == status


def test_details_are_kept_in_the_message() -> None:
    err = error_from_response(401, json.dumps({"error": {
        "code": "authentication_error", "message": "bad", "details": "INCORRECT_API_KEY_SIGNATURE"}}))
    assert "INCORRECT_API_KEY_SIGNATURE" in str(err)


def test_fast_parsers_are_exact_and_strict() -> None:
    assert parse_wire_price("0.4200") == 4200
    assert parse_wire_price("0.42") == 4200  # general path
    assert parse_count("13.00") == 13_000_000
    assert parse_count("0.01") == 10_000
    assert parse_signed_count("-54.00") == -54_000_000
    assert parse_signed_count("-0.50") == -500_000
    for bad in ("0.0000", "1.0000", "0.1_00", "abc", "0.00001"):
        with pytest.raises(UnitError):
            parse_wire_price(bad)
    for bad in ("1_0.00", "x.00", "1.001"):
        with pytest.raises(UnitError):
            parse_signed_count(bad)
