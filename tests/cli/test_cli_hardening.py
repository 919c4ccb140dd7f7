"""Every ``arbiter`` command, fed wrong input, ends with one clear line and exit 1 or 2.

The commands are enumerated from the real argparse tree (:func:`arbiter.cli.main.build_parser`),
so a command added tomorrow is driven here too. For each command, every option whose value is
typed (numbers, ports), every option with choices and every option that names a file gets bad
values: negative, zero, huge, not a number, bogus choices, a missing file, a directory, a file of
garbage bytes. Required options get a placeholder file of garbage, so the command cannot get far
enough to do anything real. Each run must end with exit code 1 (runtime) or 2 (usage), exactly
one line on stderr that starts with the command's name, and no traceback and no "internal
error" (the last-resort handler of :func:`arbiter.cli.main.main` counts as a failure here).
Nothing leaves loopback: every venue URL default is production, so the venue commands get
``--kalshi-url``/``--polymarket-url`` pointing at a closed loopback port.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbiter.cli import main as cli

pytestmark = pytest.mark.integration  # loopback servers (tests/README.md)

#: substrings of an option's dest that mean "a path to a file we read"
FILE_HINTS = ("config", "pairs", "file", "snapshot", "accounts", "keys", "scenario", "catalogue",
              "markets", "data", "tls_", "private_key", "from_file")
#: loopback, closed: every URL default is a production venue
CLOSED = "http://127.0.0.1:9"
URL_OVERRIDES = {"--kalshi-url": CLOSED, "--kalshi-ws-url": "ws://127.0.0.1:9",
                 "--polymarket-url": CLOSED, "--polymarket-ws-url": "ws://127.0.0.1:9",
                 "--polymarket-gamma-url": CLOSED, "--api-base": CLOSED,
                 "--target": "127.0.0.1:9"}
NUMBERS = ("-1", "0", "1e400", "99999999999999999999999", "abc")
#: cases whose "bad" value is a good one: the command does its job (exit 0, nothing on stderr)
VALID = {"control keygen --keys=TMP/missing.file"}  # keygen creates the missing key set


def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaves(child, (*path, name))


def _is_file(action: argparse.Action) -> bool:
    return any(h in action.dest for h in FILE_HINTS) and action.type in (None, str, Path)


def _option(action: argparse.Action) -> str | None:
    return action.option_strings[-1] if action.option_strings else None


def _value_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._StoreTrueAction,
                                  argparse._StoreFalseAction, argparse._SubParsersAction))]


GARBAGE = b"\xff\xfe\x00[[[ not toml, json or pem \x00\x01"


def _garbage(tmp: Path) -> Path:
    """The garbage file (written by the test before the command runs)."""
    return tmp / "garbage.toml"


def _bad_values(action: argparse.Action, tmp: Path) -> list[str]:
    if action.choices is not None and all(isinstance(c, str) for c in action.choices):
        return ["bogus-choice"]
    if action.choices is not None:
        return ["-1", "abc"]
    if action.type not in (None, str, Path):
        return list(NUMBERS)
    if _is_file(action):
        return [str(tmp / "missing.file"), str(tmp), str(_garbage(tmp))]
    return []


def _placeholder(action: argparse.Action, tmp: Path) -> list[str]:
    """A value for a required argument that gets the command nowhere."""
    if action.choices is not None:
        return [str(next(iter(action.choices)))]
    if action.type not in (None, str, Path):
        return ["1"]
    if action.nargs in ("+", "*"):
        return [str(_garbage(tmp))] if _is_file(action) else ["x"]
    return [str(_garbage(tmp))] if _is_file(action) else ["bogus-value"]


def cases(tmp: Path) -> Iterator[tuple[str, list[str]]]:
    """(case id, argv) for every leaf command and every bad value of each of its arguments."""
    for path, parser in leaves(cli.build_parser()):
        actions = _value_actions(parser)
        opts = {o for a in actions for o in a.option_strings}
        overrides = [x for k, v in URL_OVERRIDES.items() if k in opts for x in (k, v)]
        for target in actions:
            for bad in _bad_values(target, tmp):
                argv = [*path]
                positionals: list[str] = []
                for action in actions:
                    if action is target:
                        values = [bad]
                    elif action.required or not action.option_strings:
                        values = _placeholder(action, tmp)
                    else:
                        continue
                    option = _option(action)
                    if option is None:
                        positionals += values
                    else:
                        argv += [option, *values]
                shown = bad.replace(str(tmp), "TMP")
                yield (f"{' '.join(path)} {_option(target) or target.dest}={shown}",
                       [*argv, *[o for o in overrides if o not in argv], *positionals])
        required = [a for a in actions if a.required or not a.option_strings]
        base: list[str] = []
        positionals = []
        for action in required:
            option = _option(action)
            values = _placeholder(action, tmp)
            if option is None:
                positionals += values
            else:
                base += [option, *values]
        yield f"{' '.join(path)} --no-such-flag", [*path, *base, "--no-such-flag", *positionals]


def _all_cases() -> list[tuple[str, list[str]]]:
    return list(cases(Path("/TMP")))


ALL = _all_cases()


def test_the_tree_has_every_command_and_bad_values_for_each() -> None:
    """The enumeration is not vacuous: every leaf command is here, most with typed values."""
    names = {" ".join(path) for path, _ in leaves(cli.build_parser())}
    assert len(names) >= 30
    for name in names:
        assert any(case.startswith(name + " ") for case, _ in ALL), name
    assert len(ALL) >= 150


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", [c for c, _ in ALL])
def test_bad_input_ends_in_one_line_and_exit_1_or_2(
        case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    argv = dict(cases(tmp_path))[case]
    monkeypatch.setenv("ARBITER_HOME", str(tmp_path / "home"))
    for var in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "POLYMARKET_PRIVATE_KEY",
                "ARBITER_TOKEN", "TELEGRAM_BOT_TOKEN", "ARBITER_DB_ADMIN_DSN", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    _garbage(tmp_path).write_bytes(GARBAGE)
    log = tmp_path / "arbiter.log"
    try:
        code = cli.main(["--log-file", str(log), *argv])
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    if case in VALID:
        assert (code, err) == (0, "")
        return
    assert code in (1, 2), (argv, code, err)
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    assert len(lines) == 1, (argv, err)
    assert lines[0].startswith("arbiter"), err


def _cli(*argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arbiter", "--log-file", "/dev/null", *argv],
                          capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload]


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["run", "--cluster", "bogus"], 2, "--cluster: must be local, local4, auto or a Ray address"),
    (["sweep", "--random", "-1", "--synthetic", "events=100", "--grid", "min_edge=0.01,0.02",
      "--out", "x"], 2, "--random: must be a whole number 0.."),
    (["sim", "kalshi", "--port", "99999", "--accounts", "a.toml"], 2,
     "--port: must be a port 0..65535, got '99999'"),
    (["run", "--duration", "inf", "--paper"], 2, "--duration: must be a number of seconds"),
    (["--log-level", "bogus", "demo", "--offline"], 2, "arbiter: Unknown level: 'BOGUS'"),
    (["--log-format", "bogus", "demo", "--offline"], 2, "--log-format: invalid choice: 'bogus'"),
    ([], 2, "the following arguments are required: COMMAND"),
    (["pairs"], 2, "arbiter pairs: error: the following arguments are required: ACTION"),
])
def test_the_issue_23_cases(argv: list[str], code: int, message: str, tmp_path: Path) -> None:
    done = _cli(*argv, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["scan", "backtest", "demo"])
def test_output_into_a_closed_pipe_ends_quietly(command: str, tmp_path: Path) -> None:
    """``arbiter scan | head``: the reader is gone before the command writes (its read end
    closed first, so the write meets EPIPE every time); the command ends without a word on
    stderr, exit 141 like ``cat big | head``."""
    from importlib import resources

    data = resources.files("arbiter.data")
    pairs = tmp_path / "pairs.toml"
    snapshot = tmp_path / "snapshot.json"
    pairs.write_text((data / "sample_pairs.toml").read_text(encoding="utf-8"))
    snapshot.write_text((data / "sample_snapshot.json").read_text(encoding="utf-8"))
    argv = {"scan": ["scan", "--pairs", str(pairs), str(snapshot)],
            "backtest": ["backtest", "--synthetic", "events=2000,pairs=2,days=1", "--json"],
            "demo": ["demo", "--offline", "--json"]}[command]
    import os

    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "arbiter", "--log-file", "/dev/null", *argv],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert done.stderr == "", done.stderr
    assert done.returncode == cli.EXIT_BROKEN_PIPE


# -- arbiter --help is drawn from the index alone ------------------------------------------------


def test_the_command_index_matches_the_tree_the_modules_register() -> None:
    """``COMMANDS`` (what ``--help`` shows, what decides the imports) is the real tree: same
    commands, same order, same help; each command's modules register it."""
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    tree = [(a.dest, a.help) for a in sub._choices_actions]
    assert tree == [(name, help_text) for name, help_text, _ in cli.COMMANDS]
    for name, _help, modules in cli.COMMANDS:
        assert set(modules) <= set(cli.COMMAND_MODULES)
        only = next(a for a in cli.build_parser(modules)._actions
                    if isinstance(a, argparse._SubParsersAction))
        assert name in only.choices


HEAVY = ("ray", "pyarrow", "aiohttp", "eth_account", "eth_utils", "grpc", "rich", "msgspec",
         "arbiter.venues", "arbiter.engine", "arbiter.sim", "arbiter.backtest")


def test_help_and_the_cli_module_import_nothing_heavy() -> None:
    code = textwrap.dedent(f"""
        import sys
        import arbiter.cli.main as cli
        assert "ray" not in sys.modules
        try:
            cli.main(["--help"])
        except SystemExit as exc:
            assert exc.code == 0
        heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))
        print("HEAVY:" + ",".join(heavy))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_a_command_imports_only_its_own_modules() -> None:
    """``arbiter scan --help`` needs the scan module, not the venue clients or Ray."""
    code = textwrap.dedent("""
        import sys
        import arbiter.cli.main as cli
        try:
            cli.main(["scan", "--help"])
        except SystemExit as exc:
            assert exc.code == 0
        print("ray" in sys.modules, "arbiter.cli.venue" in sys.modules,
              "arbiter.cli.scan" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "False False True", done.stderr


def test_help_costs_well_under_half_a_second_of_cpu() -> None:
    """``arbiter --help`` under 0.5 s: CPU time (user + system) of the whole process, which a
    loaded machine stretches far less than wall time (measured 0.05-0.07 s; it was 0.86 s)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "arbiter", "--help"], capture_output=True,
                          text=True, timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0 and "COMMAND" in done.stdout
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.5, cpu
