"""The pairs file's review group: who and when together; ``require_review`` refuses the rest."""

from __future__ import annotations

import pytest

from arbiter.core.pairs import PairsError, parse_pairs

BASE = """[[pair]]
name = "a"
kalshi_ticker = "K-1"
polymarket_yes_token = "11"
polymarket_no_token = "22"
"""


def test_unreviewed_pairs_still_load_unless_review_is_required() -> None:
    (pair,) = parse_pairs(BASE)
    assert pair.reviewed_by is None
    with pytest.raises(PairsError, match="not reviewed"):
        parse_pairs(BASE, require_review=True)


def test_review_group_is_all_or_nothing() -> None:
    with pytest.raises(PairsError, match="go together"):
        parse_pairs(BASE + 'reviewed_by = "alice"\n')
    with pytest.raises(PairsError, match="go together"):
        parse_pairs(BASE + 'review_note = "fine"\n')
    with pytest.raises(PairsError, match="time zone"):
        parse_pairs(BASE + 'reviewed_by = "alice"\nreviewed_at = 2026-12-01T10:00:00\n')


def test_reviewed_pair() -> None:
    (pair,) = parse_pairs(BASE + 'reviewed_by = "alice"\nreviewed_at = 2026-12-01T10:00:00Z\n'
                          'review_note = "ties: both 50/50"\n', require_review=True)
    assert pair.reviewed_by == "alice" and pair.review_note == "ties: both 50/50"
    assert pair.reviewed_at is not None and pair.reviewed_at.tzinfo is not None
