"""The executor as a separate process, so fault tests can ``kill -9`` it at any instant.

``python -m tests.fault.executor_proc --venues venues.json --journal j.db --sagas N --seed S``
first recovers whatever the journal shows unfinished (timing it), then runs ``N`` new sagas
against the local venues. ``--kill-at K`` SIGKILLs the process itself around its K-th journal
commit (``--kill-when before`` = the write is lost, ``after`` = the write is durable but its side
effect has not happened yet): the two instants write-ahead logging has to get right. One JSON
line per phase is appended to ``--report``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import time
from pathlib import Path

from arbiter.core.book import Outcome
from arbiter.core.fees import PolymarketFeeModel
from arbiter.core.pairs import Pair
from arbiter.core.saga import SagaPolicy
from arbiter.core.units import Size
from arbiter.execution.executor import ExecutorConfig, SagaExecutor
from arbiter.execution.journal import Journal
from arbiter.execution.recovery import recover
from tests.fault.live import C, connect_clients, opportunity, quotes_from

POLICY = SagaPolicy(lots={"kalshi": C, "polymarket": 10_000}, min_sizes={"polymarket": 5 * C})
CONFIG = ExecutorConfig(order_timeout_s=3.0, query_timeout_s=3.0, absent_grace_s=0.5,
                        resolve_backoff_s=0.02, resolve_timeout_s=30.0)


def _report(path: Path | None, body: dict[str, object]) -> None:
    if path is None:
        return
    with path.open("a") as fh:
        fh.write(json.dumps(body) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


async def main(args: argparse.Namespace) -> int:
    cfg = json.loads(Path(args.venues).read_text())
    pm = cfg["pair_polymarket"]
    pair = Pair(
        **cfg["pair"],
        polymarket_fee=PolymarketFeeModel.of(pm["fee_rate"], pm["fee_exponent"]),
        polymarket_min_order_size=Size(pm["min_order_size"]),
    )
    report = Path(args.report) if args.report else None
    kill_at = args.kill_at

    def die(n: int) -> None:
        if kill_at is not None and n == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    journal = Journal(
        args.journal,
        before_commit=die if args.kill_when == "before" else None,
        after_commit=die if args.kill_when == "after" else None,
    )
    clients = await connect_clients(cfg)

    async def quotes(venue: str, market: str, outcome: Outcome) -> tuple[int | None, int | None]:
        return await quotes_from(clients, venue, market, outcome)  # type: ignore[arg-type]

    executor = SagaExecutor(journal, clients, {pair.name: pair}, policy=POLICY, config=CONFIG,
                            quotes=quotes)
    try:
        started = time.perf_counter()
        rec = await recover(executor)
        _report(report, {"phase": "recovery", "sagas": rec.sagas, "errors": rec.errors,
                         "ms": (time.perf_counter() - started) * 1000, "endings": rec.endings})
        rng = random.Random(args.seed)
        endings: dict[str, int] = {}
        for _ in range(args.sagas):
            result = await executor.submit(opportunity(pair, rng, time.time_ns()))
            assert result.saga is not None and result.saga.ending is not None
            endings[result.saga.ending.value] = endings.get(result.saga.ending.value, 0) + 1
        _report(report, {"phase": "sagas", "endings": endings})
    finally:
        for client in clients.values():
            await client.close()
        journal.close()
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--venues", required=True)
    p.add_argument("--journal", required=True)
    p.add_argument("--sagas", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kill-at", type=int, default=None)
    p.add_argument("--kill-when", choices=["before", "after"], default="after")
    p.add_argument("--report", default=None)
    return p.parse_args(argv)


def run_child(argv: list[str]) -> None:
    """Entry point for a forkserver child (the chaos bench forks executors from a warm process
    so that hundreds of kill/restart cycles do not each pay the interpreter's start-up)."""
    raise SystemExit(asyncio.run(main(parse(argv))))


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
