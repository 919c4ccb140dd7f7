"""Placement rules: which node class each actor kind asks for, and the single-node fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from arbiter.engine.actors import actor_name
from arbiter.engine.placement import (
    LOCAL4_NODES,
    NODE_RESOURCE,
    ROLE_SHARE,
    Layout,
    PlacementError,
    Role,
    actor_options,
    detect_layout,
)

ALL_CLASSES = {"CPU": 2.0, "monitor_node": 1.0, "arbiter_node": 1.0, "risk_node": 1.0,
               "executor_node": 1.0}


def test_dedicated_layout_when_every_node_class_is_declared() -> None:
    assert detect_layout(ALL_CLASSES) == Layout(dedicated=True)


def test_single_node_fallback_without_node_classes() -> None:
    layout = detect_layout({"CPU": 2.0, "memory": 1e9})
    assert not layout.dedicated
    opts = actor_options(Role.ARBITER, layout, "arbiter", "ns")
    assert "resources" not in opts
    assert opts["max_restarts"] == -1 and opts["num_cpus"] == 0


def test_partial_node_classes_are_refused() -> None:
    with pytest.raises(PlacementError, match=r"not \['executor_node', 'risk_node'\]"):
        detect_layout({"monitor_node": 1.0, "arbiter_node": 1.0})


@pytest.mark.parametrize("role", list(Role))
def test_each_kind_asks_for_its_own_node_class(role: Role) -> None:
    opts = actor_options(role, Layout(dedicated=True), actor_name(role, "x"), "arbiter")
    assert opts["resources"] == {NODE_RESOURCE[role]: ROLE_SHARE}
    assert opts["name"].startswith(actor_name(role))
    assert opts["namespace"] == "arbiter"


def test_local4_declares_each_class_once() -> None:
    declared = [r for node in LOCAL4_NODES for r in node]
    assert sorted(declared) == sorted(NODE_RESOURCE.values())
    # a node class of capacity 1 hosts many actors of its kind
    assert int(1 / ROLE_SHARE) >= 50


def test_dashboard_names() -> None:
    assert actor_name(Role.MONITOR, "kalshi") == "monitor:kalshi"
    assert actor_name(Role.RISK) == "risk-manager"
    assert actor_name(Role.EXECUTOR, "main") == "executor:main"


CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster"


def test_launcher_yaml_declares_every_node_class() -> None:
    config = yaml.safe_load((CLUSTER_DIR / "ray-cluster.yaml").read_text())
    declared = {r for node in config["available_node_types"].values() for r in node["resources"]}
    assert set(NODE_RESOURCE.values()) <= declared
    head = config["available_node_types"][config["head_node_type"]]
    assert head["resources"]["CPU"] == 0  # no actor on the head
    # Ray's token auth asked for on every node (2.60 turns it on only where a token is found)
    starts = [c for key in ("head_start_ray_commands", "worker_start_ray_commands")
              for c in config[key] if "ray start" in c]
    assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start") for c in starts)
    assert config["file_mounts"] == {"~/.ray/auth_token": "~/.ray/auth_token"}


def test_kuberay_cluster_has_one_worker_group_per_node_class() -> None:
    cluster = yaml.safe_load((CLUSTER_DIR / "kuberay-raycluster.yaml").read_text())
    assert cluster["kind"] == "RayCluster"
    groups = cluster["spec"]["workerGroupSpecs"]
    declared = set()
    for group in groups:
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))
        declared |= set(resources)
    assert declared == set(NODE_RESOURCE.values())
    job = yaml.safe_load((CLUSTER_DIR / "kuberay-rayjob.yaml").read_text())
    assert job["kind"] == "RayJob"
    assert job["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    assert "jobs/live.py" in job["spec"]["entrypoint"]
