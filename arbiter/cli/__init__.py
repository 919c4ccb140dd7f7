"""The ``arbiter`` command: one module per command group, composed in :mod:`arbiter.cli.main`;
the only home of :class:`~arbiter.cli.errors.UsageError` (ADR 0145)."""
