"""The matcher's pure parts on the failure modes issue 22 saw on real listings.

Bodies here are built in the test in the venues' shapes (Kalshi market objects, Gamma markets);
the real, verbatim bodies are in tests/pairs/data and measured by test_floors.py.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from arbiter.core.pairmatch import REJECT, REVIEW, kalshi_markets, match, polymarket_markets
from arbiter.core.pairmatch.quantity import Interval, parse_quantities
from arbiter.core.pairmatch.relation import COMPLEMENT, IDENTITY, SUBSET, classify
from arbiter.core.pairmatch.rules import DIFFER, MISSING, check_rules
from arbiter.core.pairmatch.text import names_match


def test_units_comparators_ranges_and_years() -> None:
    def one(text: str) -> str:
        (q,) = parse_quantities(text)
        return q.interval.describe(q.unit)

    assert one("Fed cuts 25bps in March 2026?") == one("Fed cuts 25 bps") == "= 25 bps"
    assert one("Bitcoin above $100k by Dec 31, 2026?") == "> 100000 $"
    assert one("Rate above 4.25% in 2026") == "> 4.25 %"
    assert one("Will Trump deport 250,000-500,000 people?") == "[250000, 500000)"
    assert one("50+ bps decrease") == "≥ 50 bps"
    assert one("at least 3%") == "≥ 3 %"
    assert parse_quantities("Who will win the 2028 presidential election?") == []
    assert Interval.above(Fraction(3, 2)).negated() == Interval.below(Fraction(-3, 2))


def test_names_compare_by_token_containment() -> None:
    assert names_match("Detroit", "Detroit Lions") and names_match("DET Lions", "Lions")
    assert names_match("Fresno St.", "Fresno State")
    assert not names_match("New York Jets", "New York Giants")


def _k(**over: Any) -> dict[str, Any]:
    m = {"ticker": "KXT-26DEC31-A", "event_ticker": "KXT-26DEC31", "market_type": "binary",
         "status": "active", "title": "Will it happen?", "yes_sub_title": "Yes",
         "no_sub_title": "Yes", "expected_expiration_time": "2026-12-31T23:00:00Z",
         "close_time": "2030-12-31T23:00:00Z", "rules_primary": "If it happens, Yes.",
         "rules_secondary": "Source: https://example.gov/data."}
    m.update(over)
    return m


def _p(**over: Any) -> dict[str, Any]:
    m = {"conditionId": "0xc1", "question": "Will it happen?", "outcomes": '["Yes", "No"]',
         "clobTokenIds": '["11", "22"]', "endDate": "2026-12-31T23:00:00Z", "slug": "s",
         "description": "If it happens, Yes. Source: https://example.gov/data.",
         "resolutionSource": "https://example.gov/data", "active": True, "closed": False}
    m.update(over)
    return m


def test_the_date_is_the_event_date_not_the_settlement_bound() -> None:
    (k,) = kalshi_markets([{"markets": [_k()]}])
    assert k.when is not None and k.when.year == 2026  # close_time says 2030


def test_nomination_is_not_the_presidency() -> None:
    ks = kalshi_markets([{"markets": [_k(
        ticker="KXPRESNOMD-28-GN", event_ticker="KXPRESNOMD-28",
        title="Who will be the Democratic nominee for President?", yes_sub_title="Gavin Newsom",
        expected_expiration_time="2028-11-07T00:00:00Z")]}])
    ps = polymarket_markets([[_p(question="Will Gavin Newsom win the 2028 US Presidential "
                                          "Election?", groupItemTitle="Gavin Newsom",
                                 endDate="2028-11-07T00:00:00Z")]])
    # same day, same person: the subject words (nominee vs win the election) keep them apart
    assert [c for c in match(ks, ps) if c.claims_pair] == []


def test_inverted_named_outcomes_and_the_sibling_is_an_alternative() -> None:
    rules = "If {} wins the Home FC vs Away United soccer match originally scheduled for Dec 31."
    ks = kalshi_markets([{"markets": [
        _k(ticker="KXG-26DEC31HOMAWY-AWY", event_ticker="KXG-26DEC31HOMAWY",
           yes_sub_title="Away United", rules_primary=rules.format("Away United")),
        _k(ticker="KXG-26DEC31HOMAWY-HOM", event_ticker="KXG-26DEC31HOMAWY",
           yes_sub_title="Home FC", rules_primary=rules.format("Home FC")),
    ]}])
    ps = polymarket_markets([[_p(question="Home vs. Away", outcomes='["Home", "Away"]')]])
    by = {c.kalshi.key: c for c in match(ks, ps)}
    assert by["KXG-26DEC31HOMAWY-HOM"].relation.relation == IDENTITY
    assert by["KXG-26DEC31HOMAWY-HOM"].inverted is False
    away = by["KXG-26DEC31HOMAWY-AWY"]
    assert away.relation.relation == COMPLEMENT and away.inverted is True
    assert away.verdict == REJECT and "alternative" in away.reasons[0]


def test_no_sub_title_is_never_read_as_the_no_side() -> None:
    (k,) = kalshi_markets([{"markets": [_k(yes_sub_title="Yes", no_sub_title="No change")]}])
    assert "no change" not in k.first.label.lower()


def test_threshold_near_miss_is_a_subset() -> None:
    (k,) = kalshi_markets([{"markets": [_k(title="Fed funds rate above 4.25% in 2026?")]}])
    (p,) = polymarket_markets([[_p(question="Fed funds rate above 4.00% in 2026?")]])
    assert classify(k, p).relation == SUBSET
    (same,) = polymarket_markets([[_p(question="Will the Fed funds rate be above 4.25% in "
                                                "2026?")]])
    assert classify(k, same).relation == IDENTITY


def test_rules_gate_quotes_differences_and_fails_closed_on_missing_text() -> None:
    (k,) = kalshi_markets([{"markets": [_k(rules_secondary="If the game ends in a tie, the "
                                           "market resolves to No. https://nfl.com/")]}])
    (p,) = polymarket_markets([[_p(description="If the game ends in a tie, this market will "
                                               "resolve 50-50.", resolutionSource="https://nfl.com")]])
    clauses = {c.topic: c for c in check_rules(k, p).clauses}
    tie = clauses["tie-break"]
    assert tie.status == DIFFER and "No" in tie.kalshi and "50-50" in tie.polymarket
    (bare,) = polymarket_markets([[_p(description="")]])
    check = check_rules(k, bare)
    assert not check.clean and check.problems[0].status == MISSING


def test_orientation_is_never_guessed() -> None:
    (k,) = kalshi_markets([{"markets": [_k(ticker="KXNFLGAME-26SEP20PHITEN-PHI",
                                           event_ticker="KXNFLGAME-26SEP20PHITEN",
                                           title="Philadelphia wins",
                                           yes_sub_title="Philadelphia", rules_primary="")]}])
    (p,) = polymarket_markets([[_p(question="Eagles vs. Titans", slug="nfl-phi-ten-2026-09-20",
                                   outcomes='["Eagles", "Titans"]',
                                   endDate="2026-12-31T20:00:00Z")]])
    (c,) = match([k], [p])
    assert c.verdict == REVIEW and c.inverted is None and not c.claims_pair
    assert json.dumps(c.inverted) == "null"


def test_an_unreadable_market_is_reported_not_fatal() -> None:
    import pytest

    from arbiter.core.pairmatch import CatalogueError

    bodies = [[_p(), _p(conditionId="0xc2", clobTokenIds="[]")]]
    with pytest.raises(CatalogueError, match="0xc2"):
        polymarket_markets(bodies)
    skipped: list[str] = []
    assert [m.key for m in polymarket_markets(bodies, skipped)] == ["0xc1"]
    assert "0xc2" in skipped[0]


def test_a_different_deadline_is_a_subset_and_another_candidate_is_no_pair() -> None:
    (k,) = kalshi_markets([{"markets": [_k(title="Will Kraken IPO before Jul 1, 2026?",
                                           expected_expiration_time="2026-07-01T04:00:00Z")]}])
    later, same = polymarket_markets([[
        _p(conditionId="0xl", question="Kraken IPO by December 31, 2026?",
           groupItemTitle="December 31, 2026", endDate="2027-01-01T05:00:00Z"),
        _p(conditionId="0xs", question="Kraken IPO by June 30, 2026?",
           groupItemTitle="June 30", endDate="2026-07-01T04:00:00Z")]])
    assert classify(k, later).relation == SUBSET
    assert classify(k, same).relation == IDENTITY
    by = {c.poly.key: c for c in match([k], [later, same])}
    assert by["0xl"].verdict == REJECT and by["0xs"].claims_pair
    (newsom,) = kalshi_markets([{"markets": [_k(title="Who will win the 2028 presidential "
                                                "election?", yes_sub_title="Gavin Newsom")]}])
    (vance,) = polymarket_markets([[_p(question="Will JD Vance win the 2028 presidential "
                                                "election?", groupItemTitle="JD Vance")]])
    assert not any(c.claims_pair for c in match([newsom], [vance]))


def test_numbers_inside_names_and_seasons_are_not_thresholds() -> None:
    """Real listings: "76ers in 2026-27" read as "= 76" before (tests/pairs/data/
    polymarket_markets_mixed.json); a season is a span of years, a number glued to letters is
    part of a name; temperatures carry their unit."""
    assert parse_quantities("Will LeBron James play for the Philadelphia 76ers in 2026-27?") == []
    assert parse_quantities("H5N1 pandemic in Q3 2026?") == []
    assert parse_quantities("2025/26 season MVP") == []

    def one(text: str) -> str:
        (q,) = parse_quantities(text)
        return q.interval.describe(q.unit)

    assert one("Will the highest temperature in New York City be 25F or below?") == "≤ 25 °F"
    assert one("between 26-27F") == "[26, 27) °F"
    assert one("Fed cuts 25bps in March 2026?") == "= 25 bps" and one("$74,300 or above") == (
        "≥ 74300 $")


def test_a_ladder_label_takes_the_questions_comparator() -> None:
    """Gamma's ``groupItemTitle`` "64,000" names the rung; the question says "above $64,000":
    the proposition is > 64000 $, not = 64000 (nautilus_trader's search_response.json). A label
    with its own comparator, or a question about another value, leaves the label as it is."""
    def first(**over: Any) -> str:
        (m,) = polymarket_markets([{"events": [{"slug": "e", "markets": [_p(**over)]}]}])
        assert m.first.interval is not None
        return m.first.interval.describe(m.first.unit)

    assert first(question="Will the price of Bitcoin be above $64,000 on March 11?",
                 groupItemTitle="64,000") == "> 64000 $"
    assert first(question="Will the price of Bitcoin be above $64,000 on March 11?",
                 groupItemTitle="↑ 66,000 or more") == "≥ 66000"
    assert first(question="Will Bitcoin reach $70,000 in March?", groupItemTitle="64,000") == (
        "= 64000")


def test_a_totals_market_takes_its_sides_from_the_game_title() -> None:
    """An Over/Under market names no team; Gamma's slug codes ("frest-sjst") need not be
    Kalshi's ("FRESSJSU"): the sides come from the game title "A vs. B" (the event's, or the
    question's before ":"), read like Kalshi's "the A vs B … game" (tests/pairs/data:
    "Fresno State vs. San Jose State: O/U 57.5" ↔ KXNCAAFTOTAL-26SEP19FRESSJSU-58)."""
    (m,) = polymarket_markets([{"slug": "cfb-frest-sjst-2026-09-19",
                                "title": "Fresno State vs. San Jose State", "markets": [_p(
        question="Fresno State vs. San Jose State: O/U 57.5", outcomes='["Over", "Under"]',
        sportsMarketType="totals", line=57.5, slug="cfb-frest-sjst-2026-09-19-total-57pt5")]}])
    assert [p.name for p in m.participants] == ["Fresno State", "San Jose State"]
    (bare,) = polymarket_markets([{"slug": "x", "title": "Total goals", "markets": [_p(
        question="Total goals: O/U 2.5", outcomes='["Over", "Under"]', line=2.5)]}])
    assert bare.participants == ()
