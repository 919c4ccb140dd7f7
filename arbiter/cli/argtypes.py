"""argparse value types that refuse what a command cannot use, at parse time.

A number a command cannot use (a negative sample count, port 99999, a duration of ``inf``) used to
travel into the command and come back as a traceback from whatever library choked on it. Each
type here checks one kind of value and raises :class:`argparse.ArgumentTypeError`, which argparse
turns into one line and exit code 2 before anything starts (ADR 0163). Upper bounds are where
a bigger value cannot be meant (a port above 65535, seconds beyond ten years, which also keeps
timers from overflowing).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

__all__ = ["MAX_SECONDS", "cluster", "count", "number", "port", "seconds"]

#: ten years: the longest duration a command accepts (``threading`` timers overflow near 2**63 ns)
MAX_SECONDS = 10 * 365 * 24 * 3600.0


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def port(text: str) -> int:
    """A TCP port: 0 (any free port) to 65535."""
    value = _int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port 0..65535, got {text!r}")
    return value


def count(minimum: int = 1, maximum: int = 2**31 - 1) -> Callable[[str], int]:
    """A whole number in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        value = _int(text)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be a whole number {minimum}..{maximum}, got {text!r}")
        return value

    parse.__name__ = "count"
    return parse


def number(what: str = "a number", minimum: float = 0.0, *, inclusive: bool = False,
           maximum: float = 1e12) -> Callable[[str], float]:
    """A finite number above ``minimum`` (or at it, with ``inclusive``), at most ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        low_ok = value >= minimum if inclusive else value > minimum
        if not math.isfinite(value) or not low_ok or value > maximum:
            bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
            raise argparse.ArgumentTypeError(
                f"must be {what} {bound} and <= {maximum:g}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def seconds(minimum: float = 0.0, *, inclusive: bool = False,
            maximum: float = MAX_SECONDS) -> Callable[[str], float]:
    """A finite number of seconds above ``minimum`` (or at it, with ``inclusive``)."""
    return number("a number of seconds", minimum, inclusive=inclusive, maximum=maximum)


_HOST_PORT = re.compile(r"^(?:ray://)?(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


def cluster(text: str) -> str:
    """Where the engine runs: ``local``, ``local4``, ``auto`` or a Ray address ``[ray://]HOST:PORT``
    (the forms ``ray.init(address=...)`` accepts besides ``local``/``auto``; Ray's
    ``services.canonicalize_bootstrap_address``)."""
    if text in ("local", "local4", "auto"):
        return text
    match = _HOST_PORT.match(text)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be local, local4, auto or a Ray address HOST:PORT (or ray://HOST:PORT), "
            f"got {text!r}")
    return text
