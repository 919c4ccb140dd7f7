"""A local multi-node Ray cluster on this machine (see arbiter/engine/localcluster.py).

Keep a four-node cluster up for ``ray job submit`` or the dashboard::

    .venv/bin/python -m cluster.local --nodes 4   # prints address + dashboard URL; Ctrl-C stops
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from arbiter.engine.localcluster import LocalCluster, dashboard_access, free_port, start_local_cluster

__all__ = ["LocalCluster", "free_port", "main", "start_local_cluster"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.local")
    parser.add_argument("--nodes", type=int, default=4)
    args = parser.parse_args(argv)
    local = start_local_cluster(args.nodes, dashboard=True)
    # token auth is on (as Ray ships it): clients need RAY_AUTH_MODE=token and the token; the
    # nodes listen on 127.0.0.1 only, so a driver elsewhere needs RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
    # (or ray job submit to the dashboard) for Ray to keep that address (localcluster)
    print(f"ray cluster up: address {local.address} (drivers: RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0); "
          f"dashboard {dashboard_access(local.dashboard_url)}", flush=True)
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop:
        time.sleep(0.2)
    local.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
