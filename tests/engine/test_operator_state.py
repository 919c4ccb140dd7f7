"""The operator's switches and the kill switch outlive the arbiter (ADR 0142): journaled on every
change, read back at boot. In process against the local venues; the Ray restart is in
tests/engine/test_actors_ops.py."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from arbiter.core.risk import RiskBook, RiskLimits
from arbiter.engine.arbiter import Arbiter
from arbiter.execution.executor import SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.operator import OPERATOR_STATE, OperatorState
from arbiter.execution.risk_manager import RiskManager
from arbiter.execution.tenant import TenantRuntime
from tests.engine.test_reconcile_wiring import engine, until

__all__ = ["engine"]  # the fixture, imported for this module
pytestmark = [pytest.mark.integration]


def test_operator_state_round_trips_through_json() -> None:
    state = OperatorState()
    for action, pair in (("pause", "a"), ("stop", "b"), ("stop", None)):
        state.apply(action, pair)
    assert OperatorState.from_json(state.to_json()) == state
    assert OperatorState.from_json({}) == OperatorState()


async def test_pause_stop_and_kill_survive_a_new_arbiter(engine: Arbiter) -> None:
    pair = engine.config.pairs[0].name
    assert (await engine.control("pause", "paper", pair))[0]
    assert (await engine.control("stop", "paper", engine.config.pairs[1].name))[0]
    assert await engine.trip("paper", "operator says stop")
    assert [k for _, k, _ in engine.tenants["paper"].journal.logs(OPERATOR_STATE)] == [
        OPERATOR_STATE] * 2
    await engine.stop()

    again = Arbiter(engine.config.with_overrides(metrics_port=None))
    try:
        await until(lambda: again.ready_ns is not None or again.error, 30, "the new arbiter")
        assert again.error is None
        (row,) = await again.control_status("paper")
        assert row["paused_pairs"] == sorted([pair, engine.config.pairs[1].name])
        assert row["killed"] == "operator says stop"
        assert again._blocked("paper", pair) == "paused"
        assert {a["kind"] for a in again._alerts} >= {"operator", "kill_switch"}
        # a reset and a resume are journaled the same way and read back as such
        assert await again.reset("paper")
        assert (await again.control("resume", "paper", None))[0]
        assert (await again.control("start", "paper", None))[0]
    finally:
        await again.stop()
        again._metrics_task.cancel()
    third = Arbiter(engine.config.with_overrides(metrics_port=None))
    try:
        await until(lambda: third.ready_ns is not None or third.error, 30, "the third arbiter")
        (row,) = await third.control_status("paper")
        assert row["paused_pairs"] == [] and row["killed"] is None and not row["paused_all"]
    finally:
        await third.stop()
        third._metrics_task.cancel()


def test_unsaved_switches_win_over_the_journal(tmp_path: Path) -> None:
    """A switch flipped while the arbiter boots (its journal not open yet) is not overwritten
    by the journal's older word: it is written instead."""
    journal = Journal(tmp_path / "t.sqlite")
    journal.log(OPERATOR_STATE, OperatorState().to_json(), 1)
    risk = RiskManager(RiskBook(RiskLimits()), {}, {}, journal)
    runtime = TenantRuntime("t", journal, {}, risk, SagaExecutor(journal, {}, {}, risk=risk))
    arb = Arbiter.__new__(Arbiter)
    arb._ops = {"t": OperatorState(paused_all=True)}
    arb._ops_unsaved = {"t"}
    arb._alerts = deque()
    try:
        arb._restore_operator(runtime)
        assert arb._ops["t"].paused_all
        *_, (_, _, last) = journal.logs(OPERATOR_STATE)
        assert last["paused_all"] is True and arb._ops_unsaved == set()
    finally:
        journal.close()
