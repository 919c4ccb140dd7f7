"""Every log record of a saga's execution carries its correlation ids (saga, tenant, order)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arbiter.telemetry.logging as arbiter_logging
from arbiter.core.saga import Ending
from arbiter.execution.journal import Journal
from arbiter.telemetry.logging import setup
from tests.execution.factories import opportunity
from tests.execution.test_executor import world


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level, installed = list(root.handlers), root.level, arbiter_logging._installed
    stream = io.StringIO()
    setup("json", logging.DEBUG, stream=stream)
    yield stream
    assert arbiter_logging._installed is not None
    root.removeHandler(arbiter_logging._installed)
    arbiter_logging._installed = installed
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_saga_records_carry_saga_tenant_and_order_ids(tmp_path: Path,
                                                            out: io.StringIO) -> None:
    wd = world(tmp_path)
    wd.poly.faults = ["timeout_after"]  # leg 1's answer is lost: the executor looks it up
    lookup = wd.poly.get_order
    failures = [ConnectionResetError("peer reset")]

    async def flaky(*args: Any, **kw: Any) -> Any:  # the first lookup fails: a warning is logged
        if failures:
            raise failures.pop()
        return await lookup(*args, **kw)

    wd.poly.get_order = flaky  # type: ignore[method-assign]
    with Journal(wd.path, tenant="acme") as j:
        saga = (await wd.executor(j).submit(opportunity())).saga
    await wd.kalshi.close()
    await wd.poly.close()
    assert saga is not None and saga.ending is Ending.COMPLETED
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    mine = [r for r in records if r["logger"] == "arbiter.execution.executor"]
    assert mine[0]["msg"] == f"saga {saga.saga_id} running"
    assert mine[-1]["msg"] == f"saga {saga.saga_id} finished: completed"
    for r in mine:
        assert r["saga_id"] == saga.saga_id and r["tenant_id"] == "acme", r
        assert r["pair"] == saga.plan.pair
    # every record written while an order was being placed or resolved names that order
    (warning,) = [r for r in records if r["level"] == "warning"]
    assert warning["msg"].startswith(f"lookup of {saga.orders['L1'].intent.cid} failed")
    assert warning["cid"] == saga.orders["L1"].intent.cid
    assert warning["saga_id"] == saga.saga_id and warning["tenant_id"] == "acme"
