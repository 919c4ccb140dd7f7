"""Command groups that span modules (``arbiter pairs suggest|review|refresh``)."""

from __future__ import annotations

import argparse

__all__ = ["command_group"]


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
