"""One trading session of the current official SDK, kalshi-python-sync 3.34.0, unchanged.

Not a test module: ``test_current_sdk.py`` runs this file with ``.venv-kalshi-sdk/bin/python``
(Python 3.13, where 3.34.0 installs) against a local Kalshi it started, and reads the JSON this
prints. Every call goes through the SDK's own signing and its own pydantic models, which
raise on any missing required field or out-of-enum value; each answer is also re-validated
from its raw JSON with ``Model.model_validate`` to make sure nothing was lenient on the way.

Usage: python current_sdk_session.py HOST KEY_ID PRIVATE_KEY_PATH ADMIN_TOKEN [sharded]
("sharded": KXSTATIC-B lives on exchange shard 1; the session moves collateral there first)
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any


def main(host: str, key_id: str, key_path: str, admin_token: str, mode: str = ""
         ) -> dict[str, Any]:
    import kalshi_python_sync as kalshi
    from kalshi_python_sync import models as m

    assert kalshi.__version__ == "3.34.0", kalshi.__version__
    config = kalshi.Configuration(host=host)
    config.api_key_id = key_id
    with open(key_path) as fh:
        config.private_key_pem = fh.read()
    c = kalshi.KalshiClient(config)
    out: dict[str, Any] = {"sdk": kalshi.__version__, "validated": []}

    def check(model: type, answer: Any) -> Any:
        """Re-validate the SDK's answer from its own JSON dump (strict models: raises)."""
        model.model_validate(answer.to_dict())
        out["validated"].append(model.__name__)
        return answer

    if mode == "sharded":
        return sharded(c, m, out, check)
    markets = check(m.GetMarketsResponse, c.get_markets(status="open"))
    out["tickers"] = sorted(x.ticker for x in markets.markets)
    out["shards"] = {x.ticker: x.exchange_index for x in markets.markets}
    market = check(m.GetMarketResponse, c.get_market("KXSTATIC-A")).market
    out["market"] = {"status": market.status, "yes_bid": market.yes_bid_dollars,
                     "yes_bid_size": market.yes_bid_size_fp, "yes_ask": market.yes_ask_dollars,
                     "bounds": market.settlement_bounds_type,
                     "updated": market.updated_time.isoformat()}
    book = check(m.GetMarketOrderbookResponse, c.get_market_orderbook("KXSTATIC-A")).orderbook_fp
    out["book"] = {"yes_top": book.yes_dollars[-1], "no_top": book.no_dollars[-1]}
    balance = check(m.GetBalanceResponse, c.get_balance())
    out["balance"] = {"cents": balance.balance, "dollars": balance.balance_dollars,
                      "breakdown": [(b.exchange_index, b.balance)
                                    for b in balance.balance_breakdown or []]}

    resting = check(m.CreateOrderV2Response, c.create_order_v2(
        ticker="KXSTATIC-A", client_order_id="sdk34-rest", side="bid", count="3.00",
        price="0.3500", time_in_force="good_till_canceled",
        self_trade_prevention_type="taker_at_cross"))
    out["resting"] = {"fill": resting.fill_count, "remaining": resting.remaining_count}
    listed = check(m.GetOrdersResponse, c.get_orders(status="resting")).orders
    out["listed"] = [(o.client_order_id, o.outcome_side, o.book_side.value, o.exchange_index)
                     for o in listed]
    one = check(m.GetOrderResponse, c.get_order(resting.order_id)).order
    out["order"] = {"status": one.status.value, "yes_price": one.yes_price_dollars,
                    "side": one.side, "action": one.action}
    cancelled = check(m.CancelOrderV2Response, c.cancel_order_v2(
        resting.order_id, market_ticker="KXSTATIC-A"))
    out["cancelled"] = {"reduced_by": cancelled.reduced_by,
                        "status": c.get_order(resting.order_id).order.status.value}

    # buy NO at 0.62 on the single book = an ask at 0.38: hits the 0.39 YES bid
    crossing = check(m.CreateOrderV2Response, c.create_order_v2(
        ticker="KXSTATIC-A", client_order_id="sdk34-ioc", side="ask", count="5.00",
        price="0.3800", time_in_force="immediate_or_cancel",
        self_trade_prevention_type="taker_at_cross"))
    out["crossing"] = {"fill": crossing.fill_count, "remaining": crossing.remaining_count,
                       "avg": crossing.average_fill_price, "fee": crossing.average_fee_paid}
    fills = check(m.GetFillsResponse, c.get_fills()).fills
    out["fills"] = [(f.outcome_side.value, f.book_side.value, f.count_fp, f.yes_price_dollars,
                     f.no_price_dollars, f.fee_cost, f.exchange_index, f.is_taker)
                    for f in fills]
    positions = check(m.GetPositionsResponse, c.get_positions())
    out["positions"] = [(p.ticker, p.position_fp, p.exchange_index, p.market_exposure_dollars)
                        for p in positions.market_positions]
    out["event_positions"] = [e.event_ticker for e in positions.event_positions]
    series = check(m.GetSeriesResponse, c.get_series("KXSTATIC")).series
    out["series"] = {"ticker": series.ticker, "fee_type": series.fee_type.value}

    # a settled market (docs /getting_started/market_lifecycle): the status must be one the
    # SDK's Market enum allows ("finalized"; there is no "settled" status any more)
    settle_url = host.split("/trade-api/")[0] + "/_sim/settle"
    body = json.dumps({"ticker": "KXSTATIC-B", "result": "yes"}).encode()
    urllib.request.urlopen(urllib.request.Request(  # loopback test control
        settle_url, data=body, headers={"Content-Type": "application/json",
                                        "X-Sim-Admin-Token": admin_token}), timeout=10).read()
    settled = check(m.GetMarketResponse, c.get_market("KXSTATIC-B")).market
    out["settled"] = {"status": settled.status, "result": settled.result}
    listed_settled = check(m.GetMarketsResponse, c.get_markets(status="settled")).markets
    out["settled_list"] = [(x.ticker, x.status) for x in listed_settled]
    return out


def sharded(c: Any, m: Any, out: dict[str, Any], check: Any) -> dict[str, Any]:
    """Collateral per shard, an order on a shard-1 market, its cancel routed by market."""
    check(m.IntraExchangeInstanceTransferResponse, c.intra_exchange_instance_transfer(
        source="event_contract", destination="event_contract", amount=500_000,  # centicents
        source_exchange_shard=0, destination_exchange_shard=1))
    whole = check(m.GetBalanceResponse, c.get_balance())
    out["breakdown"] = [(b.exchange_index, b.balance) for b in whole.balance_breakdown or []]
    out["shard_1"] = check(m.GetBalanceResponse, c.get_balance(exchange_index=1)).balance
    market = check(m.GetMarketResponse, c.get_market("KXSTATIC-B")).market
    out["market_shard"] = market.exchange_index
    order = check(m.CreateOrderV2Response, c.create_order_v2(
        ticker="KXSTATIC-B", client_order_id="sdk34-s1", side="bid", count="10.00",
        price="0.3000", time_in_force="good_till_canceled",
        self_trade_prevention_type="taker_at_cross"))
    out["order_shard"] = check(m.GetOrderResponse, c.get_order(order.order_id)).order.exchange_index
    try:  # no market_ticker: the venue looks on shard 0
        c.cancel_order_v2(order.order_id)
        out["unrouted"] = "cancelled"
    except Exception as exc:  # the SDK's NotFoundException
        out["unrouted"] = type(exc).__name__
    cancelled = check(m.CancelOrderV2Response, c.cancel_order_v2(
        order.order_id, market_ticker="KXSTATIC-B"))
    out["routed"] = cancelled.reduced_by
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6])))
