"""kill -9 of the executor process at random instants, against the real local venues.

A small run of the chaos bench (``python -m bench.chaos --runs 200`` is the full one): the
executor is a separate process SIGKILLed around random journal commits or after random delays,
restarted each time; afterwards every saga must be terminal, no step may have two orders, no
venue order may be unknown to the journal, and journal positions must equal venue positions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_kill_dash_nine_at_random_points_leaves_nothing_unknown(tmp_path: Path) -> None:
    out = await run_chaos(runs=12, seed=11, folder=tmp_path, timer_kills=False)
    assert out["kills"] >= 4  # the run really killed executors mid-flight
    assert out["recoveries_with_work"] >= 2  # and restarts found sagas to finish
    assert out["sagas"] >= 6
    assert out["recovery_errors"] == 0, out["details"]
    assert (out["duplicate_orders"], out["unknown_positions"], out["unresolved_sagas"]) == (0, 0, 0), (
        out["details"]
    )
