"""Where each actor kind runs: one node class per kind, declared by node custom resources.

A node offers ``monitor_node``/``arbiter_node``/``risk_node``/``executor_node`` through
``ray start --resources`` (or the launcher/KubeRay manifests in ``cluster/``); an actor that asks
for a sliver of that resource can only be scheduled there. Custom resources rather than node
labels because labels cannot be set on local test clusters or through ``ray.init`` in Ray 2.60,
and the tests must exercise the same placement the cluster uses.

When the cluster declares none of the node classes (``ray.init()`` on a laptop, the embedded
default) every actor falls back to "anywhere", so the same engine runs on one node unchanged.
A cluster that declares only *some* classes is a configuration mistake and is refused, because
silently co-locating e.g. the executor with the monitors would hide it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "LOCAL4_NODES",
    "NODE_RESOURCE",
    "ROLE_SHARE",
    "Layout",
    "PlacementError",
    "Role",
    "actor_options",
    "detect_layout",
]


class Role(StrEnum):
    MONITOR = "monitor"
    ARBITER = "arbiter"
    RISK = "risk"
    EXECUTOR = "executor"


#: the node custom resource that marks a node as hosting one actor kind
NODE_RESOURCE: Final[Mapping[Role, str]] = {
    Role.MONITOR: "monitor_node",
    Role.ARBITER: "arbiter_node",
    Role.RISK: "risk_node",
    Role.EXECUTOR: "executor_node",
}

#: how much of its node resource one actor takes: many monitors/executors share a node of
#: capacity 1, and the scheduler can never put them anywhere else
ROLE_SHARE: Final = 0.01

#: the local four-node layout (`make demo CLUSTER=local4`, the placement tests): the head node
#: hosts the monitors (they are the first thing up and the last thing that should go away)
LOCAL4_NODES: Final[tuple[dict[str, float], ...]] = (
    {"monitor_node": 1.0},
    {"arbiter_node": 1.0},
    {"risk_node": 1.0},
    {"executor_node": 1.0},
)


class PlacementError(RuntimeError):
    """The cluster's node classes cannot host the engine."""


@dataclass(frozen=True, slots=True)
class Layout:
    """``dedicated``: every kind has its node class; ``single``: no node classes, anywhere."""

    dedicated: bool

    @property
    def name(self) -> str:
        return "dedicated" if self.dedicated else "single-node"


def detect_layout(cluster_resources: Mapping[str, float]) -> Layout:
    """Decide from ``ray.cluster_resources()`` whether the node classes are declared."""
    present = [r for r in NODE_RESOURCE.values() if cluster_resources.get(r, 0) > 0]
    if not present:
        return Layout(dedicated=False)
    missing = sorted(set(NODE_RESOURCE.values()) - set(present))
    if missing:
        raise PlacementError(
            f"cluster declares node classes {sorted(present)} but not {missing}: "
            "declare all four or none"
        )
    return Layout(dedicated=True)


def actor_options(role: Role, layout: Layout, name: str, namespace: str) -> dict[str, Any]:
    """Options for ``ActorClass.options(...)``: placement, restart policy, dashboard name.

    ``num_cpus=0`` because the actors are I/O-bound event loops; reserving whole CPUs on a
    two-core node would leave no room for the rest. ``max_restarts=-1`` so a crashed actor
    always comes back; method calls are retried once across a restart only where they are
    idempotent (the caller decides per call with ``.options(max_task_retries=...)``).
    """
    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "num_cpus": 0,
        "max_restarts": -1,
        "max_concurrency": 64,
        "get_if_exists": False,
    }
    if layout.dedicated:
        options["resources"] = {NODE_RESOURCE[role]: ROLE_SHARE}
    return options
