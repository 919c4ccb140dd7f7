"""``arbiter sim polymarket`` as a process, driven by the operator commands (--venue polymarket)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter.cli.main import main
from tests.sim.polymarket.conftest import ADDR_A, KEY_A

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    accounts = tmp_path_factory.mktemp("pm") / "accounts.toml"
    accounts.write_text(f'[[account]]\naddress = "{ADDR_A}"\ncollateral = "1000.00"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbiter.cli.main", "sim", "polymarket", "--port", "0",
         "--accounts", str(accounts), "--scenario", "static", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, proc.stderr.read() if proc.stderr else line
        yield line.split("listening on ")[1].split()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _yes_token(url: str) -> str:
    with urllib.request.urlopen(url + "/markets") as resp:
        markets = json.loads(resp.read())["data"]
    market = next(m for m in markets if m["question"] == "Static market A")
    return str(market["tokens"][0]["token_id"])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_operator_commands_against_local_polymarket(
    sim_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", KEY_A)
    for name in ("POLYMARKET_FUNDER", "POLYMARKET_API_KEY", "POLYMARKET_API_SECRET",
                 "POLYMARKET_API_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    venue = ["--venue", "polymarket", "--polymarket-url", sim_url, "--json"]
    token = _yes_token(sim_url)

    code, out, _ = _run(capsys, "check-connectivity", *venue)
    report = json.loads(out)
    assert code == 0 and report["ok"], out
    assert [c["step"] for c in report["checks"]] == ["tcp", "rest", "rest-auth", "ws"]

    code, out, _ = _run(capsys, "balance", *venue)
    assert (code, json.loads(out)["balance"]) == (0, "1000")

    code, out, _ = _run(capsys, "order", "place", *venue, "--market", token, "--outcome", "yes",
                        "--side", "buy", "--price", "0.41", "--size", "10", "--tif", "fok")
    ack = json.loads(out)
    assert code == 0 and ack["status"] == "filled" and ack["avg_fill_price"] == "0.41"

    code, out, _ = _run(capsys, "positions", *venue)
    assert code == 0 and [(p["market"], p["size"]) for p in json.loads(out)] == [(token, "10")]

    # the token id is the outcome on Polymarket: --outcome may be left out
    code, out, _ = _run(capsys, "order", "place", *venue, "--market", token,
                        "--side", "buy", "--price", "0.30", "--size", "6")
    resting = json.loads(out)
    assert resting["status"] == "open"
    code, out, _ = _run(capsys, "order", "list", *venue)
    assert [o["order_id"] for o in json.loads(out)] == [resting["order_id"]]
    code, out, _ = _run(capsys, "order", "cancel", *venue, resting["order_id"])
    assert json.loads(out)["status"] == "canceled"

    code, out, err = _run(capsys, "order", "place", *venue, "--market", token, "--outcome",
                          "yes", "--side", "buy", "--price", "0.305", "--size", "6")
    assert code == 1 and "INVALID_ORDER" in err  # off the 0.01 tick: refused before sending
    code, _, err = _run(capsys, "order", "place", *venue, "--market", token, "--outcome", "yes",
                        "--side", "buy", "--price", "abc", "--size", "6")
    assert code == 2 and err.count("\n") == 1
