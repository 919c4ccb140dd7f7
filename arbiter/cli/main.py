"""The ``arbiter`` command: one argparse tree, each capability registering its own subcommands.

Commands live beside the capability they drive (``arbiter.cli.scan``, the venue packages'
``commands`` modules, ...); this module only composes them, so adding a command never means
editing a growing if/else here. A user mistake ends with one line on stderr and exit code 2,
never a traceback.

Logging is set up here, before any command runs: JSON with redaction on stderr by default
(``--log-format text`` or ``ARBITER_LOG_FORMAT=text`` for people, ``--log-file`` to write it
elsewhere); the demo sends it to a file in its work directory so the terminal view stays
readable (ADR 0143).

Wrong input never ends in a traceback (ADR 0163): argparse errors are one line (exit 2), value
types in :mod:`arbiter.cli.argtypes` refuse unusable numbers at parse time, a
:class:`UsageError` (a :class:`ConfigError` too) is exit 2, what the world refuses at run time (a
venue, the network, the file system) is exit 1, and a closed stdout (``arbiter scan | head``)
ends quietly. ``arbiter --help`` imports no command module: :data:`COMMANDS` names each
command's module, and only the chosen command's modules are imported (ADR 0165).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from arbiter.cli.errors import ConfigError, UsageError
from arbiter.telemetry.logging import FORMATS, LOG_FILE_ENV, LOG_FORMAT_ENV, LOG_LEVEL_ENV, setup

__all__ = ["COMMANDS", "COMMAND_MODULES", "ArgumentParser", "ConfigError", "UsageError",
           "build_parser", "main", "version_text"]

#: exit code of a command whose stdout reader went away (128 + SIGPIPE, as the shell reports
#: ``cat big | head``)
EXIT_BROKEN_PIPE = 141

_log = logging.getLogger("arbiter.cli")

#: Modules that expose ``register(subparsers)``. Order is the order of ``arbiter --help``.
COMMAND_MODULES: list[str] = [
    "arbiter.cli.scan",
    "arbiter.cli.demo",
    "arbiter.cli.backtest",
    "arbiter.cli.run",
    "arbiter.cli.venue",
    "arbiter.cli.pairs_suggest",
    "arbiter.cli.pairs_refresh",
    "arbiter.cli.tenant",
    "arbiter.cli.observability",
]

#: Every top-level command, in ``arbiter --help`` order: its one-line help and the modules (of
#: :data:`COMMAND_MODULES`) that register it. ``arbiter --help`` is drawn from this table alone
#: and a command imports only its own modules, so no command pays for another's imports (the
#: venue clients, aiohttp, the Ray engine). tests/cli/test_cli_hardening.py checks it against the
#: tree the modules register, so a new command fails the test until it is listed here.
COMMANDS: list[tuple[str, str, tuple[str, ...]]] = [
    ("scan", "find arbitrage in a snapshot of both venues' books", ("arbiter.cli.scan",)),
    ("demo", "live paper-money demo on local venues (or --offline)", ("arbiter.cli.demo",)),
    ("record", "record both venues' normalised events to Parquet", ("arbiter.cli.backtest",)),
    ("backtest", "deterministic replay through the live execution path",
     ("arbiter.cli.backtest",)),
    ("sweep", "grid/random search of backtests as Ray tasks", ("arbiter.cli.backtest",)),
    ("export", "export a stored stream for a time range", ("arbiter.cli.backtest",)),
    ("run", "run the live engine in the foreground", ("arbiter.cli.run",)),
    ("check-connectivity", "check DNS/TCP/TLS, REST auth and WebSocket per venue",
     ("arbiter.cli.venue",)),
    ("order", "place, cancel or list orders by hand", ("arbiter.cli.venue",)),
    ("balance", "show the account's available balance", ("arbiter.cli.venue",)),
    ("positions", "show the account's positions", ("arbiter.cli.venue",)),
    ("fills", "show the account's fills", ("arbiter.cli.venue",)),
    ("sim", "run a local venue simulator", ("arbiter.cli.venue",)),
    ("pairs", "work with the pairs file", ("arbiter.cli.pairs_suggest", "arbiter.cli.pairs_refresh")),
    ("credentials", "encrypted venue credentials per tenant", ("arbiter.cli.tenant",)),
    ("tenants", "add, remove and list tenants", ("arbiter.cli.tenant",)),
    ("control", "gRPC control API: serve it, issue tokens, call it",
     ("arbiter.cli.observability",)),
    ("bot", "run the Telegram bot against a control API", ("arbiter.cli.observability",)),
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``arbiter run: error: argument --cluster: ... (see
    arbiter run --help)``, exit code 2. The full usage block buried the message under a screen
    of flags. Sub-parsers inherit the class (``add_subparsers`` uses the parent's type)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def version_text() -> str:
    """``arbiter 0.1.0`` and the hot core's build: compiled by mypyc or pure (ADR 0155)."""
    from importlib.metadata import PackageNotFoundError, version

    from arbiter.core import compiled

    try:
        number = version("arbiter")
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "unknown"
    return f"arbiter {number}\n{compiled().describe()}"


class _Version(argparse.Action):
    """Prints :func:`version_text` as it is (argparse's own version action rewraps lines)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit()


def _root() -> ArgumentParser:
    parser = ArgumentParser(
        prog="arbiter",
        description="Cross-venue arbitrage between Kalshi and Polymarket.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="the version and which build of the hot core is loaded, then exit")
    parser.add_argument("--log-format", choices=FORMATS, default=None,
                        help=f"json (default) or text; also ${LOG_FORMAT_ENV}")
    parser.add_argument("--log-level", default=None, help=f"default INFO; also ${LOG_LEVEL_ENV}")
    parser.add_argument("--log-file", default=None,
                        help=f"write logs to this file instead of stderr; also ${LOG_FILE_ENV}")
    return parser


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole tree (docs, tests), or only the commands of ``modules``."""
    parser = _root()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = set(COMMAND_MODULES if modules is None else modules)
    for name in COMMAND_MODULES:
        if name in wanted:
            importlib.import_module(name).register(sub)
    return parser


def _index_parser() -> ArgumentParser:
    """The top level only, from :data:`COMMANDS`: enough for ``arbiter --help`` and for finding
    which command ``argv`` names, without importing any command module."""
    parser = _root()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text, _modules in COMMANDS:
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for this command line: the index settles ``--help``, a missing or unknown
    command; then only the named command's modules are imported."""
    known, _rest = _index_parser().parse_known_args(argv)
    modules = next((m for name, _h, m in COMMANDS if name == known.command), None)
    return build_parser(modules)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again (the recipe
    in the Python docs, "Note on SIGPIPE" of the signal module)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in a test)
        pass


def _runtime_line(exc: BaseException) -> str:
    """One line for an error the world raised (venue, network, file system)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


def _runtime_errors() -> tuple[type[BaseException], ...]:
    """Errors reported as exit 1. VenueError is imported only if its module already is: a
    command that never loaded a venue cannot have raised one (and --help stays light)."""
    base = sys.modules.get("arbiter.venues.base")
    venue_error: tuple[type[BaseException], ...] = (base.VenueError,) if base is not None else ()
    return (OSError, TimeoutError, *venue_error)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser_for(args_list).parse_args(args_list)
        try:
            setup(args.log_format, args.log_level, args.log_file)
        except ValueError as exc:  # an unknown level from the environment
            print(f"arbiter: {exc}", file=sys.stderr)
            return 2
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
    except (UsageError, ConfigError) as exc:
        print(f"arbiter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of stdout went away (arbiter scan | head): not an error
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except _runtime_errors() as exc:
        print(f"arbiter: {_runtime_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line here, the traceback goes to the log
        _log.error("internal error", exc_info=True)
        print(f"arbiter: internal error ({type(exc).__name__}: {exc}); this is a bug, the "
              "traceback is in the log", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
