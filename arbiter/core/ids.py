"""Deterministic saga and client order ids: the key that makes every order step idempotent.

A client order id is a pure function of ``(saga id, step)``. Whoever asks about a step (the
executor retrying after a timeout, recovery after a crash, reconciliation) derives the *same* id
and can therefore look the order up at the venue instead of guessing; nothing ever places a
second order for a step under a fresh id. A step that must be tried again after its first order
is known to be final gets a new step name (``H2`` after ``H1``), never a reused one.

Saga ids are ``<journal token>-<sequence>``: the token is random once per journal (so two
engines, or a wiped journal, sharing one venue account never collide), the sequence comes from the
journal. Kalshi allows at most 64 characters from ``[A-Za-z0-9_-:+=/]`` (venues.md §1.6.5);
the ids here use only letters, digits and ``-`` and are checked against that budget.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CID_PREFIX",
    "IdError",
    "client_order_id",
    "make_saga_id",
    "parse_client_order_id",
    "step_name",
]

CID_PREFIX: Final = "arb"
MAX_CID_LEN: Final = 64
_TOKEN = re.compile(r"^[a-z0-9]{4,16}$")
_STEP = re.compile(r"^(L1|L2|[CU][1-9][0-9]{0,2})$")
_SAGA = re.compile(r"^[a-z0-9]{4,16}-[0-9]{1,12}$")
_CID = re.compile(r"^arb-([a-z0-9]{4,16}-[0-9]{1,12})-(L1|L2|[CU][1-9][0-9]{0,2})$")


class IdError(ValueError):
    """An id that does not follow the scheme (a bug, or an order that is not ours)."""


def make_saga_id(token: str, seq: int) -> str:
    """Saga id from the journal's token and its monotonically increasing sequence number."""
    if not _TOKEN.match(token):
        raise IdError(f"journal token {token!r} must be 4-16 lowercase letters/digits")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 10**12:
        raise IdError(f"saga sequence {seq!r} must be an integer in [0, 1e12)")
    return f"{token}-{seq}"


def step_name(role: str, attempt: int = 1) -> str:
    """Step label: ``L1``/``L2`` for the planned legs, ``C<n>``/``U<n>`` for hedge attempts.

    ``role`` is one of ``leg1``, ``leg2``, ``complete``, ``unwind``; ``attempt`` numbers the
    hedge orders of a saga (1-based, shared by both hedge kinds so a step is never reused).
    """
    if role == "leg1":
        return "L1"
    if role == "leg2":
        return "L2"
    if role not in ("complete", "unwind"):
        raise IdError(f"unknown step role {role!r}")
    if not 1 <= attempt <= 999:
        raise IdError(f"hedge attempt {attempt} outside 1..999")
    return f"{'C' if role == 'complete' else 'U'}{attempt}"


def client_order_id(saga_id: str, step: str) -> str:
    """The one client order id of ``step`` of ``saga_id``; same inputs, same id, always."""
    if not _SAGA.match(saga_id):
        raise IdError(f"saga id {saga_id!r} does not follow <token>-<seq>")
    if not _STEP.match(step):
        raise IdError(f"step {step!r} is not L1, L2, C<n> or U<n>")
    cid = f"{CID_PREFIX}-{saga_id}-{step}"
    if len(cid) > MAX_CID_LEN:  # pragma: no cover - the patterns above bound the length
        raise IdError(f"client order id {cid!r} is longer than {MAX_CID_LEN}")
    return cid


def parse_client_order_id(cid: str) -> tuple[str, str]:
    """Inverse of :func:`client_order_id`: ``(saga id, step)``; raises for foreign ids."""
    match = _CID.match(cid)
    if match is None:
        raise IdError(f"{cid!r} is not an arbiter client order id")
    return match.group(1), match.group(2)
