"""ControlService over real loopback channels: auth, tenant scoping, actions, streams."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from arbiter.control.auth import Key, KeySet, Role
from arbiter.control.engine import InProcessEngine, OrderView
from arbiter.control.service import pb
from arbiter.core.book import Outcome
from arbiter.core.units import MONEY_SCALE, PRICE_SCALE, SIZE_SCALE
from tests.control.conftest import ServerThread, md, opportunity, token


def code_of(fn: Any, *args: Any, **kw: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kw)
    err: Any = info.value
    return err.code(), err.details()


def test_tenant_token_sees_only_its_tenant(stub: Any, keys: KeySet) -> None:
    p = pb()[0]
    resp = stub.GetStatus(p.StatusRequest(), metadata=md(token(keys, "acme", Role.VIEWER)))
    assert [t.tenant for t in resp.tenants] == ["acme"]
    assert resp.engine == "in-process" and list(resp.pairs) == ["FED-DEC", "BTC-100K"]
    code, detail = code_of(
        stub.GetStatus, p.StatusRequest(tenant="globex"), metadata=md(token(keys, "acme", Role.OPERATOR))
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED and "globex" in detail
    # other tenants' data is refused on every read, not only status
    for rpc, req in [
        (stub.GetPnl, p.PnlRequest(tenant="globex")),
        (stub.GetPositions, p.PositionsRequest(tenant="globex")),
        (stub.ListOrders, p.ListOrdersRequest(tenant="globex")),
    ]:
        assert (
            code_of(rpc, req, metadata=md(token(keys, "acme", Role.VIEWER)))[0]
            is grpc.StatusCode.PERMISSION_DENIED
        )


def test_admin_sees_every_tenant_and_unknown_is_not_found(stub: Any, keys: KeySet) -> None:
    p = pb()[0]
    admin = md(token(keys, "ops", Role.ADMIN))
    assert [t.tenant for t in stub.GetStatus(p.StatusRequest(), metadata=admin).tenants] == ["acme", "globex"]
    code, _ = code_of(stub.GetStatus, p.StatusRequest(tenant="nobody"), metadata=admin)
    assert code is grpc.StatusCode.NOT_FOUND


def test_missing_malformed_and_expired_tokens(stub: Any, keys: KeySet) -> None:
    p = pb()[0]
    assert code_of(stub.GetStatus, p.StatusRequest()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "missing bearer token",
    )
    code, detail = code_of(stub.GetStatus, p.StatusRequest(), metadata=md("not.a.jwt"))
    assert code is grpc.StatusCode.UNAUTHENTICATED and "malformed" in detail
    old = token(keys, "acme", Role.ADMIN, ttl=60, now=int(time.time()) - 3600)
    assert code_of(stub.GetStatus, p.StatusRequest(), metadata=md(old)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "token expired",
    )


def test_bad_signature_is_refused(stub: Any, keys: KeySet) -> None:
    forger = KeySet()
    forger.add(Key.hmac("k1", "a-different-secret-of-the-same-kid!!"))
    forged = forger.issue("mallory", "acme", Role.ADMIN, 300, int(time.time()))
    assert code_of(stub.GetStatus, pb()[0].StatusRequest(), metadata=md(forged)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "bad token signature",
    )


def test_key_rotation_by_kid(stub: Any, keys: KeySet) -> None:
    p = pb()[0]
    old = token(keys, "acme", Role.VIEWER)
    keys.add(Key.hmac("k2", "second-secret-that-is-long-enough-x"))  # k2 signs from now on
    new = token(keys, "acme", Role.VIEWER)
    assert old != new
    # during the overlap both verify
    for tok in (old, new):
        assert stub.GetStatus(p.StatusRequest(), metadata=md(tok)).tenants[0].tenant == "acme"
    keys.retire("k1")
    assert code_of(stub.GetStatus, p.StatusRequest(), metadata=md(old)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "unknown key id 'k1'",
    )
    assert stub.GetStatus(p.StatusRequest(), metadata=md(new)).tenants[0].tenant == "acme"


def test_pause_resume_and_roles(stub: Any, keys: KeySet, engine: InProcessEngine) -> None:
    p = pb()[0]
    viewer = md(token(keys, "acme", Role.VIEWER))
    operator = md(token(keys, "acme", Role.OPERATOR))
    assert (
        code_of(stub.Pause, p.Scope(pair="FED-DEC"), metadata=viewer)[0] is grpc.StatusCode.PERMISSION_DENIED
    )
    assert stub.Pause(p.Scope(pair="FED-DEC"), metadata=operator).changed
    assert not stub.Pause(p.Scope(pair="FED-DEC"), metadata=operator).changed  # idempotent
    assert not engine.may_trade("acme", "FED-DEC")
    assert engine.may_trade("acme", "BTC-100K") and engine.may_trade("globex", "FED-DEC")
    st = stub.GetStatus(p.StatusRequest(), metadata=operator).tenants[0]
    assert list(st.paused_pairs) == ["FED-DEC"]
    assert stub.Resume(p.Scope(pair="FED-DEC"), metadata=operator).changed
    assert engine.may_trade("acme", "FED-DEC")
    assert code_of(stub.Pause, p.Scope(pair="NOPE"), metadata=operator)[0] is grpc.StatusCode.NOT_FOUND
    # stop/start the whole tenant
    assert stub.Stop(p.Scope(), metadata=operator).changed
    assert not engine.may_trade("acme", "BTC-100K")
    assert not stub.GetStatus(p.StatusRequest(), metadata=operator).tenants[0].running
    assert stub.Start(p.Scope(), metadata=operator).changed
    assert engine.may_trade("acme", "BTC-100K")


def test_kill_switch_tenant_and_global(stub: Any, keys: KeySet, engine: InProcessEngine) -> None:
    p = pb()[0]
    operator = md(token(keys, "acme", Role.OPERATOR))
    admin = md(token(keys, "ops", Role.ADMIN))
    assert stub.TripKillSwitch(p.KillRequest(reason="fat finger"), metadata=operator).changed
    assert engine.risk_book("acme").killed == "fat finger"
    assert engine.risk_book("globex").killed is None
    st = stub.GetStatus(p.StatusRequest(), metadata=operator).tenants[0]
    assert st.kill_switch and st.kill_reason == "fat finger"
    assert not engine.may_trade("acme", "FED-DEC")
    # admin with no tenant = every tenant
    assert stub.TripKillSwitch(p.KillRequest(reason="venue outage"), metadata=admin).changed
    assert engine.risk_book("globex").killed == "venue outage"
    assert engine.risk_book("acme").killed == "fat finger"  # first reason kept
    assert (
        code_of(stub.ResetKillSwitch, p.ResetKillRequest(), metadata=admin)[0]
        is grpc.StatusCode.INVALID_ARGUMENT
    )
    assert stub.ResetKillSwitch(p.ResetKillRequest(), metadata=operator).changed
    assert engine.may_trade("acme", "FED-DEC") and not engine.may_trade("globex", "FED-DEC")
    kinds = [(a.tenant, a.detail) for a in stub.GetAlerts(p.AlertsRequest(), metadata=operator).alerts]
    assert kinds == [("acme", "tripped: fat finger"), ("acme", "reset (was: fat finger)")]


def test_positions_and_pnl_are_exact_strings(stub: Any, keys: KeySet, engine: InProcessEngine) -> None:
    p = pb()[0]
    book = engine.position_book("acme")
    # 10 contracts at 0.4537, fee $0.0731; then sell 4 at 0.5 -> realised 4*(0.5-0.4537)
    book.apply_fill(
        "kalshi",
        "FED-DEC",
        Outcome.YES,
        "buy",
        10 * SIZE_SCALE,
        4537 * 10 * SIZE_SCALE,
        731 * MONEY_SCALE // 10_000,
    )
    book.apply_fill(
        "kalshi", "FED-DEC", Outcome.YES, "sell", 4 * SIZE_SCALE, PRICE_SCALE // 2 * 4 * SIZE_SCALE
    )
    engine.risk_book("acme").daily_pnl = -123 * MONEY_SCALE // 1000
    viewer = md(token(keys, "acme", Role.VIEWER))
    (pos,) = stub.GetPositions(p.PositionsRequest(), metadata=viewer).positions
    assert (pos.venue, pos.market, pos.outcome, pos.size, pos.basis) == (
        "kalshi",
        "FED-DEC",
        "yes",
        "6",
        "2.7222",
    )
    assert (pos.realised, pos.fees) == ("0.1852", "0.0731")
    (pnl,) = stub.GetPnl(p.PnlRequest(), metadata=viewer).pnl
    assert (pnl.realised, pnl.fees, pnl.net, pnl.daily) == ("0.1852", "0.0731", "0.1121", "-0.123")
    assert (
        stub.GetPositions(p.PositionsRequest(), metadata=md(token(keys, "globex", Role.VIEWER))).positions
        == []
    )


def test_orders_list_and_cancel(stub: Any, keys: KeySet, engine: InProcessEngine) -> None:
    p = pb()[0]
    for oid in ("o-1", "refuse-me"):
        engine.order_update(
            OrderView(
                oid,
                "acme",
                "s-1",
                "polymarket",
                "tok",
                "no",
                "buy",
                5200,
                10 * SIZE_SCALE,
                3 * SIZE_SCALE,
                "open",
                7,
            )
        )
    operator = md(token(keys, "acme", Role.OPERATOR))
    orders = stub.ListOrders(p.ListOrdersRequest(), metadata=operator).orders
    assert [(o.order_id, o.price, o.size, o.filled) for o in orders] == [
        ("o-1", "0.52", "10", "3"),
        ("refuse-me", "0.52", "10", "3"),
    ]
    assert stub.CancelOrder(p.CancelOrderRequest(order_id="o-1"), metadata=operator).changed
    refused = stub.CancelOrder(p.CancelOrderRequest(order_id="refuse-me"), metadata=operator)
    assert not refused.changed and "refused" in refused.detail
    assert not stub.CancelOrder(p.CancelOrderRequest(order_id="o-404"), metadata=operator).changed
    assert engine.cancelled == ["o-1", "refuse-me"]  # type: ignore[attr-defined]
    statuses = {
        o.order_id: o.status for o in stub.ListOrders(p.ListOrdersRequest(), metadata=operator).orders
    }
    assert statuses == {"o-1": "cancel_requested", "refuse-me": "open"}
    other = md(token(keys, "globex", Role.OPERATOR))
    assert (
        code_of(stub.CancelOrder, p.CancelOrderRequest(tenant="acme", order_id="o-1"), metadata=other)[0]
        is grpc.StatusCode.PERMISSION_DENIED
    )


def test_risk_limits_get_set(stub: Any, keys: KeySet, engine: InProcessEngine) -> None:
    p = pb()[0]
    operator = md(token(keys, "acme", Role.OPERATOR))
    admin = md(token(keys, "ops", Role.ADMIN))
    got = stub.GetRiskLimits(p.GetRiskLimitsRequest(), metadata=operator)
    assert got.tenant == "acme" and got.limits.max_open_sagas == 8 and got.limits.max_daily_loss == ""
    new = p.RiskLimits(
        max_daily_loss="250.5",
        max_pair_contracts="100",
        min_edge="0.005",
        max_open_sagas=3,
        max_gross_exposure="1000",
    )
    code, _ = code_of(stub.SetRiskLimits, p.SetRiskLimitsRequest(limits=new), metadata=operator)
    assert code is grpc.StatusCode.PERMISSION_DENIED
    out = stub.SetRiskLimits(p.SetRiskLimitsRequest(tenant="acme", limits=new), metadata=admin).limits
    assert (out.max_daily_loss, out.max_pair_contracts, out.min_edge, out.max_open_sagas) == (
        "250.5",
        "100",
        "0.005",
        3,
    )
    lim = engine.risk_book("acme").limits
    assert lim.max_daily_loss == 2505 * MONEY_SCALE // 10 and lim.max_pair_contracts == 100 * SIZE_SCALE
    assert lim.min_edge == 50 and lim.max_gross_exposure == 1000 * MONEY_SCALE
    bad = p.RiskLimits(max_daily_loss="-3")
    assert (
        code_of(stub.SetRiskLimits, p.SetRiskLimitsRequest(tenant="acme", limits=bad), metadata=admin)[0]
        is grpc.StatusCode.INVALID_ARGUMENT
    )
    bad = p.RiskLimits(min_edge="0.00001")  # finer than a price unit
    assert (
        code_of(stub.SetRiskLimits, p.SetRiskLimitsRequest(tenant="acme", limits=bad), metadata=admin)[0]
        is grpc.StatusCode.INVALID_ARGUMENT
    )


def _collect(it: Any, out: list[Any]) -> threading.Thread:
    def run() -> None:
        out.extend(it)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def test_opportunity_stream_is_tenant_scoped(
    stub: Any, keys: KeySet, server: ServerThread, engine: InProcessEngine
) -> None:
    p = pb()[0]
    mine: list[Any] = []
    everything: list[Any] = []
    t1 = _collect(
        stub.StreamOpportunities(
            p.StreamRequest(max_events=2), metadata=md(token(keys, "acme", Role.VIEWER))
        ),
        mine,
    )
    t2 = _collect(
        stub.StreamOpportunities(p.StreamRequest(max_events=3), metadata=md(token(keys, "ops", Role.ADMIN))),
        everything,
    )
    server.wait_subscribers(engine.opportunity_feed, 2)
    server.on_loop(lambda: engine.publish_opportunity("globex", opportunity("BTC-100K", 2, 10)))
    server.on_loop(lambda: engine.publish_opportunity("acme", opportunity("FED-DEC", 3, 11)))
    server.on_loop(lambda: engine.publish_opportunity("acme", opportunity("FED-DEC", 4, 12)))
    t1.join(10)
    t2.join(10)
    assert [(o.tenant, o.profit, o.detected_ns) for o in mine] == [("acme", "0.03", 11), ("acme", "0.04", 12)]
    assert [o.tenant for o in everything] == ["globex", "acme", "acme"]
    assert mine[0].size == "10" and mine[0].cost == "9.7"
    # streams unsubscribe when they end
    deadline = time.monotonic() + 5
    while engine.opportunity_feed.subscribers:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_saga_stream_and_stream_auth(
    stub: Any, keys: KeySet, server: ServerThread, engine: InProcessEngine
) -> None:
    p = pb()[0]
    got: list[Any] = []
    th = _collect(
        stub.StreamSagas(p.StreamRequest(max_events=2), metadata=md(token(keys, "acme", Role.VIEWER))), got
    )
    server.wait_subscribers(engine.saga_feed, 1)
    server.on_loop(lambda: engine.saga_event("globex", "g-1", "BTC-100K", "started", "reserved"))
    server.on_loop(lambda: engine.saga_event("acme", "a-1", "FED-DEC", "started", "reserved"))
    assert engine.may_trade("acme", "FED-DEC")
    st = stub.GetStatus(p.StatusRequest(), metadata=md(token(keys, "acme", Role.VIEWER))).tenants[0]
    assert st.open_sagas == 1
    server.on_loop(
        lambda: engine.saga_event("acme", "a-1", "FED-DEC", "finished", "done", "completed", terminal=True)
    )
    th.join(10)
    assert [(s.saga_id, s.kind, s.state) for s in got] == [
        ("a-1", "started", "reserved"),
        ("a-1", "finished", "done"),
    ]
    code, _ = code_of(
        lambda: list(
            stub.StreamSagas(p.StreamRequest(tenant="globex"), metadata=md(token(keys, "acme", Role.VIEWER)))
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    code, _ = code_of(lambda: list(stub.StreamOpportunities(p.StreamRequest())))
    assert code is grpc.StatusCode.UNAUTHENTICATED
