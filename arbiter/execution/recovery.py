"""Start-up recovery: finish every saga the journal shows as unfinished.

Nothing here knows *where* the previous process died. Each unfinished saga is rebuilt by replaying
its events; the pure saga then says what is missing. An intent without an answer becomes a lookup
by client order id (the executor never resends), a missing leg 2 or hedge is placed under its
deterministic id, and the saga runs to ``done`` or ``failed`` like any other. The risk
reservation journaled with the saga is restored first so the capital it holds is not handed to a
new opportunity while recovery runs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from arbiter.core.risk import RiskBook
from arbiter.core.saga import Saga
from arbiter.execution.executor import SagaExecutor

__all__ = ["RecoveryReport", "recover"]


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    sagas: int
    endings: dict[str, int] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    errors: list[str] = field(default_factory=list)


async def recover(executor: SagaExecutor, risk: RiskBook | None = None) -> RecoveryReport:
    """Drive every unfinished saga in ``executor.journal`` to a terminal state (concurrently)."""
    started = time.perf_counter()
    journal = executor.journal
    sagas: list[Saga] = []
    for saga_id in journal.unfinished():
        if risk is not None:
            reservation = journal.reservation(saga_id)
            if reservation is not None:
                risk.restore(reservation)
        sagas.append(journal.load(saga_id))
    results = await asyncio.gather(*(executor.drive(s) for s in sagas), return_exceptions=True)
    endings: dict[str, int] = {}
    errors: list[str] = []
    for saga, result in zip(sagas, results, strict=True):
        if isinstance(result, BaseException):
            errors.append(f"{saga.saga_id}: {type(result).__name__}: {result}")
            continue
        key = saga.ending.value if saga.ending is not None else "unfinished"
        endings[key] = endings.get(key, 0) + 1
    return RecoveryReport(len(sagas), endings, (time.perf_counter() - started) * 1000, errors)
