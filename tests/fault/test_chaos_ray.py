"""The Ray-level chaos bench, a few runs: ``kill -9`` of the arbiter actor, the executor actor and
a whole worker node while a saga is in flight (``python -m bench.chaos --ray --runs 200`` is the
full one). Afterwards no step may have two venue orders, no saga or order may be left unknown, no
contract may be one-sided without a residual report, and ``status`` and the executor's summary
must equal the journal's account.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos_ray import KINDS, run_ray_chaos

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_actor_and_node_kills_mid_saga_leave_nothing_unknown_or_unreported(
    tmp_path: Path,
) -> None:
    out = await run_ray_chaos(runs=3, seed=5, folder=tmp_path)
    assert set(out["by_kind"]) == set(KINDS)
    for kind, row in out["by_kind"].items():
        assert row["runs"] == 1 and row["sagas_started"] == 1, (kind, row, out["details"])
    assert sum(row["killed_mid_saga"] for row in out["by_kind"].values()) >= 2, out
    assert (out["duplicate_orders"], out["unknown_outcomes"], out["unreported_one_sided"],
            out["summary_mismatches"]) == (0, 0, 0, 0), out["details"]
