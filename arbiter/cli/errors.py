"""Errors the command line reports as one line (exit code 2) instead of a traceback."""

from __future__ import annotations


class UsageError(Exception):
    """A user-caused problem: reported as one line on stderr, exit code 2."""
