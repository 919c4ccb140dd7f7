"""Single-backtest entrypoint for ``ray job submit``: the same code as ``arbiter backtest``.

    ray job submit --address http://HEAD:8265 --working-dir . \
        --runtime-env jobs/runtime_env.yaml -- python jobs/backtest.py \
        --data /data/arbiter --pairs pairs.toml --report /tmp/report.html --latency-sweep 0,50,200

The replay itself is single-threaded and deterministic; running it as a job puts it next to the
recorded data on the cluster and keeps its log with the job.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from arbiter.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["backtest", *sys.argv[1:]]))
