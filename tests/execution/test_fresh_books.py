"""REST book snapshots as the recovery's quote source (ADR 0170): Kalshi's NO side is the YES
book seen from the other side; an unreadable book is unknown, never empty; a client without a
REST book falls back to the executor's own quote source."""

from __future__ import annotations

from arbiter.core.book import Outcome
from arbiter.execution.fresh_books import BookSnapshot, RestQuotes
from tests.execution.fakes import FakeVenue


def test_kalshi_no_is_the_yes_book_from_the_other_side() -> None:
    snap = BookSnapshot(best_bid=4900, best_ask=5100, read_at=0.0)
    assert snap.quote("kalshi", Outcome.YES) == (4900, 5100)
    assert snap.quote("kalshi", Outcome.NO) == (4900, 5100)  # 1 - 0.51, 1 - 0.49
    one_sided = BookSnapshot(best_bid=None, best_ask=5100, read_at=0.0)
    assert one_sided.quote("kalshi", Outcome.NO) == (4900, None)
    assert one_sided.quote("polymarket", Outcome.NO) == (None, 5100)  # a token is its outcome


async def test_a_client_without_a_rest_book_falls_back_and_a_missing_one_is_unknown() -> None:
    venue = FakeVenue("kalshi")

    async def fallback(v: str, market: str, outcome: Outcome) -> tuple[int | None, int | None]:
        return (4000, 4100)

    quotes = RestQuotes({"kalshi": venue}, fallback=fallback)
    assert await quotes("kalshi", "K", Outcome.YES) == (4000, 4100)
    assert await quotes("polymarket", "T", Outcome.NO) is None  # no client: unknown
    assert quotes.errors and quotes.reads == 0
    assert await RestQuotes({"kalshi": venue}).refresh([("kalshi", "K")]) == 0
    await venue.close()
