"""Operator commands end to end against the local Kalshi (the CLI runs in a worker thread)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from arbiter.cli.main import main
from arbiter.sim.kalshi.server import KalshiSim
from tests.venues.kalshi.support import TRADER, write_accounts

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_accounts(tmp_path)
    for var in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KALSHI_DEMO_API_KEY_ID", TRADER)
    monkeypatch.setenv("KALSHI_DEMO_PRIVATE_KEY_PATH", str(tmp_path / "keys" / "trader1.pem"))


def venue_args(sim: KalshiSim) -> list[str]:
    return ["--venue", "kalshi", "--kalshi-demo", "--kalshi-url", sim.rest_url,
            "--kalshi-ws-url", sim.ws_url]


async def run(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_order_lifecycle_commands(sim: KalshiSim, demo_env: None,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    v = venue_args(sim)
    assert await run(["order", "place", *v, "--market", "KXSTATIC-A", "--outcome", "yes",
                      "--side", "buy", "--price", "0.35", "--size", "4", "--json"]) == 0
    placed = json.loads(capsys.readouterr().out)
    assert placed["status"] == "open" and placed["price"] == "0.35" and placed["size"] == "4"
    assert await run(["order", "list", *v, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [o["order_id"] for o in listed] == [placed["order_id"]]
    assert await run(["order", "cancel", *v, placed["order_id"]]) == 0
    assert "canceled" in capsys.readouterr().out
    assert await run(["order", "place", *v, "--market", "KXSTATIC-A", "--outcome", "no",
                      "--side", "buy", "--price", "0.62", "--size", "2", "--tif", "ioc"]) == 0
    assert "filled 2" in capsys.readouterr().out
    assert await run(["positions", *v, "--json"]) == 0
    (pos,) = json.loads(capsys.readouterr().out)
    assert (pos["market"], pos["outcome"], pos["size"]) == ("KXSTATIC-A", "no", "2")
    assert await run(["balance", *v]) == 0
    assert capsys.readouterr().out.startswith("kalshi balance: $99")
    assert await run(["fills", *v]) == 0
    assert "1 fill(s)" in capsys.readouterr().out


async def test_dry_run_sends_nothing(sim: KalshiSim, demo_env: None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["order", "place", *venue_args(sim), "--dry-run", "--market", "KXSTATIC-A",
                      "--outcome", "yes", "--side", "buy", "--price", "0.35", "--size", "4"]) == 0
    out = capsys.readouterr()
    assert "(dry run)" in out.out and "DRY-RUN kalshi: would place" in out.err
    assert sim.exchange.accounts[TRADER].order_ids == []


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--market", "KXNOPE", "--price", "0.35"], 1, "kalshi: market_not_found"),
        (["--market", "KXSTATIC-A", "--price", "1.35"], 2, "bad price"),
        (["--market", "KXSTATIC-A", "--price", "0.355"], 1, "invalid_price"),
        (["--market", "KXSTATIC-A", "--price", "0.35", "--outcome", None], 2, "--outcome yes|no is required"),
    ],
)
async def test_user_errors_are_one_line(sim: KalshiSim, demo_env: None,
                                        capsys: pytest.CaptureFixture[str], extra: list[str],
                                        code: int, message: str) -> None:
    argv = ["order", "place", *venue_args(sim), "--outcome", "yes", "--side", "buy",
            "--size", "1", *extra]
    if None in argv:  # a case that leaves --outcome out entirely
        argv = [a for a in argv if a not in ("--outcome", "yes", None)]
    assert await run(argv) == code
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


async def test_auth_failure_and_demo_guard(sim: KalshiSim, demo_env: None, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KALSHI_DEMO_PRIVATE_KEY_PATH", str(tmp_path / "keys" / "trader2.pem"))
    assert await run(["balance", *venue_args(sim)]) == 1
    assert "INCORRECT_API_KEY_SIGNATURE" in capsys.readouterr().err
    monkeypatch.delenv("KALSHI_DEMO_API_KEY_ID")
    monkeypatch.delenv("KALSHI_DEMO_PRIVATE_KEY_PATH")
    monkeypatch.setenv("KALSHI_API_KEY_ID", TRADER)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "keys" / "trader1.pem"))
    assert await run(["balance", *venue_args(sim)]) == 2
    assert "demo run refused" in capsys.readouterr().err


async def test_check_connectivity(sim: KalshiSim, demo_env: None,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(["check-connectivity", *venue_args(sim), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    steps = {c["step"]: c for c in report["checks"]}
    assert report["ok"] and set(steps) == {"dns", "tcp", "tls", "rest", "rest-auth", "ws"}
    assert steps["ws"]["latency_ms"] is not None
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    assert await run(["check-connectivity", "--venue", "kalshi", "--kalshi-demo",
                      "--kalshi-url", f"http://127.0.0.1:{dead}/trade-api/v2"]) == 1
    assert "FAIL" in capsys.readouterr().out


async def test_sim_command_serves_until_terminated(tmp_path: Path) -> None:
    accounts = write_accounts(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter.cli.main", "sim", "kalshi", "--port", "0",
         "--accounts", str(accounts), "--scenario", "static", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert "local Kalshi listening on http://127.0.0.1:" in line
        url = line.split("listening on ")[1].split(" ")[0]
        async with aiohttp.ClientSession() as http, http.get(f"{url}/markets") as resp:
            body = await resp.json()
        assert [m["ticker"] for m in body["markets"]] == ["KXSTATIC-A", "KXSTATIC-B"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0


def test_sim_command_rejects_a_broken_accounts_file(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "accounts.toml"
    bad.write_text('[[account]]\napi_key_id = "x"\npublic_key = "nope.pem"\n')
    assert main(["sim", "kalshi", "--accounts", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


async def test_balance_shows_the_collateral_of_each_shard(
    tmp_path: Path, demo_env: None, capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.venues.kalshi.support import running_sim

    async with running_sim(tmp_path / "venue", shards={"KXSTATIC-B": 1}) as sim:
        sim.exchange.transfer(TRADER, 0, 1, 50 * 10**10)
        assert await run(["balance", *venue_args(sim)]) == 0
        assert capsys.readouterr().out.strip() == (
            "kalshi balance: $10000 (shard 0: $9950, shard 1: $50)")
        assert await run(["balance", *venue_args(sim), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["shards"] == {"0": "9950", "1": "50"}
