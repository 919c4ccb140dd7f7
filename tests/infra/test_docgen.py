"""The generated docs pages (tools/docgen.py): every registered command, every environment read,
the pairs keys, metrics, alerts and ADRs appear; doc/code mismatches are reported."""

from __future__ import annotations

import argparse
import re
import textwrap
from pathlib import Path

from arbiter.cli import main
from tools import docgen


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]


def test_cli_reference_covers_every_registered_command_and_option() -> None:
    loaded = docgen.load_cli_parser()

    page = docgen.render_cli_reference(loaded)
    commands = docgen.walk_commands(main.build_parser())
    assert len(commands) > 1  # the root and at least one subcommand
    for command in commands:
        anchor = "-".join(command.path)
        assert f"## `{' '.join(command.path)}` {{#{anchor}}}" in page
        for option in _options(command.parser):
            assert f"`{option}`" in page, (command.path, option)


def _toy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toy", description="Toy CLI.")
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    venue = sub.add_parser("venue", help="venue tools", description="Talk to a venue.")
    inner = venue.add_subparsers(dest="sub")
    check = inner.add_parser("check", aliases=["ping"], help="check connectivity | quickly")
    check.add_argument("market", help="market id")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds (default %(default)s)")
    check.add_argument("--env", choices=["prod", "demo"], required=True, help="environment")
    check.add_argument("--secret", help=argparse.SUPPRESS)
    check.add_argument("--json", action="store_true", help="machine output")
    sub.add_parser("demo", help="run the demo")
    return parser


def test_walk_reaches_nested_commands_once_despite_aliases() -> None:
    paths = [c.path for c in docgen.walk_commands(_toy_parser())]
    assert paths == [("toy",), ("toy", "venue"), ("toy", "venue", "check"), ("toy", "demo")]
    assert docgen.leaf_commands(_toy_parser()) == [("toy", "venue", "check"), ("toy", "demo")]


def test_render_shows_usage_options_choices_defaults_and_escapes_pipes() -> None:
    page = docgen.render_cli_reference(docgen.LoadedParser(_toy_parser()))
    assert "| [`toy venue check`](#toy-venue-check) | check connectivity \\| quickly |" in page
    assert "usage: toy venue check [-h] [--timeout TIMEOUT] --env {prod,demo} [--json] market" \
        in page
    assert "| `market` | market id |" in page
    assert "| `--timeout` `TIMEOUT` | seconds (default 5.0) | `5.0` |" in page
    assert "| `--env` `ENV` **required** | environment Choices: `prod`, `demo`. |  |" in page
    assert "| `--json` | machine output |  |" in page
    assert "--secret" not in page
    assert "Talk to a venue." in page


ENV_MODULE = '''
import os
from os import environ, getenv

PREFIX_VAR = "APP_TOKEN"
ENV_NAMES = {"prod": ("APP_KEY", "APP_KEY_PATH"), "demo": ("APP_DEMO_KEY", "APP_DEMO_KEY_PATH")}

LEVEL = os.environ.get("APP_LOG_LEVEL", "info")
HOME = os.getenv("APP_HOME")
DEBUG = "APP_DEBUG" in os.environ
REQUIRED = os.environ["APP_REQUIRED"]
BARE = getenv("APP_BARE", "x")
SET = environ.setdefault("APP_SET", "1")


def load(env=None, demo=False):
    env = os.environ if env is None else env
    token = env.get(PREFIX_VAR)
    parts = [env.get(f"APP_API_{n}") for n in ("KEY", "SECRET")]
    key_var, path_var = ENV_NAMES["demo" if demo else "prod"]
    return token, parts, env.get(key_var), env[path_var]


def unrelated(env):
    return env.get("NOT_AN_ENV_READ")
'''


def test_env_scan_finds_every_read_form(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(ENV_MODULE)
    (tmp_path / "pkg" / "quiet.py").write_text("x = {'APP_NOT_READ': 1}\n")
    reads = docgen.collect_env_reads([tmp_path / "pkg"], base=tmp_path)
    names = {r.name for r in reads}
    assert names == {
        "APP_LOG_LEVEL", "APP_HOME", "APP_DEBUG", "APP_REQUIRED", "APP_BARE", "APP_SET",
        "APP_TOKEN", "APP_API_KEY", "APP_API_SECRET",
        # computed names resolve to the module's *ENV* table
        "APP_KEY", "APP_KEY_PATH", "APP_DEMO_KEY", "APP_DEMO_KEY_PATH",
    }
    defaults = {r.name: r.default for r in reads}
    assert defaults["APP_LOG_LEVEL"] == "info" and defaults["APP_BARE"] == "x"
    assert {r.file for r in reads} == {"pkg/mod.py"}
    level = next(r for r in reads if r.name == "APP_LOG_LEVEL")
    assert level.line == ENV_MODULE.splitlines().index(
        'LEVEL = os.environ.get("APP_LOG_LEVEL", "info")') + 1


def test_env_scan_names_unresolvable_reads_instead_of_dropping_them(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        'import os\n\nclass Box:\n    """Reads ``BOX_<NAME>``.\n\n    More."""\n\n'
        "    def get(self, name):\n        return os.environ['BOX_' + name.upper()]\n"
    )
    reads = docgen.collect_env_reads([tmp_path], base=tmp_path)
    assert [(r.name, r.computed, r.note) for r in reads] == [
        ("(computed: 'BOX_' + name.upper())", True, "Reads ``BOX_<NAME>``.")
    ]


def test_configuration_reference_lists_real_env_reads_and_pairs_keys() -> None:
    page, problems = docgen.render_configuration_reference()
    assert problems == []
    for read in docgen.collect_env_reads():
        shown = read.name[len("(computed: "):-1] if read.computed else read.name
        assert f"`{shown}`" in page
    keys = docgen.pairs_keys()
    if keys is not None:  # arbiter/core/pairs.py documents its keys in a table
        assert keys.keys and all(f"`{k}`" in page for k in keys.keys)


def _pairs_module(tmp_path: Path, table_keys: list[str], known: list[str]) -> Path:
    rows = "\n".join(f"| `{k}` | string | meaning of {k} |" for k in table_keys)
    module = tmp_path / "pairs.py"
    module.write_text(
        f'"""Pairs.\n\n| key | type | meaning |\n|---|---|---|\n{rows}\n"""\n\n'
        f"_KNOWN = {set(known)!r}\n"
    )
    return module


def test_pairs_keys_in_sync(tmp_path: Path) -> None:
    keys = docgen.pairs_keys(_pairs_module(tmp_path, ["name", "ticker"], ["name", "ticker"]))
    assert keys is not None
    assert keys.keys == ["name", "ticker"] and keys.problems == []


def test_pairs_key_drift_is_reported_both_ways(tmp_path: Path) -> None:
    keys = docgen.pairs_keys(_pairs_module(tmp_path, ["name", "old"], ["name", "new"]))
    assert keys is not None
    assert keys.problems == [
        "pairs.py: key 'new' is accepted by the parser but missing from the docstring table",
        "pairs.py: key 'old' is documented but the parser rejects it",
    ]


def test_pairs_keys_absent_module(tmp_path: Path) -> None:
    assert docgen.pairs_keys(tmp_path / "missing.py") is None


def test_metrics_scan_and_alert_rules(tmp_path: Path) -> None:
    (tmp_path / "metrics.py").write_text(textwrap.dedent('''
        from prometheus_client import Counter, Histogram
        import prometheus_client as pc
        ORDERS = Counter("arbiter_orders_total", "Orders sent", ["venue", "outcome"])
        LAT = pc.Histogram("arbiter_tick_seconds", documentation="Tick latency")
        NOT_A_METRIC = Counter(name_from_config, "dynamic")

        class Metrics:
            def __init__(self, namespace: str = "eng") -> None:
                ns = namespace

                def gauge(name, doc, labels):
                    return pc.Gauge(name, doc, labels, namespace=ns)

                self.kill = gauge("kill_switch", "1 while on", ["tenant"])
                self.ticks = Counter("ticks", "Frames", ["venue"], namespace=ns)
    '''))
    metrics = docgen.collect_metrics(tmp_path, base=tmp_path)
    assert metrics == [
        docgen.Metric("arbiter_orders_total", "Counter", "Orders sent", ("venue", "outcome"),
                      "metrics.py"),
        docgen.Metric("arbiter_tick_seconds", "Histogram", "Tick latency", (), "metrics.py"),
        docgen.Metric("eng_kill_switch", "Gauge", "1 while on", ("tenant",), "metrics.py"),
        docgen.Metric("eng_ticks_total", "Counter", "Frames", ("venue",), "metrics.py"),
    ]
    page = docgen.render_metrics_reference()
    assert "`RayNodeMetricsMissing`" in page  # from terraform/modules/observability/rules
    # the Ray actors' own metrics, as Ray's agent names them
    assert "| `ray_arbiter_sagas_total` | counter | `outcome` |" in page
    assert "| `ray_arbiter_detect_to_order_ms` | histogram |" in page
    for file in (docgen.ROOT / "cluster" / "prometheus").glob("alerts.yml"):
        for alert in re.findall(r"^\s*- alert: (\w+)", file.read_text(), re.M):
            assert f"`{alert}`" in page


def test_ray_metrics_scan(tmp_path: Path) -> None:
    module = tmp_path / "ray_metrics.py"
    module.write_text(textwrap.dedent('''
        from ray.util import metrics
        A = metrics.Counter("arbiter_sagas", "sagas by outcome", tag_keys=("outcome",))
        B = metrics.Gauge("arbiter_pnl", description="pnl")
        C = metrics.Histogram("arbiter_ms", "latency", boundaries=[1, 2])
        D = other.Counter("not_ray", "x")
    '''))
    assert docgen.collect_ray_metrics(module, base=tmp_path) == [
        docgen.Metric("ray_arbiter_ms", "Histogram", "latency", (), "ray_metrics.py"),
        docgen.Metric("ray_arbiter_pnl", "Gauge", "pnl", (), "ray_metrics.py"),
        docgen.Metric("ray_arbiter_sagas_total", "Counter", "sagas by outcome", ("outcome",),
                      "ray_metrics.py"),
    ]
    assert docgen.collect_ray_metrics(tmp_path / "missing.py") == []
    # every metric the real module declares is on the page
    declared = re.findall(r'metrics\.\w+\(\s*"(\w+)"', docgen.RAY_METRICS_MODULE.read_text())
    page = docgen.render_metrics_reference()
    assert declared and all(f"`ray_{name}" in page for name in declared)


def test_adr_entries_and_index(tmp_path: Path) -> None:
    (tmp_path / "0002-second.md").write_text("# ADR 0002: Second\n\nStatus: accepted (2026-11-25)\n")
    (tmp_path / "0001-first.md").write_text("# ADR 0001: First | piped\n\n- **Status:** proposed\n")
    (tmp_path / "index.md").write_text("# Index\n")
    (tmp_path / "notes.md").write_text("# not an ADR\n")
    entries = docgen.adr_entries(tmp_path)
    assert [(a.number, a.file, a.status) for a in entries] == [
        ("0001", "0001-first.md", "proposed"),
        ("0002", "0002-second.md", "accepted (2026-11-25)"),
    ]
    table = docgen.render_adr_index(entries)
    assert "| 0001 | [ADR 0001: First \\| piped](0001-first.md) | proposed |" in table
    assert docgen.render_adr_index([]) == "No decisions recorded yet."


def test_real_adrs_are_numbered_and_titled() -> None:
    entries = docgen.adr_entries(docgen.ROOT / "docs" / "adr")
    ours = [a for a in entries if "0050" <= a.number <= "0059"]
    assert len(ours) >= 5
    assert all(a.title.startswith(f"ADR {a.number}:") and a.status for a in ours)


def test_nav_drops_only_missing_optional_pages_and_appends_adrs(tmp_path: Path) -> None:
    (tmp_path / "core.md").write_text("# Core\n")
    nav = [
        {"Home": "index.md"},
        {"Capabilities": [{"Core": "core.md"}, {"Kalshi": "kalshi.md"}]},
        {"Later": [{"Execution": "execution.md"}]},
        {"Gone": "gone.md"},
        {"Decisions": ["adr/index.md", "adr/0001-a.md"]},
    ]
    optional = frozenset({"core.md", "kalshi.md", "execution.md"})
    kept, dropped = docgen.drop_missing_pages(nav, tmp_path, optional)
    assert dropped == ["kalshi.md", "execution.md"]
    assert kept == [
        {"Home": "index.md"},
        {"Capabilities": [{"Core": "core.md"}]},
        {"Gone": "gone.md"},  # not optional: stays, so the strict build fails on it
        {"Decisions": ["adr/index.md", "adr/0001-a.md"]},
    ]
    assert docgen.add_to_nav_section(kept, "adr/index.md", ["adr/0001-a.md", "adr/0050-b.md"])
    assert kept[-1] == {"Decisions": ["adr/index.md", "adr/0001-a.md", "adr/0050-b.md"]}
    assert not docgen.add_to_nav_section([{"Home": "index.md"}], "adr/index.md", ["x.md"])
