"""Live-trading entrypoint for ``ray job submit``.

    ray job submit --address http://HEAD:8265 --working-dir . \
        --runtime-env jobs/runtime_env.yaml -- python jobs/live.py --config engine.toml [--dry-run]

Inside a job the driver connects to the job's cluster (``--cluster auto``, the default here) and
the engine's actors land on the node classes the cluster declares. ``ray job stop`` sends
SIGTERM: the engine stops admitting, finishes sagas in flight, cancels open orders and closes
its journals, and the job ends SUCCEEDED. The last line of the log is the summary as JSON, its
figures read from the journals; a live run that left failed sagas, residuals or open sagas exits 3
and the job ends FAILED (docs/adr/0172).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

# ``python jobs/live.py`` puts jobs/ first on sys.path; the package comes from the working dir
# (uploaded by --working-dir) or from the installed project.
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from arbiter.ops.errors import UsageError
from arbiter.ops.logging import RAY_WORKER_SETUP_HOOK, setup
from arbiter.ops.run_cmd import (
    add_engine_options,
    engine_session,
    exit_code,
    summary_lines,
    summary_record,
)

#: What the job needs from Ray's runtime env when submitted from a checkout (the same as
#: jobs/runtime_env.yaml): the working directory without the heavy or private parts.
RUNTIME_ENV: dict[str, Any] = {
    "working_dir": ".",
    "excludes": [".venv/", ".venv-infra/", ".venv-latest/", ".venv-kalshi-sdk/", ".git/", "var/",
                 "site/", "**/__pycache__/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/",
                 ".hypothesis/", "bench/results/",
                 # key material never rides along with the code (see jobs/runtime_env.yaml)
                 "*.pem", "*.key", "**/keys/", ".env"],
    "env_vars": {"PYTHONUNBUFFERED": "1"},
    # JSON logs with redaction in every worker process of the job (ADR 0143)
    "worker_process_setup_hook": RAY_WORKER_SETUP_HOOK,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/live.py", description=__doc__.splitlines()[0])
    add_engine_options(parser, default_cluster="auto")
    args = parser.parse_args(argv)
    setup()  # JSON on stderr (ARBITER_LOG_FORMAT=text for people); stdout keeps the summary

    def ready(url: str | None, config: Any) -> None:
        print(f"live job: {config.mode} mode, {len(config.pairs)} pairs; dashboard {url}", flush=True)

    try:
        summary = asyncio.run(engine_session(args, ready))
    except UsageError as exc:
        print(f"jobs/live.py: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(summary):
        print(line)
    print(json.dumps(summary_record(summary)), flush=True)
    # a live run that left failed sagas or residuals ends FAILED, not SUCCEEDED (ADR 0172)
    return exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
