"""A local venue in its own process, for the feed benchmarks (``bench.kalshi_ws``,
``bench.polymarket_ws``): on its own core, as a venue is, so that the measured process runs the
client alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arbiter.sim.common import ADMIN_TOKEN_ENV


@contextmanager
def venue_process(venue: str, accounts: Path, scenario: Path,
                  admin_token: str) -> Iterator[tuple[str, str]]:
    """``arbiter sim VENUE`` on a free loopback port, until the block ends; yields its REST and
    WebSocket URLs as the venue announces them. ``admin_token`` opens its test controls."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", ADMIN_TOKEN_ENV: admin_token}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter.cli.main", "sim", venue, "--port", "0",
         "--accounts", str(accounts), "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"local {venue} did not start: {line!r}")
        yield line.split("listening on ")[1].split(" ")[0], line.split("(ws ")[1].split(")")[0]
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
