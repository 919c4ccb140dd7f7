"""One trace per opportunity through risk, legs and hedge, driven by a real core saga."""

from __future__ import annotations

import json
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from arbiter.core.book import Outcome
from arbiter.core.detection import Leg, Opportunity
from arbiter.core.hedge import MarketView
from arbiter.core.risk import Reason, RiskDecision
from arbiter.core.saga import (
    DecideHedge,
    Event,
    Finish,
    LegPlan,
    OrderFinal,
    PlaceOrder,
    Role,
    Saga,
    SagaPlan,
)
from arbiter.core.units import SIZE_SCALE, Price
from arbiter.telemetry.tracing import OpportunityTrace, SagaTracer, make_provider

SIZE = 10 * SIZE_SCALE


def opportunity() -> Opportunity:
    legs = (
        Leg("kalshi", "FED", Outcome.YES, 4500, 4500 * SIZE, 0, 900),
        Leg("polymarket", "tok-no", Outcome.NO, 5200, 5200 * SIZE, 0, 950),
    )
    return Opportunity("FED", "kalshi_yes_poly_no", SIZE, legs, 9700 * SIZE, 0, 300 * SIZE, 1_000)


def run_saga(trace: OpportunityTrace, leg2_fill: int) -> list[Event]:
    """Drive the core saga with a scripted venue: leg 2 fills ``leg2_fill`` contracts."""
    first = LegPlan("polymarket", "tok-no", Outcome.NO, 5200, 100, SIZE_SCALE, 0, "none", "0")
    second = LegPlan("kalshi", "FED", Outcome.YES, 4500, 100, SIZE_SCALE, 0, "none", "0")
    plan = SagaPlan(
        "saga-1", "FED", "kalshi_yes_poly_no", SIZE, first, second, 9700 * SIZE, 0, 300 * SIZE, 1_000
    )
    now = 5_000
    saga, started = Saga.start(plan, now)
    events: list[Event] = [started]
    trace.event(started)
    while (cmd := saga.next_command(now)) is not None:
        now += 1_000
        new: list[Event] = []
        if isinstance(cmd, PlaceOrder):
            intent = cmd.intent
            filled = leg2_fill if intent.role is Role.LEG2 else intent.size
            new = [
                intent,
                OrderFinal(
                    intent.step,
                    f"o-{intent.step}",
                    "filled" if filled == intent.size else "partial",
                    filled,
                    intent.price * filled,
                    0,
                    "ack",
                    "",
                    now + 500,
                ),
            ]
        elif isinstance(cmd, DecideHedge):
            new = [cmd.decide(MarketView(complete_ask=Price(4550)), now)]
        elif isinstance(cmd, Finish):
            new = [cmd.event]
        else:  # pragma: no cover - the script never leaves an order unresolved
            raise AssertionError(cmd)
        for ev in new:
            saga.apply(ev)
            trace.event(ev)
            events.append(ev)
        now += 1_000
    return events


def memory_tracer() -> tuple[SagaTracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return SagaTracer(provider), exporter


def test_one_trace_through_risk_legs_and_hedge() -> None:
    tracer, exporter = memory_tracer()
    t = tracer.begin(opportunity(), "acme")
    t.risk(RiskDecision(True, None, "approved"), 2_000, 3_000)
    events = run_saga(t, leg2_fill=6 * SIZE_SCALE)
    assert events[-1].kind == "finished"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"opportunity FED", "risk.check", "leg1", "leg2", "hedge", "hedge.complete"}
    assert len({s.context.trace_id for s in spans.values()}) == 1
    root = spans["opportunity FED"]
    assert root.parent is None and root.start_time == 1_000
    assert root.end_time == getattr(events[-1], "ts_ns", None)
    for name in ("risk.check", "leg1", "leg2", "hedge"):
        assert spans[name].parent is not None and spans[name].parent.span_id == root.context.span_id
    hedge_order = spans["hedge.complete"]
    assert hedge_order.parent is not None and hedge_order.parent.span_id == spans["hedge"].context.span_id
    attrs: Any = root.attributes
    assert attrs["arbiter.outcome"] == "hedged" and attrs["arbiter.saga_id"] == "saga-1"
    assert attrs["arbiter.tenant"] == "acme" and attrs["arbiter.expected_profit"] == "0.3"
    leg2: Any = spans["leg2"].attributes
    assert (leg2["arbiter.venue"], leg2["arbiter.filled"], leg2["arbiter.status"]) == (
        "kalshi",
        "6",
        "partial",
    )
    assert spans["leg1"].start_time < spans["leg1"].end_time <= spans["leg2"].start_time
    (decided,) = spans["hedge"].events
    assert decided.name == "hedge.decided" and decided.attributes is not None
    assert decided.attributes["choice"] == "complete" and decided.attributes["residual"] == "4"
    assert t.trace_id == f"{root.context.trace_id:032x}"


def test_risk_rejection_closes_the_trace() -> None:
    tracer, exporter = memory_tracer()
    t = tracer.begin(opportunity(), "acme")
    t.risk(RiskDecision(False, Reason.KILL_SWITCH, "kill switch on: manual"), 2_000, 2_100)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"opportunity FED", "risk.check"}
    risk: Any = spans["risk.check"]
    assert risk.attributes["arbiter.reason"] == "kill_switch" and not risk.status.is_ok
    assert spans["opportunity FED"].attributes is not None
    assert spans["opportunity FED"].attributes["arbiter.outcome"] == "rejected"


def test_file_exporter_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "spans.jsonl"
    tracer = SagaTracer(make_provider("test", "file", path=path, batch=False))
    t = tracer.begin(opportunity(), "acme")
    t.risk(RiskDecision(True, None, "approved"), 2_000, 3_000)
    run_saga(t, leg2_fill=SIZE)
    tracer.shutdown()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert {r["name"] for r in rows} == {"opportunity FED", "risk.check", "leg1", "leg2"}
    assert len({r["trace_id"] for r in rows}) == 1
    root = next(r for r in rows if r["parent_id"] is None)
    assert root["attributes"]["arbiter.outcome"] == "completed" and root["status"] == "OK"
    assert all(r["parent_id"] == root["span_id"] for r in rows if r is not root)


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def Export(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def test_otlp_export_to_a_real_grpc_receiver() -> None:
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        tracer = SagaTracer(make_provider("arbiter-test", "otlp", endpoint=f"127.0.0.1:{port}"))
        t = tracer.begin(opportunity(), "acme")
        t.risk(RiskDecision(True, None, "approved"), 2_000, 3_000)
        run_saga(t, leg2_fill=SIZE)
        assert tracer.flush()
        tracer.shutdown()
    finally:
        server.stop(0)
    spans = [
        s for req in receiver.requests for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]
    assert {s.name for s in spans} == {"opportunity FED", "risk.check", "leg1", "leg2"}
    assert len({s.trace_id for s in spans}) == 1
    service = {
        a.key: a.value.string_value for a in receiver.requests[0].resource_spans[0].resource.attributes
    }
    assert service["service.name"] == "arbiter-test"
