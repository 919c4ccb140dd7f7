"""The engine config is decoded once, at load: a value the engine cannot use is one
:class:`ConfigError` naming the file, the table and the key (arbiter.app.config_schema)."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from arbiter.app.config import load_config
from arbiter.app.config_schema import ConfigFile, decode_config
from arbiter.cli.errors import ConfigError

BASE = """\
[engine]
pairs = "pairs.toml"

[detection]
min_edge = "0.01"

[risk]
max_open_sagas = 4

[kalshi]
rest_url = "http://127.0.0.1:9/trade-api/v2"
ws_url = "ws://127.0.0.1:9/trade-api/ws/v2"

[polymarket]
rest_url = "http://127.0.0.1:9"
ws_url = "ws://127.0.0.1:9/ws"

[[tenant]]
name = "main"
kalshi_key_id = "k"
kalshi_private_key = "kalshi.pem"
polymarket_private_key = "poly.key"
"""


def _config(tmp_path: Path, text: str) -> Path:
    pairs = resources.files("arbiter.data") / "sample_pairs.toml"
    (tmp_path / "pairs.toml").write_text(pairs.read_text(encoding="utf-8"))
    (tmp_path / "kalshi.pem").write_text("not read at load\n")
    (tmp_path / "poly.key").write_text("not read at load\n")
    path = tmp_path / "engine.toml"
    path.write_text(text)
    return path


def _with(table: str, line: str) -> str:
    """BASE with ``line`` added at the top of ``table`` (``[risk]``, ``[[tenant]]``)."""
    assert table in BASE
    key = line.split("=", 1)[0].strip()
    base = "".join(x for x in BASE.splitlines(keepends=True) if not x.startswith(f"{key} ="))
    return base.replace(f"{table}\n", f"{table}\n{line}\n", 1)


def test_the_base_config_loads(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, BASE))
    assert config.limits.max_open_sagas == 4 and config.gate.max_open_sagas == 4
    assert config.detection.min_edge == 100  # $0.01 in 1e-4 dollar units


@pytest.mark.parametrize(("table", "line", "message"), [
    ("[risk]", "max_open_sagas = -3",
     "[risk] max_open_sagas: must be a whole number at least 1, got -3"),
    ("[risk]", "max_open_sagas = 0", "[risk] max_open_sagas: must be a whole number at least 1, got 0"),
    ("[risk]", 'max_open_sagas = "4"', "[risk] max_open_sagas: must be a whole number, got '4'"),
    ("[risk]", "max_open_sagas = true", "[risk] max_open_sagas: must be a whole number, got True"),
    ("[risk]", "max_hedge_failures = 0", "[risk] max_hedge_failures: must be a whole number at least 1"),
    ("[risk]", 'max_daily_loss = "-5"', "[risk] max_daily_loss: must be above 0, got '-5'"),
    ("[risk]", 'max_daily_loss = "0"', "[risk] max_daily_loss: must be above 0, got '0'"),
    ("[risk]", "max_gross_exposure = -100", "[risk] max_gross_exposure: must be above 0, got -100"),
    ("[risk]", 'max_gross_exposure = "lots"', "[risk] max_gross_exposure: "),
    ("[risk]", "max_open_sagaz = 3", "[risk] max_open_sagaz: unknown key (known: max_daily_loss, "),
    ("[detection]", "max_contracts = 0", "[detection] max_contracts: must be above 0, got 0"),
    ("[detection]", 'budget = "-1"', "[detection] budget: must be above 0, got '-1'"),
    ("[detection]", 'min_edge = "-0.01"', "[detection] min_edge: price '-0.01' is outside"),
    ("[engine]", "cooldown_ms = -1", "[engine] cooldown_ms: must be a whole number at least 0, got -1"),
    ("[engine]", "metrics_port = 99999", "[engine] metrics_port: must be a whole number at most 65535"),
    ("[engine]", "priority = 99", "[engine] priority: must be a whole number at most 20, got 99"),
    ("[engine]", 'journal_sync = "SOMETIMES"', "[engine] journal_sync: not one of the allowed values"),
    ("[engine]", 'first_venue = "nyse"', "[engine] first_venue: not one of the allowed values"),
    ("[engine]", 'namespace = ""', "[engine] namespace: must be a non-empty string, got ''"),
    ("[engine]", "cooldwn_ms = 5", "[engine] cooldwn_ms: unknown key (known: cooldown_ms, "),
    ("[[tenant]]", "polymarket_signature_type = 7",
     "[[tenant]] #1 polymarket_signature_type: not one of the allowed values, got 7"),
    ("[[tenant]]", "polymarket_chain_id = 0", "[[tenant]] #1 polymarket_chain_id: must be a whole number"),
    ("[[tenant]]", 'kalshi_api_key = "x"', "[[tenant]] #1 kalshi_api_key: unknown key"),
])
def test_a_bad_value_names_file_table_and_key(
        tmp_path: Path, table: str, line: str, message: str) -> None:
    path = _config(tmp_path, _with(table, line))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path} {message}"), str(info.value)
    assert "\n" not in str(info.value)


def test_an_unknown_table_and_a_table_of_the_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"engine.toml riks: unknown key \(known: credentials, detection, "):
        load_config(_config(tmp_path, BASE + "\n[riks]\nmax_open_sagas = 1\n"))
    text = BASE.replace("[[tenant]]", "[tenant]")
    with pytest.raises(ConfigError, match=r"engine.toml \[tenant\]: must be \[\[tenant\]\] tables"):
        load_config(_config(tmp_path, text))


def test_the_schema_knows_every_key_the_docstring_example_uses() -> None:
    """The example config in arbiter.app.config's docstring decodes (it is what users copy)."""
    import tomllib

    from arbiter.app import config as bootstrap

    doc = bootstrap.__doc__ or ""
    example = doc[doc.index("    [engine]"):doc.index('"""', doc.index("    [engine]"))
                  if '"""' in doc[doc.index("    [engine]"):] else None]
    text = "\n".join(line[4:] for line in example.splitlines())
    decoded = decode_config(tomllib.loads(text), "example.toml")
    assert isinstance(decoded, ConfigFile) and decoded.risk.max_open_sagas == 4


def test_arbiter_run_refuses_it_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _config(tmp_path, _with("[risk]", "max_open_sagas = -3"))
    done = subprocess.run([sys.executable, "-m", "arbiter", "--log-file", "/dev/null", "run",
                           "--config", str(path), "--dry-run"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"arbiter: {path} [risk] max_open_sagas: must be a whole number at "
                           "least 1, got -3\n")
