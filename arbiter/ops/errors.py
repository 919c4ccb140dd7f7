"""Errors the command line reports as one line instead of a traceback.

:class:`UsageError` (exit 2) is the user's to fix: a bad flag value, a missing file, a config
mistake. :class:`ConfigError` is the config-file kind of it, carrying where the mistake is (file,
section, key) so the line points at it: ``engine.toml [risk] max_open_sagas: must be >= 1, got -3``.
Everything the world refuses at run time (a venue, the network, the file system) is a
:class:`arbiter.venues.base.VenueError` or an :class:`OSError`, which ``arbiter`` reports with exit
code 1 (ADR 0163).
"""

from __future__ import annotations

__all__ = ["ConfigError", "UsageError"]


class UsageError(Exception):
    """A user-caused problem: reported as one line on stderr, exit code 2."""


class ConfigError(UsageError):
    """A config file value the engine cannot use, named by file, table and key.

    ``table`` is written as in the file (``[risk]``, ``[[tenant]] #2``), or None for the file as a
    whole; ``key`` is None for a problem with a whole table."""

    def __init__(self, file: str, table: str | None, key: str | None, problem: str) -> None:
        where = " ".join(p for p in (file, table, key) if p)
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.table = table
        self.key = key
        self.problem = problem
