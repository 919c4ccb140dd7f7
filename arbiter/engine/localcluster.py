"""A local multi-node Ray cluster on this machine, one node per engine node class.

Used by the placement/supervision tests, the latency benchmark and ``make demo CLUSTER=local4``
(``cluster/local.py`` is its command-line face). Each node is a real raylet with its own custom
resources (``monitor_node``, ``arbiter_node``, ``risk_node``, ``executor_node``), so actors are
scheduled exactly as on the launcher or KubeRay clusters in ``cluster/``; only the machine is
shared. It lives in the package (not only in ``cluster/``) because the installed ``arbiter``
command needs it and does not run from the repository root.

Every cluster started here is Ray as it ships, kept to this machine (docs/adr/0166):

* **token auth on** (:func:`token_auth`), as ``ray.init()`` does for a new local cluster since
  Ray 2.59 (``ray/_private/authentication/authentication_token_setup.py``
  ``enable_token_auth_by_default``/``ensure_token_if_auth_enabled`` @ ray 2.60.0):
  ``ray.cluster_utils.Cluster`` starts its nodes without ``ray.init`` and would otherwise run
  without auth. An explicit ``RAY_AUTH_MODE`` is respected.
* **loopback only** (:func:`loopback_only`): on Linux Ray turns ``127.0.0.1`` into the
  address of the default route (``services.resolve_ip_for_localhost``) unless
  ``ray_constants.ENABLE_RAY_CLUSTER`` is false (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), in
  which case ``services.get_node_ip_address`` answers ``get_localhost_ip()``. Started so, the
  GCS, raylets and agents listen on 127.0.0.1 only (measured with ``ss``; a ``ray start`` head
  listens on every interface). A driver must then connect inside the same block too
  (``ray.init(address=...)`` would otherwise rewrite the loopback address the same way).
* **usage stats off** (``RAY_USAGE_STATS_ENABLED=0``, ``ray/_common/usage/usage_lib.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray._private import ray_constants
from ray.cluster_utils import Cluster

from arbiter.engine.placement import LOCAL4_NODES

__all__ = [
    "LocalCluster",
    "dashboard_access",
    "free_port",
    "loopback_only",
    "ray_init",
    "start_local_cluster",
    "token_auth",
    "token_location",
]

#: the variable behind ``ray_constants.ENABLE_RAY_CLUSTER`` (ray/_private/ray_constants.py)
_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Start Ray nodes inside this block on 127.0.0.1, with usage stats off.

    Ray reads ``ENABLE_RAY_CLUSTER`` once, at import, so the constant is set for the block (and
    the variable, for the GCS, raylet and agents started in it); both are restored afterwards,
    so a later ``ray.init(address=...)`` to a real cluster in this process picks its routable
    address as usual. A node's processes keep the address they were started with.
    """
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    saved_env = {k: os.environ.get(k) for k in (_CLUSTER_ENV, "RAY_USAGE_STATS_ENABLED")}
    os.environ[_CLUSTER_ENV] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        for key, value in saved_env.items():
            if key == "RAY_USAGE_STATS_ENABLED":
                continue  # usage stats stay off for this process's later clusters too
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def token_auth() -> bool:
    """Ray's token auth for a cluster this process starts, exactly as ``ray.init()`` sets it up
    for a new local cluster: on unless ``RAY_AUTH_MODE`` says otherwise, a token generated into
    ``~/.ray/auth_token`` when none is configured. True if auth is on."""
    from ray._private.authentication.authentication_token_setup import (
        enable_token_auth_by_default,
        ensure_token_if_auth_enabled,
    )

    enabled = enable_token_auth_by_default()
    ensure_token_if_auth_enabled(None, create_token_if_missing=True)
    default = Path.home() / ".ray" / "auth_token"
    if enabled and not os.environ.get("RAY_AUTH_TOKEN_PATH") and default.is_file():
        # Ray writes the token file with the process umask (0644 on most machines): the token
        # opens the cluster to whoever reads it, so it is the owner's only
        with contextlib.suppress(OSError):
            if default.stat().st_mode & 0o077:
                default.chmod(0o600)
    return enabled


def token_location() -> str | None:
    """Where this process's Ray token comes from (never the token), or None with auth off.

    The precedence is Ray's own: ``RAY_AUTH_TOKEN``, then the file ``RAY_AUTH_TOKEN_PATH``
    names, then ``~/.ray/auth_token`` (docs.ray.io ray-core/internals/token-authentication).
    """
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    if not is_token_auth_enabled():
        return None
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "the RAY_AUTH_TOKEN environment variable"
    return os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")


def ray_init(address: str, **kwargs: Any) -> Any:
    """``ray.init(address=...)``, with a new local cluster (``"local"``) started as above: token
    auth, loopback only, usage stats off. Any other address is connected to unchanged."""
    import ray

    if address != "local":
        return ray.init(address=address, **kwargs)
    token_auth()
    with loopback_only():
        return ray.init(address="local", **kwargs)


def dashboard_access(url: str | None) -> str:
    """The dashboard URL as people need it: with token auth the dashboard asks for the token
    (it sets a cookie once given), and ``ray job submit`` needs ``RAY_AUTH_MODE=token``."""
    if not url:
        return "not running"
    where = token_location()
    if where is None:
        return f"{url} (no token auth)"
    return (f"{url} (token auth: paste the token from {where}, `ray get-auth-token` prints it; "
            "`ray job submit` needs RAY_AUTH_MODE=token)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    cluster: Cluster
    dashboard_url: str | None
    nodes: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def shutdown(self) -> None:
        self.cluster.shutdown()  # type: ignore[no-untyped-call]


def start_local_cluster(
    nodes: int = 4, dashboard: bool = False, cpus_per_node: int = 1
) -> LocalCluster:
    """Start ``nodes`` raylets (the head first) with the engine's node classes.

    ``nodes`` = 4 gives every class its own node; 1 gives one node carrying all four classes
    (still the dedicated layout, useful when memory is tight). Call ``ray.init(address=...)``
    afterwards to connect.
    """
    if not 1 <= nodes <= 4:
        raise ValueError("nodes must be between 1 and 4")
    groups: list[dict[str, float]] = [dict(r) for r in LOCAL4_NODES[:nodes]]
    for extra in LOCAL4_NODES[nodes:]:
        groups[-1].update(extra)
    head_args: dict[str, Any] = {
        "resources": groups[0],
        "num_cpus": cpus_per_node,
        "include_dashboard": dashboard,
    }
    if dashboard:
        head_args["dashboard_host"] = "127.0.0.1"
        head_args["dashboard_port"] = free_port()
    token_auth()
    with loopback_only():
        cluster = Cluster(initialize_head=True, head_node_args=head_args)
        added = [cluster.head_node]
        for resources in groups[1:]:
            added.append(cluster.add_node(resources=resources, num_cpus=cpus_per_node))
    cluster.wait_for_nodes()
    url = None
    if dashboard and cluster.webui_url:
        url = cluster.webui_url if "://" in cluster.webui_url else f"http://{cluster.webui_url}"
    return LocalCluster(cluster, url, added)
