"""Reading back every log a run produced: the secrets it was given, and its JSON records.

Shared by the demo and the job test: the secrets are the paper venues' own credentials (the RSA
key Kalshi signs with, the Polymarket wallet key and L2 API triple), read from the files the run
wrote, so the check is on the strings the engine really held.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def paper_secrets(workdir: Path) -> list[str]:
    """Every secret string of a paper run's credentials (PEM body lines, keys, API triple)."""
    pem = (workdir / "kalshi.pem").read_text()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    poly_key = (workdir / "polymarket.key").read_text().strip()
    accounts = tomllib.loads((workdir / "polymarket-accounts.toml").read_text())
    (account,) = accounts["account"]
    api = [str(account[k]) for k in ("api_secret", "api_passphrase")]
    found = [*body, poly_key, poly_key.removeprefix("0x"), *api]
    assert len(found) > 10 and all(len(s) >= 16 for s in found), found
    return found


def log_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*") if p.is_file()
                  and (p.suffix in (".log", ".out", ".err", ".txt") or "log" in p.parts[-2]))


def leaks(secrets: Iterable[str], texts: Iterable[tuple[str, str]]) -> list[str]:
    """``where: secret prefix`` for every secret found in any text."""
    wanted = list(secrets)
    return [f"{where}: {s[:8]}..." for where, text in texts for s in wanted if s in text]


def json_records(texts: Iterable[str]) -> Iterator[dict[str, Any]]:
    for text in texts:
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "logger" in record and "msg" in record:
                    yield record


def read(path: Path) -> str:
    return path.read_text(errors="replace")
