"""One saga, two Ray worker processes, one trace: the W3C context crosses through the journal.

Actor A runs a saga with tracing on and its process dies once leg 1 is filled (after shipping
its spans, as a batch would); actor B, another worker process, recovers the saga from the same
journal file. Both export by OTLP/gRPC (configured by the standard ``OTEL_*`` variables) to a
receiver in this process, which checks that B's spans hang under A's root span.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import ray

from arbiter.core.saga import Event, OrderFinal, Saga
from arbiter.execution.journal import Journal
from arbiter.execution.recovery import recover
from arbiter.telemetry.tracing import SagaTracer, SagaTraces, provider_from_env
from tests.engine.ray_support import ray_session
from tests.execution.factories import opportunity
from tests.execution.test_executor import world
from tests.telemetry.otlp_receiver import otlp_receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class SagaHost:
    """One tenant's executor in a Ray worker, tracing as its environment says."""

    def __init__(self, workdir: str) -> None:
        provider = provider_from_env("arbiter-test")
        assert provider is not None, "the OTEL_* variables did not reach the worker"
        self.tracer = SagaTracer(provider)
        self.wd = world(Path(workdir))

    def pid(self) -> int:
        return os.getpid()

    async def run_and_die_after_leg1(self) -> None:
        with Journal(self.wd.path, tenant="acme") as journal:
            ex = self.wd.executor(journal)
            traces = SagaTraces(self.tracer, "acme", journal)

            def die(saga: Saga, event: Event) -> None:
                if isinstance(event, OrderFinal) and event.step == "L1":
                    self.tracer.flush(20_000)
                    os._exit(1)

            ex.observers += [traces.observe, die]
            opp = opportunity()
            token = traces.opened(opp)
            begun = ex.begin(opp)
            traces.closed(token, opp, begun.risk, begun.saga is not None)
            assert begun.saga is not None
            traces.save_context(begun.saga.saga_id)
            await ex.complete(begun)

    async def recover(self) -> dict[str, Any]:
        with Journal(self.wd.path, tenant="acme") as journal:
            ex = self.wd.executor(journal)
            traces = SagaTraces(self.tracer, "acme", journal)
            ex.observers.append(traces.observe)
            resumed = traces.resume_unfinished()
            report = await recover(ex)
        self.tracer.flush(20_000)
        return {"resumed": resumed, "endings": report.endings, "pid": os.getpid()}


def test_a_recovered_saga_continues_its_trace_in_another_process(tmp_path: Path) -> None:
    with otlp_receiver() as (receiver, port):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
               "OTEL_BSP_SCHEDULE_DELAY": "100"}
        with ray_session("trace-across-actors", address="local", num_cpus=2,
                         include_dashboard=False):  # never some other cluster on the box
            host = ray.remote(SagaHost).options(max_restarts=0, runtime_env={"env_vars": env})
            a = host.remote(str(tmp_path))
            pid_a = ray.get(a.pid.remote(), timeout=60)
            with pytest.raises(ray.exceptions.RayActorError):
                ray.get(a.run_and_die_after_leg1.remote(), timeout=60)
            b = host.remote(str(tmp_path))
            result = ray.get(b.recover.remote(), timeout=60)
        spans = receiver.snapshot()
    assert result["resumed"] == 1 and result["endings"] == {"completed": 1}
    assert result["pid"] != pid_a
    first = {s.name: s for s in spans if s.pid == pid_a}
    second = {s.name: s for s in spans if s.pid == result["pid"]}
    assert set(first) == {"risk.check", "leg1"}, spans  # A's root died with A
    root_id = first["leg1"].parent_id
    assert first["risk.check"].parent_id == root_id
    recovered = second["saga.recover"]
    assert recovered.trace_id == first["leg1"].trace_id
    assert recovered.parent_id == root_id
    assert second["leg2"].parent_id == recovered.span_id
    assert second["leg2"].trace_id == recovered.trace_id
    assert recovered.attributes["arbiter.outcome"] == "completed"
