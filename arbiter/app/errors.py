"""The engine config's error, in a module of its own: the command line catches it without
importing the config loader (``arbiter --help`` stays light, ADR 0165)."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A mistake in the engine config file, named by file, table and key where it has them:
    ``engine.toml [risk] max_open_sagas: must be a whole number at least 1, got -3`` (ADR 0164).
    The command line reports it as one line (exit code 2), a job as its failure reason.

    ``ConfigError(message)`` for a problem of the whole file; ``ConfigError(file, table, key,
    problem)`` for a value (``table`` as written in the file, ``[risk]``, ``[[tenant]] #2``)."""

    def __init__(self, file: str, table: str | None = None, key: str | None = None,
                 problem: str | None = None) -> None:
        if problem is None:
            super().__init__(file)
            self.file, self.problem = None, file
        else:
            super().__init__(f"{' '.join(p for p in (file, table, key) if p)}: {problem}")
            self.file, self.problem = file, problem
        self.table = table
        self.key = key
