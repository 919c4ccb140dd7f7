"""Live saga traces from the executor, and a saga's trace continued by the process that recovers it."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.core.saga import Ending, Event, OrderFinal, Saga
from arbiter.execution.journal import Journal
from arbiter.execution.recovery import recover
from arbiter.execution.risk_manager import RiskManager
from arbiter.telemetry.tracing import TRACE_LOG_KIND, SagaTracer, SagaTraces, provider_from_env
from tests.execution.factories import PAIR, opportunity
from tests.execution.test_executor import Crash, world


def traced(provider_spans: InMemorySpanExporter) -> SagaTracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(provider_spans))
    return SagaTracer(provider)


def trace_id_hex(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_live_saga_is_one_trace_and_its_context_is_journaled(tmp_path: Path) -> None:
    wd = world(tmp_path, k_depth=7)  # leg 2 partial: a hedge completes it
    spans = InMemorySpanExporter()
    with Journal(wd.path, tenant="acme") as j:
        ex = wd.executor(j)
        traces = SagaTraces(traced(spans), "acme", j)
        ex.observers.append(traces.observe)
        opp = opportunity()
        token = traces.opened(opp)
        begun = ex.begin(opp)
        traces.closed(token, opp, begun.risk, begun.saga is not None)
        assert traces.open == {}  # nothing built inside begin: leg 1 first
        assert begun.saga is not None
        trace_id = traces.save_context(begun.saga.saga_id)
        saga = await ex.complete(begun)
        assert saga.ending is Ending.HEDGED
        (context,) = [body for _, _, body in j.logs(TRACE_LOG_KIND)]
    await wd.kalshi.close()
    await wd.poly.close()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    root = by_name[f"opportunity {opp.pair}"]
    assert root.start_time == opp.detected_ns and root.parent is None
    assert {s.context.trace_id for s in by_name.values()} == {root.context.trace_id}
    for name in ("risk.check", "leg1", "leg2", "hedge"):
        assert parent_of(by_name[name]) == root.context.span_id, name
    assert parent_of(by_name["hedge.complete"]) == by_name["hedge"].context.span_id
    assert context["saga_id"] == saga.saga_id
    version, trace_id, span_id, flags = context["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", f"{root.context.trace_id:032x}",
                                            f"{root.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    assert trace_id == trace_id_hex(root)
    assert traces.open == {}


async def test_the_recovering_process_continues_the_same_trace(tmp_path: Path) -> None:
    wd = world(tmp_path)
    first_spans, second_spans = InMemorySpanExporter(), InMemorySpanExporter()

    def die_after_leg1(saga: Saga, event: Event) -> None:
        if isinstance(event, OrderFinal) and event.step == "L1":
            raise Crash  # the process dies with leg 1 filled, leg 2 not sent

    with Journal(wd.path, tenant="acme") as j:
        ex = wd.executor(j)
        traces = SagaTraces(traced(first_spans), "acme", j)
        ex.observers += [traces.observe, die_after_leg1]
        opp = opportunity()
        token = traces.opened(opp)
        begun = ex.begin(opp)
        traces.closed(token, opp, begun.risk, True)
        assert begun.saga is not None
        traces.save_context(begun.saga.saga_id)
        with pytest.raises(Crash):
            await ex.complete(begun)
    # "another process": a new journal object, provider and tracer; nothing shared but the file
    with Journal(wd.path, tenant="acme") as j2:
        ex2 = wd.executor(j2)
        traces2 = SagaTraces(traced(second_spans), "acme", j2)
        ex2.observers.append(traces2.observe)
        assert traces2.resume_unfinished() == 1
        report = await recover(ex2)
        assert report.endings == {"completed": 1}
    await wd.kalshi.close()
    await wd.poly.close()
    first = {s.name: s for s in first_spans.get_finished_spans()}
    second = {s.name: s for s in second_spans.get_finished_spans()}
    assert set(first) == {"risk.check", "leg1"}  # the root died with the process
    root_id = parent_of(first["leg1"])
    recovered = second["saga.recover"]
    assert recovered.context.trace_id == first["leg1"].context.trace_id
    assert parent_of(recovered) == root_id and recovered.parent is not None
    assert recovered.parent.is_remote
    assert parent_of(second["leg2"]) == recovered.context.span_id
    assert recovered.attributes is not None and recovered.attributes["arbiter.outcome"] == "completed"


def test_tracing_is_off_unless_the_otel_variables_say_otlp() -> None:
    assert provider_from_env(env={}) is None
    assert provider_from_env(env={"OTEL_TRACES_EXPORTER": "none",
                                  "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}) is None
    assert provider_from_env(env={"OTEL_TRACES_EXPORTER": "zipkin"}) is None
    on = provider_from_env(env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert on is not None
    assert on.resource.attributes["process.pid"] > 0
    on.shutdown()


async def test_submit_alone_is_traced_and_a_refusal_ends_its_trace(tmp_path: Path) -> None:
    wd = world(tmp_path)
    spans = InMemorySpanExporter()
    with Journal(wd.path, tenant="acme") as j:
        book = RiskBook(RiskLimits())
        rm = RiskManager(book, wd.clients, {PAIR.name: PAIR}, journal=j)
        await rm.refresh_balances()
        ex = wd.executor(j, risk=rm)
        traces = SagaTraces(traced(spans), "acme", j)
        ex.observers.append(traces.observe)
        opp = opportunity()
        token = traces.opened(opp)  # no save_context: the first answer builds the spans
        result = await ex.submit(opp)
        traces.closed(token, opp, result.risk, result.started)
        assert result.saga is not None and result.saga.ending is Ending.COMPLETED
        book.trip("operator", 1)
        refused = opportunity()
        token = traces.opened(refused)
        begun = ex.begin(refused)
        assert begun.saga is None and begun.risk is not None and not begun.risk.approved
        traces.closed(token, refused, begun.risk, False)
    await wd.kalshi.close()
    await wd.poly.close()
    finished = spans.get_finished_spans()
    roots = [s for s in finished if s.parent is None]
    assert len(roots) == 2 and len({s.context.trace_id for s in roots}) == 2
    by_trace: dict[int, list[str]] = {}
    for s in finished:
        by_trace.setdefault(s.context.trace_id, []).append(s.name)
    traded, rejected = (sorted(by_trace[r.context.trace_id]) for r in roots)
    assert {"risk.check", "leg1", "leg2"} <= set(traded)
    assert rejected == sorted([f"opportunity {refused.pair}", "risk.check"])
    assert roots[1].attributes is not None and roots[1].attributes["arbiter.outcome"] == "rejected"
