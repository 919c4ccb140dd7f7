"""OpenTelemetry traces of the execution path: one trace per opportunity.

The trace's root span is the opportunity (from detection); its children are the risk check, one
span per order (``leg1``, ``leg2``) and a ``hedge`` span holding the hedge decisions and the
completion/unwind orders. Spans are driven by the saga's journal events and take their start and
end times from the events' ``ts_ns``, so a trace rebuilt from the journal after a crash looks the
same as the live one, and tests are deterministic.

Exporters: OTLP over gRPC (to a collector, Tempo or Jaeger) or a JSON-lines file (no collector
needed; one span per line). The provider is an object, not the process-global one, so an engine,
a backtest and tests can each have their own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, Status, StatusCode

from arbiter.core.detection import Opportunity
from arbiter.core.risk import RiskDecision
from arbiter.core.saga import (
    Decided,
    Ending,
    Event,
    Finished,
    Intent,
    OrderFinal,
    OrderUnknown,
    Role,
    Started,
)
from arbiter.core.units import MONEY_DECIMALS, PRICE_DECIMALS, SIZE_DECIMALS, format_decimal

__all__ = ["FileSpanExporter", "OpportunityTrace", "SagaTracer", "make_provider"]


class FileSpanExporter(SpanExporter):
    """Appends finished spans to a file as JSON lines (trace/span ids in hex, times in ns)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            ctx = s.get_span_context()
            assert ctx is not None
            lines.append(json.dumps({
                "trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}",
                "parent_id": f"{s.parent.span_id:016x}" if s.parent is not None else None,
                "name": s.name, "start_ns": s.start_time, "end_ns": s.end_time,
                "status": s.status.status_code.name, "attributes": dict(s.attributes or {}),
                "events": [{"name": e.name, "ts_ns": e.timestamp, "attributes": dict(e.attributes or {})}
                           for e in s.events],
            }, default=str))
        with self._lock, self.path.open("a") as f:
            f.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def make_provider(service: str = "arbiter", exporter: str = "none", path: Path | None = None,
                  endpoint: str | None = None, batch: bool = True) -> TracerProvider:
    """``exporter``: ``otlp`` (gRPC to ``endpoint``, default localhost:4317), ``file`` or ``none``."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    span_exporter: SpanExporter | None
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=endpoint or "localhost:4317", insecure=True)
    elif exporter == "file":
        if path is None:
            raise ValueError("the file exporter needs a path")
        span_exporter = FileSpanExporter(path)
    elif exporter == "none":
        span_exporter = None
    else:
        raise ValueError(f"unknown exporter {exporter!r} (otlp, file, none)")
    if span_exporter is not None:
        processor = BatchSpanProcessor(span_exporter) if batch else SimpleSpanProcessor(span_exporter)
        provider.add_span_processor(processor)
    return provider


def _money(v: int) -> str:
    return format_decimal(v, MONEY_DECIMALS)


class OpportunityTrace:
    """The spans of one opportunity; feed it the risk decision and the saga's events in order."""

    def __init__(self, tracer: trace.Tracer, opp: Opportunity, tenant: str) -> None:
        self._tracer = tracer
        self.root: Span = tracer.start_span(
            f"opportunity {opp.pair}", start_time=opp.detected_ns, attributes={
                "arbiter.tenant": tenant, "arbiter.pair": opp.pair, "arbiter.direction": opp.direction,
                "arbiter.size": format_decimal(opp.size, SIZE_DECIMALS), "arbiter.cost": _money(opp.cost),
                "arbiter.fees": _money(opp.fees), "arbiter.expected_profit": _money(opp.profit),
            })
        self._ctx = trace.set_span_in_context(self.root)
        self._orders: dict[str, Span] = {}
        self._hedge: Span | None = None
        self._hedge_ctx: Any = None
        self.saga_id: str | None = None

    @property
    def trace_id(self) -> str:
        return f"{self.root.get_span_context().trace_id:032x}"

    def risk(self, decision: RiskDecision, start_ns: int, end_ns: int) -> None:
        span = self._tracer.start_span("risk.check", context=self._ctx, start_time=start_ns, attributes={
            "arbiter.approved": decision.approved,
            "arbiter.reason": decision.reason.value if decision.reason else "",
            "arbiter.detail": decision.detail,
        })
        if not decision.approved:
            span.set_status(Status(StatusCode.ERROR, decision.detail))
        span.end(end_time=end_ns)
        if not decision.approved:
            self.root.set_attribute("arbiter.outcome", "rejected")
            self.root.set_status(Status(StatusCode.OK))
            self.root.end(end_time=end_ns)

    def event(self, ev: Event) -> None:
        if isinstance(ev, Started):
            self.saga_id = ev.plan.saga_id
            self.root.set_attribute("arbiter.saga_id", ev.plan.saga_id)
            self.root.add_event("saga.started", timestamp=ev.ts_ns)
        elif isinstance(ev, Intent):
            hedging = ev.role in (Role.COMPLETE, Role.UNWIND)
            parent = self._hedge_ctx if hedging and self._hedge_ctx is not None else self._ctx
            name = f"hedge.{ev.role.value}" if hedging else ev.role.value
            self._orders[ev.step] = self._tracer.start_span(
                name, context=parent, start_time=ev.ts_ns, attributes={
                "arbiter.step": ev.step, "arbiter.cid": ev.cid, "arbiter.venue": ev.venue,
                "arbiter.market": ev.market, "arbiter.outcome": ev.outcome.value, "arbiter.action": ev.action,
                "arbiter.price": format_decimal(ev.price, PRICE_DECIMALS),
                "arbiter.size": format_decimal(ev.size, SIZE_DECIMALS),
                })
        elif isinstance(ev, OrderUnknown):
            span = self._orders.get(ev.step)
            if span is not None:
                span.add_event("order.unknown", {"error": ev.error}, timestamp=ev.ts_ns)
        elif isinstance(ev, OrderFinal):
            span = self._orders.pop(ev.step, None)
            if span is not None:
                span.set_attributes({
                    "arbiter.order_id": ev.order_id, "arbiter.status": ev.status, "arbiter.source": ev.source,
                    "arbiter.filled": format_decimal(ev.filled, SIZE_DECIMALS),
                    "arbiter.fill_cost": _money(ev.cost), "arbiter.fill_fees": _money(ev.fees),
                })
                if ev.status == "rejected":
                    span.set_status(Status(StatusCode.ERROR, ev.detail))
                span.end(end_time=ev.ts_ns)
        elif isinstance(ev, Decided):
            if self._hedge is None:
                self._hedge = self._tracer.start_span("hedge", context=self._ctx, start_time=ev.ts_ns)
                self._hedge_ctx = trace.set_span_in_context(self._hedge)
            d = ev.decision
            self._hedge.add_event("hedge.decided", {
                "attempt": d.attempt, "choice": d.choice.value,
                "residual": format_decimal(d.residual, SIZE_DECIMALS), "reason": d.reason,
            }, timestamp=ev.ts_ns)
        elif isinstance(ev, Finished):
            self._finish(ev)

    def _finish(self, ev: Finished) -> None:
        for span in self._orders.values():
            span.end(end_time=ev.ts_ns)
        self._orders.clear()
        failed = ev.ending is Ending.FAILED
        if self._hedge is not None:
            if failed:
                self._hedge.set_status(Status(StatusCode.ERROR, ev.reason))
            self._hedge.end(end_time=ev.ts_ns)
        self.root.set_attributes({
            "arbiter.outcome": ev.ending.value, "arbiter.pnl": _money(ev.pnl),
            "arbiter.residual": format_decimal(ev.residual, SIZE_DECIMALS), "arbiter.reason": ev.reason,
        })
        self.root.set_status(Status(StatusCode.ERROR, ev.reason) if failed else Status(StatusCode.OK))
        self.root.end(end_time=ev.ts_ns)


class SagaTracer:
    """Factory of :class:`OpportunityTrace` on one provider."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("arbiter.execution")

    def begin(self, opp: Opportunity, tenant: str) -> OpportunityTrace:
        return OpportunityTrace(self.tracer, opp, tenant)

    def flush(self) -> bool:
        return bool(self.provider.force_flush())

    def shutdown(self) -> None:
        self.provider.shutdown()
