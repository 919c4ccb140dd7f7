"""Parameter-sweep entrypoint for ``ray job submit``: the same code as ``arbiter sweep``.

    ray job submit --address http://HEAD:8265 --working-dir . \
        --runtime-env jobs/runtime_env.yaml -- python jobs/sweep.py \
        --synthetic events=500000,pairs=10,days=3 --grid min_edge=100,200,300 \
        --grid leg_order=poly_first,kalshi_first --grid latency_polymarket=fixed:20,fixed:200 \
        --out /tmp/sweep

Inside a job, ``ray.init()`` connects to the job's cluster (``RAY_ADDRESS``); each backtest is
one Ray task over one shared copy of the events in the object store. Progress is printed per
finished task; results go to ``OUT/results.parquet``, ``OUT/sweep.html`` and ``OUT/best.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from arbiter.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["sweep", *sys.argv[1:]]))
