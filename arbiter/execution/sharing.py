"""The tick path's launcher when several tenants trade: one opportunity, one tenant (ADR 0147).

The :class:`~arbiter.execution.tickpath.TickPath` hands an admitted opportunity to one
:class:`~arbiter.execution.tickpath.Launcher`; with several tenants that launcher is a
:class:`SharedLauncher`. It asks the core rotation (:class:`~arbiter.core.allocation.FairShare`)
in which order to offer the opportunity, skips the tenants that cannot take it now (operator
pause or stop, reconciliation block, on the bench, not trading the pair) and offers it to the
others in turn, synchronously, until one tenant's risk book admits it: that tenant's leg 1 is on
the wire when :meth:`start` returns, and it alone is charged the contracts. A refusal consumed
nothing (no reservation, no journal row), so the next tenant can be asked within the same tick.

Isolation lives here too: a saga that raised, is still running after ``stall_ns`` or met a
venue refusing the tenant's credentials puts that tenant on the :class:`~arbiter.core.allocation.Bench`
(its turns go to the others) for a backoff that doubles per strike; a completed saga with
no strike during it takes it off. The tick path's gate still keeps a pair
to one saga at a time across all tenants: while a saga's legs on a pair have unknown outcomes,
the liquidity it may have taken is unknown too, and a second tenant firing into it would race
the first beyond what the book shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from arbiter.core.allocation import Bench, FairShare
from arbiter.core.detection import Opportunity
from arbiter.execution.tickpath import SagaReport

__all__ = ["Member", "SharedLauncher", "TenantLauncher"]

log = logging.getLogger(__name__)


class TenantLauncher(Protocol):
    """One tenant's side: begin a saga now or say why not (nothing consumed on a refusal)."""

    def try_start(self, opportunity: Opportunity) -> Awaitable[SagaReport] | str: ...


@dataclass
class Member:
    """A tenant in the rotation: its launcher and the pairs its tier lets it trade."""

    name: str
    launcher: TenantLauncher
    #: pair names this tenant trades (``check_markets`` capped at its tier)
    pairs: Collection[str]
    sagas: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    pnl: int = 0


class SharedLauncher:
    """Fair, deterministic allotment of each opportunity to exactly one tenant."""

    def __init__(
        self,
        blocked: Callable[[str, str], str | None] | None = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        stall_ns: int = 10_000_000_000,
        bench: Bench | None = None,
        on_launch: Callable[[str, Opportunity], None] | None = None,
        on_bench: Callable[[str, str], None] | None = None,
    ) -> None:
        self.fair = FairShare()
        self.bench = bench or Bench()
        self.blocked = blocked
        self.clock_ns = clock_ns
        self.stall_ns = stall_ns
        self.on_launch = on_launch
        self.on_bench = on_bench
        self.members: dict[str, Member] = {}

    # -- membership ---------------------------------------------------------------------------
    def add(self, name: str, launcher: TenantLauncher, weight: int, pairs: Iterable[str]) -> None:
        self.fair.add(name, weight)  # raises on a duplicate before anything changes
        self.members[name] = Member(name, launcher, frozenset(pairs))

    def remove(self, name: str) -> Member | None:
        """Out of the rotation at once: no new saga for it from the next tick on."""
        member = self.members.pop(name, None)
        if member is not None:
            self.fair.remove(name)
            self.bench.clear(name)
        return member

    def set_weight(self, name: str, weight: int) -> None:
        self.fair.set_weight(name, weight)

    def set_pairs(self, name: str, pairs: Iterable[str]) -> None:
        self.members[name].pairs = frozenset(pairs)

    def strike(self, name: str, reason: str) -> None:
        """Bench ``name`` (bad credentials, stalled venue): its turns go to the others."""
        if name not in self.members:
            return
        out = self.bench.strike(name, reason, self.clock_ns())
        log.warning("tenant %s benched for %.1f s: %s (strike %d)", name,
                    (out.until_ns - self.clock_ns()) / 1e9, reason, out.strikes)
        if self.on_bench is not None:
            self.on_bench(name, reason)

    # -- the tick path ------------------------------------------------------------------------
    def why_not(self, name: str, pair: str, now_ns: int) -> str | None:
        member = self.members[name]
        if pair not in member.pairs:
            return "not_traded"
        benched = self.bench.benched(name, now_ns)
        if benched is not None:
            return benched
        return self.blocked(name, pair) if self.blocked is not None else None

    def start(self, opportunity: Opportunity) -> Awaitable[SagaReport]:
        now = self.clock_ns()
        first_refusal: tuple[str, str] | None = None
        eligible = []
        for name in self.members:
            reason = self.why_not(name, opportunity.pair, now)
            if reason is None:
                eligible.append(name)
            elif reason != "not_traded":
                self.members[name].refused[reason] += 1
                first_refusal = first_refusal or (name, reason)
        for name in self.fair.rank(eligible):
            member = self.members[name]
            try:
                pending = member.launcher.try_start(opportunity)
            except Exception:  # its journal or client broke: bench it, ask the next tenant
                log.exception("tenant %s could not start a saga for %s", name, opportunity.pair)
                member.refused["start_error"] += 1
                self.strike(name, "start_error")
                first_refusal = first_refusal or (name, "start_error")
                continue
            if isinstance(pending, str):
                member.refused[pending] += 1
                first_refusal = first_refusal or (name, pending)
                continue
            self.fair.charge(name, opportunity.size)
            if self.on_launch is not None:
                self.on_launch(name, opportunity)
            return self._finish(member, opportunity, pending, now)
        tenant, reason = first_refusal or ("-", "no_tenant")
        return _ready(SagaReport("-", opportunity.pair, opportunity.direction,
                                 f"rejected:{reason}", 0, tenant))

    async def _finish(self, member: Member, opportunity: Opportunity,
                      pending: Awaitable[SagaReport], started_ns: int) -> SagaReport:
        stalled = False

        def on_stall() -> None:  # still running after stall_ns: bench now, not when it ends
            nonlocal stalled
            stalled = True
            self.strike(member.name, "stalled")

        timer = asyncio.get_running_loop().call_later(self.stall_ns / 1e9, on_stall)
        try:
            report = await pending
        except Exception:
            self.strike(member.name, "saga_error")
            raise
        finally:
            timer.cancel()
        member.sagas[report.outcome] += 1
        member.pnl += report.pnl
        if not stalled and self.clock_ns() - started_ns > self.stall_ns:  # the injected clock
            self.strike(member.name, "stalled")
        elif report.outcome == "completed":  # both legs filled: its venues served it
            last = self.bench.record(member.name)
            if last is None or last.at_ns < started_ns:  # no strike during this very saga
                self.bench.clear(member.name)
        if report.tenant != member.name:
            report = SagaReport(report.saga_id, report.pair, report.direction, report.outcome,
                                report.pnl, member.name)
        return report

    def summary(self) -> dict[str, dict[str, object]]:
        """Per tenant: weight, contracts and opportunities allotted, outcomes, refusals."""
        now = self.clock_ns()
        return {name: {"weight": self.fair.weight(name), "served": self.fair.served[name],
                       "allotted": self.fair.allotted[name], "sagas": dict(m.sagas),
                       "refused": dict(m.refused), "pnl": m.pnl,
                       "benched": self.bench.benched(name, now), "pairs": len(m.pairs)}
                for name, m in self.members.items()}


async def _ready(report: SagaReport) -> SagaReport:
    return report
