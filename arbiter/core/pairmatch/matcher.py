"""Candidates, one-to-one assignment with a margin, and the verdict of each (pure).

Blocking: a Kalshi market is compared only with Polymarket markets of the same occasion
(:func:`same_event`: date, then participants, team codes or subject words), so the work is
near-linear in the catalogues and look-alikes from other games never meet. Each candidate gets a
:class:`Relation`; only identity and complement with a mapped orientation can become pairs.

Assignment is one-to-one on both venues (the pairs file refuses a ticker or token twice). A
Polymarket market's best claim must beat the runner-up by ``min_margin``; the runner-up is the
best *different* claim on either market — the Kalshi sibling that claims the same Polymarket
market from the other side (DET-YES identity, BUF-YES complement of "Lions vs. Bills") is the
same hedge seen from the other leg, reported as an alternative, not as a competitor.

Verdicts: ``propose`` (identity/complement, orientation mapped, margin met, rules gate clean),
``review`` (a person must decide: rules differ or are missing, the margin is thin, or the
orientation could not be mapped — then ``inverted`` is None and the candidate is no pair),
``reject`` (any other relation, or a claim that lost the assignment).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from arbiter.core.pairmatch.contract import Market
from arbiter.core.pairmatch.relation import (
    COMPLEMENT,
    IDENTITY,
    EventMatch,
    Relation,
    classify,
    same_event,
)
from arbiter.core.pairmatch.rules import RulesCheck, check_rules

__all__ = ["PROPOSE", "REJECT", "REVIEW", "Candidate", "match"]

PROPOSE, REVIEW, REJECT = "propose", "review", "reject"
DEFAULT_MIN_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class Candidate:
    kalshi: Market
    poly: Market
    event: EventMatch
    relation: Relation
    rules: RulesCheck
    score: float
    verdict: str = REJECT
    margin: float | None = None
    reasons: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = field(default=())

    @property
    def claims_pair(self) -> bool:
        return self.relation.relation in (IDENTITY, COMPLEMENT) and self.relation.mapped

    @property
    def inverted(self) -> bool | None:
        if not self.relation.mapped or self.relation.relation not in (IDENTITY, COMPLEMENT):
            return None
        return self.relation.relation == COMPLEMENT

    def with_verdict(self, verdict: str, margin: float | None, reasons: Sequence[str],
                     alternatives: Sequence[str] = ()) -> Candidate:
        return Candidate(self.kalshi, self.poly, self.event, self.relation, self.rules,
                         self.score, verdict, margin, tuple(reasons), tuple(alternatives))


def _score(event: EventMatch, relation: Relation) -> float:
    """Evidence strength 0..1: the event tie, date closeness and a mapped orientation."""
    orientation = 1.0 if relation.mapped else 0.0
    return round(0.5 * event.strength + 0.2 * event.date_score + 0.3 * orientation, 4)


def _mirror(a: Candidate, b: Candidate) -> bool:
    """``b`` claims the same Polymarket market from the other Kalshi leg of one event."""
    return (a.poly.key == b.poly.key and a.kalshi.group == b.kalshi.group
            and a.kalshi.key != b.kalshi.key and {a.relation.relation, b.relation.relation}
            == {IDENTITY, COMPLEMENT})


def _rank(c: Candidate) -> tuple[float, int, str, str]:
    return (-c.score, 0 if c.relation.relation == IDENTITY else 1, c.kalshi.key, c.poly.key)


def match(kalshi: Sequence[Market], poly: Sequence[Market],
          min_margin: float = DEFAULT_MIN_MARGIN) -> list[Candidate]:
    """Every same-event candidate with its relation, score, margin and verdict, best first."""
    raw: list[Candidate] = []
    for k in kalshi:
        for p in poly:
            event = same_event(k, p)
            if not event.same:
                continue
            relation = classify(k, p)
            raw.append(Candidate(k, p, event, relation, check_rules(k, p), _score(event, relation)))
    raw.sort(key=_rank)
    claims = [c for c in raw if c.claims_pair]
    used_k: set[str] = set()
    used_p: set[str] = set()
    decided: dict[tuple[str, str], Candidate] = {}
    for c in claims:
        pair_key = (c.kalshi.key, c.poly.key)
        if c.kalshi.key in used_k or c.poly.key in used_p:
            winner = next((w for w in decided.values() if w.verdict != REJECT and (
                w.poly.key == c.poly.key or w.kalshi.key == c.kalshi.key)), None)
            why = (f"alternative to {winner.kalshi.key} ↔ {winner.poly.key} (the same hedge "
                   "from the other Kalshi leg)" if winner and _mirror(winner, c) else
                   f"lost the one-to-one assignment to {winner.kalshi.key} ↔ {winner.poly.key}"
                   if winner else "lost the one-to-one assignment")
            decided[pair_key] = c.with_verdict(REJECT, None, [why])
            continue
        rivals = [r for r in claims if r is not c and not _mirror(c, r)
                  and (r.poly.key == c.poly.key or r.kalshi.key == c.kalshi.key)]
        margin = round(c.score - max((r.score for r in rivals), default=0.0), 4)
        alternatives = [r.kalshi.key for r in claims if _mirror(c, r)]
        reasons: list[str] = []
        if margin < min_margin:
            reasons.append(f"margin {margin:.2f} over the runner-up is below {min_margin:.2f}")
        for clause in c.rules.problems:
            reasons.append(f"rules: {clause.topic} {clause.status}")
        verdict = REVIEW if reasons else PROPOSE
        used_k.add(c.kalshi.key)
        used_p.add(c.poly.key)
        decided[pair_key] = c.with_verdict(verdict, margin, reasons, alternatives)
    out: list[Candidate] = []
    for c in raw:
        got = decided.get((c.kalshi.key, c.poly.key))
        if got is not None:
            out.append(got)
        elif c.relation.relation in (IDENTITY, COMPLEMENT):  # orientation not mapped
            out.append(c.with_verdict(REVIEW, None, [
                "orientation unmapped: no outcome name matches the Kalshi YES side; "
                "not guessed"]))
        else:
            out.append(c.with_verdict(REJECT, None, [f"relation {c.relation.relation}"]))
    order = {PROPOSE: 0, REVIEW: 1, REJECT: 2}
    out.sort(key=lambda c: (order[c.verdict], *_rank(c)))
    return out
