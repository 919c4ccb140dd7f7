"""Live-trading entrypoint for ``ray job submit``.

    export RAY_AUTH_MODE=token RAY_ADDRESS=http://HEAD:8265    # Ray's token auth (ADR 0166)
    python jobs/live.py --check-upload .                       # no secret in the upload
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml \
        -- python jobs/live.py --config examples/engine.toml [--dry-run]

Inside a job the driver connects to the job's cluster (``--cluster auto``, the default here) and
the engine's actors land on the node classes the cluster declares. ``ray job stop`` sends
SIGTERM: the engine stops admitting, finishes sagas in flight, cancels open orders and closes
its journals; Ray then reports the job ``STOPPED`` (a stop was asked for), not ``SUCCEEDED``.
The last line of the log is the summary as JSON, its figures read from the journals; a live run
that left failed sagas, residuals or open sagas exits 3 and the job ends FAILED (docs/adr/0172).

No secret rides in the upload (docs/adr/0166): :func:`runtime_env` (for ``JobSubmissionClient``
users) and ``--check-upload`` refuse a working dir whose TOML files hold inline secrets or
point at key files it would ship; ``ray job submit`` itself runs no code of ours before it
uploads, so the job checks its own unpacked copy again first thing, refuses to start, and
deletes the offending files from the node's copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

# ``python jobs/live.py`` puts jobs/ first on sys.path; the package comes from the working dir
# (uploaded by --working-dir) or from the installed project.
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from arbiter.app.errors import ConfigError
from arbiter.cli.errors import UsageError
from arbiter.cli.run import (
    add_engine_options,
    engine_session,
    exit_code,
    status_line,
    summary_lines,
    summary_record,
)
from arbiter.engine.localcluster import dashboard_access
from arbiter.engine.uploads import InlineSecretsInUpload, check_working_dir, scan_working_dir
from arbiter.telemetry.logging import RAY_WORKER_SETUP_HOOK, setup

#: seconds between the job's status lines
STATUS_EVERY_S = 10.0

#: What the job needs from Ray's runtime env when submitted from a checkout (the same as
#: jobs/runtime_env.yaml): the working directory without the heavy or private parts.
RUNTIME_ENV: dict[str, Any] = {
    "working_dir": ".",
    "excludes": [".venv/", ".venv-infra/", ".venv-latest/", ".venv-kalshi-sdk/", ".git/", "var/",
                 "site/", "**/__pycache__/", ".mypy_cache/", ".ruff_cache/", ".pytest_cache/",
                 ".hypothesis/", "bench/results/",
                 # key material never rides along with the code (see jobs/runtime_env.yaml)
                 "*.pem", "*.key", "**/keys/", ".env"],
    # SIGKILL only 60 s after `ray job stop`'s SIGTERM (Ray's default 3 s cuts the graceful stop)
    "env_vars": {"PYTHONUNBUFFERED": "1", "RAY_JOB_STOP_WAIT_TIME_S": "60"},
    # JSON logs with redaction in every worker process of the job (ADR 0143)
    "worker_process_setup_hook": RAY_WORKER_SETUP_HOOK,
}


def runtime_env(working_dir: str | Path = ".") -> dict[str, Any]:
    """:data:`RUNTIME_ENV` for ``working_dir``, once it is known to hold no secret
    (:class:`~arbiter.engine.uploads.InlineSecretsInUpload` otherwise: nothing was sent)."""
    check_working_dir(working_dir, RUNTIME_ENV["excludes"])
    return {**RUNTIME_ENV, "working_dir": str(working_dir)}


def _refuse_own_upload() -> str | None:
    """Inside a job: the error for an upload that holds secrets, after deleting them from this
    node's unpacked copy (only there: a checkout outside ``runtime_resources`` is never touched)."""
    if "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:
        return None
    here = Path.cwd()
    findings = scan_working_dir(here, RUNTIME_ENV["excludes"])
    if not findings:
        return None
    if "runtime_resources" in here.parts:
        for finding in findings:
            (here / finding.holder).unlink(missing_ok=True)
    listed = "; ".join(str(f) for f in findings)
    return (f"refusing to start: the job's working_dir holds secrets ({listed}). They were "
            "deleted from this node's copy; rotate them, and reference them instead "
            "([[tenant]] credentials = \"store\"); `python jobs/live.py --check-upload .` "
            "checks a directory before `ray job submit`")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs/live.py", description=__doc__.splitlines()[0])
    add_engine_options(parser, default_cluster="auto")
    parser.add_argument("--check-upload", metavar="DIR", nargs="?", const=".",
                        help="only check that DIR (default .) holds no secret a `ray job submit "
                             "--working-dir DIR` would upload; exit 2 if it does")
    args = parser.parse_args(argv)
    if args.check_upload is not None:
        try:
            check_working_dir(args.check_upload, RUNTIME_ENV["excludes"])
        except InlineSecretsInUpload as exc:
            print(f"jobs/live.py: {exc}", file=sys.stderr)
            return 2
        print(f"jobs/live.py: {Path(args.check_upload).absolute()} holds no secret to upload")
        return 0
    refused = _refuse_own_upload()
    if refused is not None:
        print(f"jobs/live.py: {refused}", file=sys.stderr)
        return 2
    setup()  # JSON on stderr (ARBITER_LOG_FORMAT=text for people); stdout keeps the summary

    def ready(url: str | None, config: Any) -> None:
        print(f"live job: {config.mode} mode, {len(config.pairs)} pairs; dashboard "
              f"{dashboard_access(url)}", flush=True)

    last = [-STATUS_EVERY_S]

    def snapshot(snap: Any) -> None:
        # `ray job logs --follow` shows the engine trading, not only its start and its end
        if snap.arbiter.get("ready") and snap.elapsed_s - last[0] >= STATUS_EVERY_S:
            last[0] = snap.elapsed_s
            print(f"live job: trading; {status_line(snap)}", flush=True)

    try:
        summary = asyncio.run(engine_session(args, ready, snapshot))
    except (UsageError, ConfigError) as exc:
        print(f"jobs/live.py: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(summary):
        print(line)
    print(json.dumps(summary_record(summary)), flush=True)
    # a live run that left failed sagas or residuals ends FAILED, not SUCCEEDED (ADR 0172)
    return exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
