"""The ``arbiter`` command: one argparse tree, each capability registering its own subcommands.

Commands live beside the capability they drive (``arbiter.ops.scan_cmd``, the venue packages'
``commands`` modules, ...); this module only composes them, so adding a command never means
editing a growing if/else here. A user mistake ends with one line on stderr and exit code 2,
never a traceback.

Logging is set up here, before any command runs: JSON with redaction on stderr by default
(``--log-format text`` or ``ARBITER_LOG_FORMAT=text`` for people, ``--log-file`` to write it
elsewhere); the demo sends it to a file in its work directory so the terminal view stays
readable (ADR 0143).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from arbiter.ops.errors import UsageError
from arbiter.ops.logging import FORMATS, LOG_FILE_ENV, LOG_FORMAT_ENV, LOG_LEVEL_ENV, setup

__all__ = ["COMMAND_MODULES", "UsageError", "build_parser", "command_group", "main", "version_text"]

#: Modules that expose ``register(subparsers)``. Order is the order of ``arbiter --help``.
COMMAND_MODULES: list[str] = [
    "arbiter.ops.scan_cmd",
    "arbiter.ops.demo_cmd",
    "arbiter.ops.backtest_cmds",
    "arbiter.ops.run_cmd",
    "arbiter.ops.venue_cmds",
    "arbiter.ops.pairs_suggest",
    "arbiter.ops.pairs_refresh",
    "arbiter.ops.tenant_cmds",
    "arbiter.ops.observability_cmds",
]


def command_group(sub: argparse._SubParsersAction, name: str,  # type: ignore[type-arg]
                  help_text: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The sub-commands of group ``name`` (``arbiter pairs ...``), created by the first module
    that registers into it and joined by the others, so one group can span several modules."""
    group: argparse.ArgumentParser | None = sub.choices.get(name)
    if group is None:
        group = sub.add_parser(name, help=help_text)
        actions = group.add_subparsers(dest=f"{name}_command", metavar="ACTION")
        actions.required = True
        return actions
    return next(a for a in group._actions if isinstance(a, argparse._SubParsersAction))


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup(args.log_format, args.log_level, args.log_file)
    except ValueError as exc:  # an unknown level from the environment
        print(f"arbiter: {exc}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"arbiter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
