"""One tenant's trading objects, as the arbiter process holds them: journal, clients, risk shell
and saga executor (built by :func:`arbiter.app.build.build_tenant`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from arbiter.execution.executor import SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.risk_manager import RiskManager
from arbiter.venues.base import ExchangeClient

if TYPE_CHECKING:  # the OpenTelemetry SDK is imported where tracing is on
    from arbiter.telemetry.tracing import SagaTraces

__all__ = ["TenantRuntime"]


@dataclass
class TenantRuntime:
    """Everything one tenant trades with inside the arbiter process."""

    name: str
    journal: Journal
    clients: dict[str, ExchangeClient]
    risk: RiskManager
    executor: SagaExecutor
    #: the tenant's live saga traces when tracing is on (ADR 0144)
    traces: SagaTraces | None = None

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.journal.close()
