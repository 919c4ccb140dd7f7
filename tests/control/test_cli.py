"""`arbiter control …` end to end: key set, tokens, a served control API, rotation by reload."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter.cli.main import main
from tests.control.test_tls import self_signed

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip(), err.strip()


@pytest.fixture
def served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Path, str, str, str]]:
    keys = tmp_path / "keys.json"
    assert run(capsys, "control", "keygen", "--keys", str(keys), "--kid", "k1")[0] == 0
    cert, key = self_signed()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arbiter.cli.main",
            "control",
            "serve",
            "--keys",
            str(keys),
            "--tenant",
            "acme",
            "--tenant",
            "globex",
            "--pair",
            "FED",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            str(tmp_path / "cert.pem"),
            "--tls-key",
            str(tmp_path / "key.pem"),
            "--metrics-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()  # "control API on 127.0.0.1:PORT, metrics on URL"
        assert line.startswith("control API on "), (line, proc.stderr.read() if proc.stderr else "")
        target = line.split()[3].rstrip(",")
        metrics_url = line.split()[-1]
        yield keys, target, metrics_url, str(tmp_path / "cert.pem")
    finally:
        proc.terminate()
        proc.wait(10)


def test_keygen_writes_private_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "k.json"
    code, out, _ = run(capsys, "control", "keygen", "--keys", str(keys), "--kid", "a")
    assert code == 0 and "activated a" in out
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
    assert run(capsys, "control", "keygen", "--keys", str(keys), "--kid", "a")[0] == 2
    assert run(capsys, "control", "keygen", "--keys", str(keys), "--retire", "zz")[0] == 2
    code, _, err = run(capsys, "control", "token", "--keys", str(tmp_path / "none.json"), "--tenant", "x")
    assert code == 2 and "cannot read key set" in err and "\n" not in err


Served = tuple[Path, str, str, str]


def test_serve_call_and_rotate(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    keys, target, metrics_url, ca = served

    def ctl(action: str, token: str, *extra: str) -> tuple[int, str, str]:
        return run(capsys, "control", action, "--target", target, "--tls-ca", ca, "--token", token, *extra)

    issue = ("control", "token", "--keys", str(keys), "--tenant", "acme")
    code, tok, _ = run(capsys, *issue, "--role", "operator")
    assert code == 0 and tok.count(".") == 2
    code, out, _ = ctl("status", tok)
    assert code == 0 and '"tenant": "acme"' in out and "globex" not in out
    assert ctl("pause", tok, "--pair", "FED")[1] == "paused FED"
    assert ctl("kill", tok, "--reason", "cli test")[1] == "kill switch on: cli test"
    code, _, err = ctl("status", tok, "--tenant", "globex")
    assert code == 2 and err.startswith("arbiter: PERMISSION_DENIED")
    # the metrics endpoint of the same process reflects the kill switch
    deadline = time.monotonic() + 20
    while True:
        body = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
        if 'arbiter_kill_switch{tenant="acme"} 1.0' in body:
            break
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    # rotate: new key k2, retire k1 -> the running server reloads and refuses the old token
    assert run(capsys, "control", "keygen", "--keys", str(keys), "--kid", "k2")[0] == 0
    assert run(capsys, "control", "keygen", "--keys", str(keys), "--retire", "k1")[0] == 0
    new = run(capsys, *issue)[1]
    deadline = time.monotonic() + 20
    while True:
        code, _, err = ctl("status", tok)
        if code == 2:
            break
        assert time.monotonic() < deadline, "server never reloaded the key set"
        time.sleep(0.2)
    assert err == "arbiter: UNAUTHENTICATED: unknown key id 'k1'"
    assert ctl("status", new)[0] == 0
    code, _, err = ctl("status", "garbage")
    assert code == 2 and "malformed" in err
    # plaintext against the TLS server fails with one line, no traceback
    code, _, err = run(capsys, "control", "status", "--target", target, "--token", new)
    assert code == 2 and err.startswith("arbiter: UNAVAILABLE") and "\n" not in err


def test_bot_command_user_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("ARBITER_TOKEN", raising=False)
    code, _, err = run(capsys, "bot", "--chat", "5=acme")
    assert code == 2 and err == "arbiter: set $TELEGRAM_BOT_TOKEN to the Telegram bot token"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "1:x")
    code, _, err = run(capsys, "bot", "--chat", "5=acme")
    assert code == 2 and err == "arbiter: set $ARBITER_TOKEN to a control API token"
    code, _, err = run(capsys, "bot", "--chat", "five=acme")
    assert code == 2 and err.startswith("arbiter: bad chat mapping 'five=acme'")
    code, _, err = run(capsys, "control", "status", "--target", "127.0.0.1:1")
    assert code == 2 and err == "arbiter: no token: pass --token or set ARBITER_TOKEN"
