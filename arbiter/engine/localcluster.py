"""A local multi-node Ray cluster on this machine, one node per engine node class.

Used by the placement/supervision tests, the latency benchmark and ``make demo CLUSTER=local4``
(``cluster/local.py`` is its command-line face). Each node is a real raylet with its own custom
resources (``monitor_node``, ``arbiter_node``, ``risk_node``, ``executor_node``), so actors are
scheduled exactly as on the launcher or KubeRay clusters in ``cluster/``; only the machine is
shared. It lives in the package (not only in ``cluster/``) because the installed ``arbiter``
command needs it and does not run from the repository root.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from ray.cluster_utils import Cluster

from arbiter.engine.placement import LOCAL4_NODES

__all__ = ["LocalCluster", "free_port", "start_local_cluster"]


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
    cluster = Cluster(initialize_head=True, head_node_args=head_args)
    added = [cluster.head_node]
    for resources in groups[1:]:
        added.append(cluster.add_node(resources=resources, num_cpus=cpus_per_node))
    cluster.wait_for_nodes()
    url = None
    if dashboard and cluster.webui_url:
        url = cluster.webui_url if "://" in cluster.webui_url else f"http://{cluster.webui_url}"
    return LocalCluster(cluster, url, added)
