"""The ``arbiter`` command: one argparse tree, each capability registering its own subcommands.

Commands live beside the capability they drive (``arbiter.cli.scan``, the venue packages'
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
import sys
from collections.abc import Sequence
from types import ModuleType

from arbiter.app.config import ConfigError
from arbiter.cli import (
    backtest,
    demo,
    observability,
    pairs_refresh,
    pairs_suggest,
    run,
    scan,
    tenant,
    venue,
)
from arbiter.cli.errors import UsageError
from arbiter.telemetry.logging import FORMATS, LOG_FILE_ENV, LOG_FORMAT_ENV, LOG_LEVEL_ENV, setup

__all__ = ["COMMAND_MODULES", "UsageError", "build_parser", "main"]

#: Modules that expose ``register(subparsers)``. Order is the order of ``arbiter --help``.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    scan, demo, backtest, run, venue, pairs_suggest, pairs_refresh, tenant, observability,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arbiter",
        description="Cross-venue arbitrage between Kalshi and Polymarket.",
    )
    parser.add_argument("--log-format", choices=FORMATS, default=None,
                        help=f"json (default) or text; also ${LOG_FORMAT_ENV}")
    parser.add_argument("--log-level", default=None, help=f"default INFO; also ${LOG_LEVEL_ENV}")
    parser.add_argument("--log-file", default=None,
                        help=f"write logs to this file instead of stderr; also ${LOG_FILE_ENV}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.register(sub)
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
    except (UsageError, ConfigError) as exc:
        print(f"arbiter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
