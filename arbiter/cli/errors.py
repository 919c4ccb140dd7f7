"""Errors the command line reports as one line instead of a traceback.

:class:`UsageError` (exit 2) is the user's to fix: a bad flag value, a missing file, a config
mistake. :class:`~arbiter.app.errors.ConfigError` (exit 2 too) is the config-file kind, carrying
where the mistake is (file, section, key) so the line points at it:
``engine.toml [risk] max_open_sagas: must be >= 1, got -3``.
Everything the world refuses at run time (a venue, the network, the file system) is a
:class:`arbiter.venues.base.VenueError` or an :class:`OSError`, which ``arbiter`` reports with exit
code 1 (ADR 0163).
"""

from __future__ import annotations

from arbiter.app.errors import ConfigError

__all__ = ["ConfigError", "UsageError"]


class UsageError(Exception):
    """A user-caused problem: reported as one line on stderr, exit code 2."""
