"""What a run did, read from the journal: sagas by ending, PnL, residuals (docs/adr/0172).

An actor's counters die with its process. After a ``kill -9`` of the arbiter the restarted
incarnation counted only its own sagas, and the run summary of issue 23 said "failed 0, PnL
$7.09" where the journal had 2 failed sagas and $5.30. Every figure an operator reads at the end
of a run, or in ``status`` while it runs, is therefore a query over the tenant's journal, which
every incarnation writes before it acts: :func:`read_journal_summary` counts the sagas started or
finished since a moment (the run's start, or the start of the UTC day), sums their
settlement-valued PnL and lists the residuals reported since then.

It reads through a read-only SQLite connection of its own, so it can run on a worker thread
(``asyncio.to_thread``) beside the arbiter's event loop: on a busy day the aggregate takes
milliseconds (6-11 ms for 20,000 sagas on the shared 2-core machine), which must not sit on the
tick path. WAL mode lets it read while the journal's owner writes.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from arbiter.core.residual import RESIDUAL_LOG
from arbiter.core.risk import DAY_NS
from arbiter.execution.journal import Journal

__all__ = ["day_start", "journal_summary", "merge_summaries", "read_journal_summary"]


def day_start(now_ns: int) -> int:
    """The start of the UTC day of ``now_ns`` (the window of the day's PnL and kill switch)."""
    return now_ns // DAY_NS * DAY_NS


def journal_summary(journal: Journal, since_ns: int) -> dict[str, Any]:
    """:func:`read_journal_summary` of an open journal, its pending projections written first."""
    journal.flush()
    return read_journal_summary(journal.path, since_ns)


def read_journal_summary(path: str | Path, since_ns: int) -> dict[str, Any]:
    """Sagas (by ending, ``unfinished`` for those still open), PnL and residuals since ``since_ns``.

    A saga counts when it started or changed in the window (``updated_ns``, never before its
    ``created_ns``); PnL is the sum over those that finished (each saga's own, settlement-valued:
    residual contracts count 0). Residuals are the journal's reports of the window, as journaled
    (name, contracts, cost, mark, value, reason).
    """
    uri = f"file:{Path(path)}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
        rows = db.execute(
            "SELECT COALESCE(ending, 'unfinished'), COUNT(*), COALESCE(SUM(pnl), 0) FROM sagas"
            " WHERE updated_ns >= ? GROUP BY 1", (since_ns,)
        ).fetchall()
        logs = db.execute(
            "SELECT body FROM log WHERE kind = ? AND ts_ns >= ? ORDER BY id",
            (RESIDUAL_LOG, since_ns),
        ).fetchall()
    sagas = {str(k): int(n) for k, n, _ in rows}
    pnl = sum(int(p) for k, _, p in rows if k != "unfinished")
    residuals = [json.loads(body) for (body,) in logs]
    return {
        "since_ns": since_ns, "sagas": sagas, "pnl": pnl, "residuals": residuals,
        "residual_contracts": sum(int(r["contracts"]) for r in residuals),
        "residual_value": sum(int(r["value"]) for r in residuals),
    }


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Several tenants' :func:`read_journal_summary` as one (the run summary's totals)."""
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
