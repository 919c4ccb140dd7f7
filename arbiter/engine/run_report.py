"""What a run did, read from the journal: sagas by ending, PnL, residuals (docs/adr/0172).

An actor's counters die with its process. After a ``kill -9`` of the arbiter the restarted
incarnation counted only its own sagas, and the run summary of issue 23 said "failed 0, PnL
$7.09" where the journal had 2 failed sagas and $5.30. Every figure an operator reads at the end
of a run, or in ``status`` while it runs, is therefore a query over the tenant's journal, which
every incarnation writes before it acts: :func:`journal_summary` counts the sagas started or
finished since a moment (the run's start, or the start of the UTC day), sums their
settlement-valued PnL and lists the residuals reported since then.
"""

from __future__ import annotations

from typing import Any

from arbiter.core.residual import RESIDUAL_LOG
from arbiter.core.risk import DAY_NS
from arbiter.engine.journal import Journal

__all__ = ["day_start", "journal_summary", "merge_summaries"]


def day_start(now_ns: int) -> int:
    """The start of the UTC day of ``now_ns`` (the window of the day's PnL and kill switch)."""
    return now_ns // DAY_NS * DAY_NS


def journal_summary(journal: Journal, since_ns: int) -> dict[str, Any]:
    """Sagas (by ending, ``unfinished`` for those still open), PnL and residuals since ``since_ns``.

    PnL is the sum over sagas that *finished* in the window (each saga's own, settlement-valued:
    residual contracts count 0). Residuals are the journal's reports of the window, each as
    journaled (name, contracts, cost, mark, value, reason).
    """
    sagas: dict[str, int] = {}
    pnl = 0
    for row in journal.sagas_since(since_ns):
        key = row.ending or "unfinished"
        sagas[key] = sagas.get(key, 0) + 1
        if row.ending is not None and row.updated_ns >= since_ns:
            pnl += row.pnl
    residuals = [body for ts, _, body in journal.logs(RESIDUAL_LOG) if ts >= since_ns]
    return {
        "since_ns": since_ns, "sagas": sagas, "pnl": pnl, "residuals": residuals,
        "residual_contracts": sum(int(r["contracts"]) for r in residuals),
        "residual_value": sum(int(r["value"]) for r in residuals),
    }


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Several tenants' :func:`journal_summary` as one (the run summary's totals)."""
    sagas: dict[str, int] = {}
    residuals: list[dict[str, Any]] = []
    pnl = 0
    for s in summaries:
        for k, v in s.get("sagas", {}).items():
            sagas[k] = sagas.get(k, 0) + int(v)
        pnl += int(s.get("pnl", 0))
        residuals += list(s.get("residuals", []))
    return {
        "sagas": sagas, "pnl": pnl, "residuals": residuals,
        "residual_contracts": sum(int(r["contracts"]) for r in residuals),
        "residual_value": sum(int(r["value"]) for r in residuals),
    }
