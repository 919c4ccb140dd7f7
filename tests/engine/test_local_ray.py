"""The Ray that ``arbiter run``/``make demo`` start for themselves: Ray as it ships, kept local.

``connect("local")`` starts a cluster of its own (never the one ``RAY_ADDRESS`` names), whose
processes listen on 127.0.0.1 only, with usage stats off and Ray's token auth on: the dashboard
refuses a request without the token, and what the commands print names where the token is,
never the token.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from arbiter.engine.live import RayConnection, connect
from arbiter.engine.localcluster import dashboard_access, token_location


def test_dashboard_line_names_the_token_file_not_the_token() -> None:
    # the suite runs with token auth and a token file of its own (tests/conftest.py)
    path = os.environ["RAY_AUTH_TOKEN_PATH"]
    token = Path(path).read_text().strip()
    assert token_location() == path
    line = dashboard_access("http://127.0.0.1:8265")
    assert line.startswith("http://127.0.0.1:8265 (token auth: paste the token from " + path)
    assert "RAY_AUTH_MODE=token" in line and token not in line
    assert dashboard_access(None) == "not running"


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _listening_addresses(pids: set[int]) -> list[str]:
    """The local address of every TCP listener of these processes (``ss -ltnp``)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        cols = line.split()
        owners = {int(m) for m in re.findall(r"pid=(\d+)", line)}
        if owners & pids:
            found.append(cols[3].rsplit(":", 1)[0].strip("[]"))
    return found


@pytest.fixture(scope="module")
def local() -> Iterator[RayConnection]:
    saved = os.environ.get("RAY_ADDRESS")
    # a plain ray.init() would connect to this (and fail); "local" must start its own
    os.environ["RAY_ADDRESS"] = "127.0.0.1:1"
    try:
        conn = connect("local", "local-ray-test")
    finally:
        if saved is None:
            os.environ.pop("RAY_ADDRESS", None)
        else:
            os.environ["RAY_ADDRESS"] = saved
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.integration
def test_local_cluster_is_its_own_on_loopback_with_auth_and_no_usage_stats(local: RayConnection) -> None:
    from ray._common.usage import usage_lib

    nodes = [n for n in ray.nodes() if n["Alive"]]  # type: ignore[no-untyped-call]
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    assert local.dashboard_url is not None and local.dashboard_url.startswith("http://127.0.0.1:")
    assert not usage_lib.usage_stats_enabled()
    # every socket the cluster's processes (GCS, raylet, agents, dashboard) listen on: loopback
    listening = _listening_addresses(_descendants(os.getpid()))
    assert len(listening) >= 4, listening
    assert set(listening) <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{local.dashboard_url}/api/jobs/", timeout=10)
    assert err.value.code == 401
    token = Path(os.environ["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
    request = urllib.request.Request(f"{local.dashboard_url}/api/jobs/",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
