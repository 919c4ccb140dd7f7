"""Glue between the execution layer and the operator side: control gate, streams, traces, metrics.

:class:`ObservedJournal` is the executor's journal with observers called after every durable
saga event, so the saga stream, the trace and the metrics follow a saga live, and only ever show
what the journal holds. :class:`OperatedTenant` runs one tenant's opportunities through the
control gate (pause/stop/kill) and the executor, and ties the observers to the opportunity that
caused the saga through a context variable (the journal is written from the task that called
``submit``), so concurrent sagas never mix traces.

Observers must never break trading: an exception in one is logged and swallowed.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from arbiter.control.engine import InProcessEngine
from arbiter.core.detection import Opportunity
from arbiter.core.risk import RiskDecision
from arbiter.core.saga import Intent, Saga, Started
from arbiter.execution.executor import SagaExecutor, SubmitResult
from arbiter.execution.journal import Journal
from arbiter.telemetry.logging import log_context
from arbiter.telemetry.tracing import OpportunityTrace, SagaTracer

__all__ = ["ObservedJournal", "OperatedTenant", "SagaObserver"]

log = logging.getLogger(__name__)

SagaObserver = Callable[[Saga, Any], None]

_trace: contextvars.ContextVar[OpportunityTrace | None] = contextvars.ContextVar(
    "arbiter_trace", default=None)
_submitted_ns: contextvars.ContextVar[int] = contextvars.ContextVar("arbiter_submitted_ns", default=0)


class ObservedJournal(Journal):
    """A :class:`Journal` that tells observers about each event once it is durable."""

    def __init__(self, path: str | Path, observers: Iterable[SagaObserver] = (), **kw: Any) -> None:
        super().__init__(path, **kw)
        self.observers: list[SagaObserver] = list(observers)

    def _notify(self, saga: Saga, event: Any) -> None:
        for observer in self.observers:
            try:
                observer(saga, event)
            except Exception:
                log.exception("saga observer failed", extra={"saga_id": saga.saga_id})

    def start(self, started: Started, reservation: Any = None, first: Intent | None = None,
              *, saga: Saga | None = None) -> Saga:
        saga = super().start(started, reservation, first, saga=saga)
        self._notify(saga, started)
        if first is not None:
            self._notify(saga, first)
        return saga

    def record(self, saga: Saga, event: Any) -> None:
        super().record(saga, event)
        self._notify(saga, event)


class OperatedTenant:
    """One tenant's trading under the control plane: gate, submit, and report."""

    def __init__(self, tenant: str, engine: InProcessEngine, executor: SagaExecutor,
                 tracer: SagaTracer | None = None, clock: Callable[[], int] = time.time_ns) -> None:
        self.tenant = tenant
        self.engine = engine
        self.executor = executor
        self.tracer = tracer
        self.clock = clock
        self.skipped = 0
        journal = executor.journal
        if isinstance(journal, ObservedJournal):
            journal.observers.append(self.observe)

    def observe(self, saga: Saga, event: Any) -> None:
        """Journal observer: saga stream (and the engine's saga metrics), trace spans."""
        self.engine.saga_progress(self.tenant, saga, event)
        trace = _trace.get()
        if trace is not None:
            if isinstance(event, Started):
                trace.risk(RiskDecision(True, None, "approved"), _submitted_ns.get(), event.ts_ns)
            trace.event(event)

    async def handle(self, opp: Opportunity) -> SubmitResult | None:
        """Publish the opportunity; trade it unless the operator holds this tenant or pair."""
        self.engine.publish_opportunity(self.tenant, opp)
        if not self.engine.may_trade(self.tenant, opp.pair):
            self.skipped += 1
            return None
        trace = self.tracer.begin(opp, self.tenant) if self.tracer is not None else None
        t0 = self.clock()
        tokens = (_trace.set(trace), _submitted_ns.set(t0))
        try:
            ids = {"tenant_id": self.tenant, "trace_id": trace.trace_id if trace else None}
            with log_context(**ids):
                result = await self.executor.submit(opp)
        finally:
            _trace.reset(tokens[0])
            _submitted_ns.reset(tokens[1])
        if result.saga is None and result.risk is not None:
            if trace is not None:
                trace.risk(result.risk, t0, self.clock())
            if self.engine.metrics is not None:
                reason = result.risk.reason.value if result.risk.reason else "unknown"
                self.engine.metrics.risk_rejected(self.tenant, reason)
        return result
