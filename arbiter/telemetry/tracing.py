"""OpenTelemetry traces of the execution path: one trace per opportunity.

The trace's root span is the opportunity (from detection); its children are the risk check, one
span per order (``leg1``, ``leg2``) and a ``hedge`` span holding the hedge decisions and the
completion/unwind orders. Spans are driven by the saga's journal events and take their start and
end times from the events' ``ts_ns``, so a trace rebuilt from the journal after a crash looks the
same as the live one, and tests are deterministic.

Exporters: OTLP over gRPC (to a collector, Tempo or Jaeger) or a JSON-lines file (no collector
needed; one span per line). The provider is an object, not the process-global one, so an engine,
a backtest and tests can each have their own.

Across processes (ADR 0144): when a saga starts, :class:`SagaTraces` writes its trace's W3C
``traceparent`` into the tenant's journal (a ``trace`` log record); whichever process finishes
the saga after a crash (the restarted arbiter actor, any recovery) reads it back and hangs the
rest of the saga under the original root span, so one trace spans the processes that ran it.
The live engine turns tracing on from the standard ``OTEL_*`` variables
(:func:`provider_from_env`); it is off by default.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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
    Saga,
    Started,
)
from arbiter.core.units import MONEY_DECIMALS, PRICE_DECIMALS, SIZE_DECIMALS, format_decimal

if TYPE_CHECKING:
    from arbiter.execution.journal import Journal

__all__ = [
    "TRACE_LOG_KIND",
    "FileSpanExporter",
    "OpportunityTrace",
    "SagaTracer",
    "SagaTraces",
    "make_provider",
    "otel_env",
    "provider_from_env",
]

log = logging.getLogger(__name__)

#: the journal ``log`` kind holding a saga's W3C trace context: ``{"saga_id", "traceparent"}``
TRACE_LOG_KIND = "trace"
_W3C = TraceContextTextMapPropagator()


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


def provider_from_env(service: str = "arbiter",
                      env: Mapping[str, str] | None = None) -> TracerProvider | None:
    """A provider exporting OTLP/gRPC as the standard ``OTEL_*`` variables say, or ``None`` (off).

    Tracing is on when ``OTEL_TRACES_EXPORTER`` is ``otlp`` (the spec's default value, but here
    it must be said: off by default), or when an OTLP endpoint is set and ``OTEL_TRACES_EXPORTER``
    is not ``none``. The exporter and the batch processor read their own settings
    (``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, ``…_HEADERS``, ``…_INSECURE``, ``OTEL_BSP_*``) and
    the resource ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``; ``process.pid`` is added so
    a trace shows which process ran which span.
    """
    env = os.environ if env is None else env
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or exporter == "none":
        return None
    if exporter != "otlp" and not (exporter == "" and endpoint):
        if exporter:
            log.error("OTEL_TRACES_EXPORTER=%s is not supported (otlp or none): tracing off", exporter)
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({
        "service.name": service, "process.pid": os.getpid()}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def otel_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``OTEL_*`` variables of this process, to hand to Ray workers in a runtime env."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k.startswith("OTEL_")}


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

    @classmethod
    def resume(cls, tracer: trace.Tracer, traceparent: str, saga_id: str, tenant: str,
               now_ns: int) -> OpportunityTrace:
        """The rest of a saga begun in another process, under that process's root span.

        The new process's own root is a ``saga.recover`` span whose parent is the original
        root (from the journaled W3C ``traceparent``); the remaining orders and the hedge hang
        under it, so one trace shows both processes' parts of the saga.
        """
        self = cls.__new__(cls)
        self._tracer = tracer
        parent = _W3C.extract({"traceparent": traceparent})
        self.root = tracer.start_span("saga.recover", context=parent, start_time=now_ns, attributes={
            "arbiter.tenant": tenant, "arbiter.saga_id": saga_id, "arbiter.pid": os.getpid()})
        self._ctx = trace.set_span_in_context(self.root)
        self._orders = {}
        self._hedge = None
        self._hedge_ctx = None
        self.saga_id = saga_id
        return self

    @property
    def trace_id(self) -> str:
        return f"{self.root.get_span_context().trace_id:032x}"

    @property
    def traceparent(self) -> str:
        """The W3C ``traceparent`` of the root span: what another process continues from."""
        carrier: dict[str, str] = {}
        _W3C.inject(carrier, context=self._ctx)
        return carrier["traceparent"]

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

    def flush(self, timeout_ms: int = 30_000) -> bool:
        return bool(self.provider.force_flush(timeout_ms))

    def shutdown(self) -> None:
        self.provider.shutdown()


@dataclass
class _Deferred:
    """An opportunity's trace-to-be while ``begin`` runs: its events, no spans yet."""

    opp: Opportunity
    events: list[Event] = field(default_factory=list)
    saga_id: str | None = None
    #: ``begin`` has returned: the next event (leg 1's answer) may build the spans
    begun: bool = False


_pending: contextvars.ContextVar[_Deferred | None] = contextvars.ContextVar(
    "arbiter_pending_trace", default=None)


class SagaTraces:
    """One tenant's live saga traces, fed by the executor's event observers (ADR 0144).

    :meth:`opened` marks an opportunity just before the executor's ``begin`` (the tick path's
    caller); the executor's observer (:meth:`observe`) keeps the saga's first events (``Started``,
    leg 1's ``Intent``) and builds the spans only once ``begin`` has returned and leg 1 is on the
    wire: span times come from the events (ADR 0096), so the trace is the same, and the tick path
    pays for a list append, not for the SDK (measured in docs/observability.md).
    :meth:`save_context` journals the trace's W3C context; :meth:`resume_unfinished` (before a
    recovery) picks the traces of the journal's unfinished sagas back up. Observers never break
    trading: failures are logged and swallowed.
    """

    def __init__(self, tracer: SagaTracer, tenant: str, journal: Journal,
                 clock: Any = time.time_ns) -> None:
        self.tracer = tracer
        self.tenant = tenant
        self.journal = journal
        self.clock = clock
        self.open: dict[str, OpportunityTrace] = {}
        self._deferred: dict[str, _Deferred] = {}

    def opened(self, opp: Opportunity) -> contextvars.Token[_Deferred | None]:
        """Mark ``opp`` for the ``begin`` that follows; give the token to :meth:`closed`."""
        return _pending.set(_Deferred(opp))

    def closed(self, token: contextvars.Token[_Deferred | None], opp: Opportunity,
               risk: RiskDecision | None, started: bool) -> None:
        """After ``begin``: a refused opportunity's trace is built and ended here."""
        deferred = _pending.get()
        _pending.reset(token)
        if deferred is None:
            return
        deferred.begun = True
        if started or deferred.saga_id is not None:
            return
        try:
            trace_ = self.tracer.begin(opp, self.tenant)
            if risk is not None:
                trace_.risk(risk, opp.detected_ns, self.clock())
            else:  # begin failed before the risk check answered
                trace_.root.end(end_time=self.clock())
        except Exception:
            log.exception("opportunity trace failed")

    def _build(self, saga_id: str) -> OpportunityTrace | None:
        deferred = self._deferred.pop(saga_id, None)
        if deferred is None:
            return self.open.get(saga_id)
        trace_ = self.tracer.begin(deferred.opp, self.tenant)
        self.open[saga_id] = trace_
        for event in deferred.events:
            self._feed(saga_id, trace_, event)
        return trace_

    def _feed(self, saga_id: str, trace_: OpportunityTrace, event: Event) -> None:
        if isinstance(event, Started) and trace_.saga_id is None:
            trace_.risk(RiskDecision(True, None, "approved"), event.plan.detected_ns, event.ts_ns)
        trace_.event(event)
        if isinstance(event, Finished):
            self.open.pop(saga_id, None)

    def observe(self, saga: Saga, event: Event) -> None:
        saga_id = saga.saga_id
        try:
            deferred = self._deferred.get(saga_id)
            if deferred is None and saga_id not in self.open and isinstance(event, Started):
                deferred = _pending.get()
                if deferred is None:
                    return
                deferred.saga_id = saga_id
                self._deferred[saga_id] = deferred
            if deferred is not None and not deferred.begun and (
                    isinstance(event, Started) or (isinstance(event, Intent) and not any(
                        isinstance(e, Intent) for e in deferred.events))):
                deferred.events.append(event)  # inside begin: leg 1 is not out yet
                return
            trace_ = self._build(saga_id)
            if trace_ is not None:
                self._feed(saga_id, trace_, event)
        except Exception:
            log.exception("saga trace failed", extra={"saga_id": saga_id})

    def save_context(self, saga_id: str) -> str | None:
        """Journal the saga's W3C context, for the process that may have to finish it.

        Call once leg 1 is on the wire (it builds the deferred spans). Returns the trace id
        (hex), for the saga's log records; ``None`` when it has no trace.
        """
        try:
            trace_ = self._build(saga_id)
        except Exception:
            log.exception("saga trace failed", extra={"saga_id": saga_id})
            return None
        if trace_ is None:
            return None
        try:
            self.journal.log(TRACE_LOG_KIND, {"saga_id": saga_id, "traceparent": trace_.traceparent},
                             self.clock())
        except Exception:
            log.exception("could not journal the trace context", extra={"saga_id": saga_id})
        return trace_.trace_id

    def resume_unfinished(self, saga_ids: Iterable[str] | None = None) -> int:
        """Continue the traces of the journal's unfinished sagas in this process."""
        wanted = set(self.journal.unfinished() if saga_ids is None else saga_ids)
        found: dict[str, str] = {}
        for _, _, body in self.journal.logs(TRACE_LOG_KIND):
            if body.get("saga_id") in wanted and isinstance(body.get("traceparent"), str):
                found[str(body["saga_id"])] = str(body["traceparent"])
        now = self.clock()
        for saga_id, parent in found.items():
            self.open[saga_id] = OpportunityTrace.resume(self.tracer.tracer, parent, saga_id,
                                                         self.tenant, now)
        return len(found)
