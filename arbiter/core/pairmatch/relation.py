"""Same event? Then which relation between the two contracts' true-sets (pure).

A pair is a claim that two contracts pay in exactly the same world states (identity) or in
exactly opposite ones (complement: Kalshi YES pays when the Polymarket *second* outcome — the
"NO" token — pays). Anything weaker is evidence, not a pair: subset/superset (one pays in fewer
states: a higher threshold, an earlier deadline), overlap (neither contains the other, or the
quantities differ: total points vs winner) and disjoint. The relation is computed from the
propositions (entity, measure, interval), never from a similarity score (ADR 0130).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from arbiter.core.pairmatch.contract import MARGIN, TEXT, TOTAL, Market, Participant, Proposition
from arbiter.core.pairmatch.quantity import Interval
from arbiter.core.pairmatch.text import names_match

__all__ = [
    "COMPLEMENT", "DISJOINT", "IDENTITY", "OVERLAP", "SUBSET", "SUPERSET",
    "EventMatch", "Relation", "classify", "same_event",
]

IDENTITY, COMPLEMENT = "identity", "complement"
SUBSET, SUPERSET, OVERLAP, DISJOINT = "subset", "superset", "overlap", "disjoint"
#: two venues' times for one occasion: Kalshi's expected expiration is a few hours after a
#: game's start; beyond this the dates differ
SAME_OCCASION = timedelta(hours=36)
_STEM_MIN = 0.6  # share of identity words two TEXT propositions need to be about one thing


@dataclass(frozen=True, slots=True)
class EventMatch:
    same: bool
    strength: float  # 0..1: how strongly the evidence ties the two to one event
    date_score: float  # 1: same occasion within 12 h; 0.5 within 36 h; 0.3 unknown
    evidence: tuple[str, ...]


def _date(k: Market, p: Market) -> tuple[float, str, bool]:
    if k.when is None or p.when is None:
        return 0.3, "date unknown on one venue", True
    delta = abs(k.when - p.when)
    text = f"Kalshi {k.when:%Y-%m-%d %H:%MZ} vs Polymarket {p.when:%Y-%m-%d %H:%MZ}"
    if delta <= timedelta(hours=12):
        return 1.0, text, True
    if delta <= SAME_OCCASION:
        return 0.5, text, True
    return 0.0, text + " (different dates)", False


def _participant_cover(names: tuple[str, ...], parts: tuple[Participant, ...]) -> bool:
    """Every name matches exactly one participant, and distinct names distinct participants."""
    if len(names) < 2 or len(parts) < 2:
        return False
    used: set[int] = set()
    for name in names:
        hits = [i for i, part in enumerate(parts) if part.matches(name)]
        if len(hits) != 1 or hits[0] in used:
            return False
        used.add(hits[0])
    return True


def _stem_share(a: Proposition, b: Proposition) -> float:
    if not a.stem or not b.stem:
        return 0.0
    return len(a.stem & b.stem) / min(len(a.stem), len(b.stem))


def same_event(k: Market, p: Market) -> EventMatch:
    """Whether ``k`` and ``p`` are about one occasion: same date, and the same participants
    (from the rules text or the team codes) or — outside games — the same subject words."""
    date_score, date_text, date_ok = _date(k, p)
    evidence = [date_text]
    if not date_ok:
        if _deadlines(k, p) and _stem_share(k.first, p.first) >= _STEM_MIN and _entities_agree(
                k.first, p.first):
            # the same question with another deadline: related (subset/superset), never a pair
            evidence.append(f"subject words {sorted(k.first.stem & p.first.stem)}, "
                            "different deadlines")
            return EventMatch(True, 0.6, 0.0, tuple(evidence))
        return EventMatch(False, 0.0, date_score, tuple(evidence))
    names = tuple(part.name for part in k.participants)
    if _participant_cover(names, p.participants):
        evidence.append(f"participants {' vs '.join(names)} = "
                        f"{' vs '.join(part.name for part in p.participants)}")
        return EventMatch(True, 1.0, date_score, tuple(evidence))
    if k.codes and p.codes and k.codes == p.codes:
        evidence.append(f"team codes {k.codes.upper()} (Kalshi {k.group}, Polymarket {p.group})")
        return EventMatch(True, 1.0, date_score, tuple(evidence))
    if k.participants or k.codes:  # a game on Kalshi that is not this game
        return EventMatch(False, 0.0, date_score, tuple(evidence))
    if k.first.kind == TEXT and p.first.kind == TEXT:
        share = _stem_share(k.first, p.first)
        if share >= _STEM_MIN:
            evidence.append(f"subject words {sorted(k.first.stem & p.first.stem)}")
            return EventMatch(True, 0.6 + 0.4 * share, date_score, tuple(evidence))
    return EventMatch(False, 0.0, date_score, tuple(evidence))


def _deadlines(k: Market, p: Market) -> bool:
    return (k.first.kind == p.first.kind == TEXT and k.first.deadline and p.first.deadline
            and k.when is not None and p.when is not None)


def _entities_agree(a: Proposition, b: Proposition) -> bool:
    """Both name an entity (a candidate, a company): it must be the same one."""
    return not (a.entity and b.entity) or names_match(a.entity, b.entity)


def _interval_relation(a: Interval | None, b: Interval | None) -> str:
    if a is None and b is None:
        return IDENTITY
    if a is None or b is None:
        return OVERLAP
    inside, outside = b.contains(a), a.contains(b)
    if inside and outside:
        return IDENTITY
    if inside:
        return SUBSET
    if outside:
        return SUPERSET
    return DISJOINT if a.disjoint(b) else OVERLAP


def _resolve(name: str, parts: tuple[Participant, ...]) -> int | None:
    hits = [i for i, part in enumerate(parts) if part.matches(name)]
    return hits[0] if len(hits) == 1 else None


def compare(k: Proposition, p: Proposition, parts: tuple[Participant, ...]) -> tuple[str, str]:
    """(relation of ``k``'s true-set to ``p``'s, evidence); "unmapped" when the entity of a
    margin cannot be placed on exactly one side of the game."""
    if k.kind != p.kind:
        return OVERLAP, f"different quantities ({k.kind} vs {p.kind})"
    if k.kind == MARGIN:
        ik, ip = _resolve(k.entity, parts), _resolve(p.entity, parts)
        if ik is None or ip is None:
            if names_match(k.entity, p.entity) and not parts:
                ik = ip = 0
            else:
                return "unmapped", (f"cannot place Kalshi '{k.entity}' and Polymarket "
                                    f"'{p.entity}' on one side of the game")
        kiv = k.interval if ik == ip or k.interval is None else k.interval.negated()
        rel = _interval_relation(kiv, p.interval)
        side = "same team" if ik == ip else "other team"
        return rel, f"margin({k.entity}) {k.interval.describe() if k.interval else '?'} vs " \
                    f"margin({p.entity}) {p.interval.describe() if p.interval else '?'} ({side})"
    if k.kind == TOTAL:
        return (_interval_relation(k.interval, p.interval),
                f"total {k.interval.describe() if k.interval else '?'} vs "
                f"{p.interval.describe() if p.interval else '?'}")
    if _stem_share(k, p) < _STEM_MIN:
        return OVERLAP, "different subjects"
    if not _entities_agree(k, p):
        return OVERLAP, f"different entities ({k.entity} vs {p.entity})"
    if k.unit != p.unit and k.interval is not None and p.interval is not None:
        return OVERLAP, f"different units ({k.unit or 'none'} vs {p.unit or 'none'})"
    return (_interval_relation(k.interval, p.interval),
            f"{k.describe()} vs {p.describe()}")


def _complement(iv: Interval | None) -> Interval | None:
    if iv is None:
        return None
    if iv.lo is not None and iv.hi is None:
        return Interval.below(iv.lo, inclusive=not iv.lo_in)
    if iv.hi is not None and iv.lo is None:
        return Interval.above(iv.hi, inclusive=not iv.hi_in)
    return None


@dataclass(frozen=True, slots=True)
class Relation:
    relation: str  # identity | complement | subset | superset | overlap | disjoint
    mapped: bool  # False: the entity could not be placed; no orientation is claimed
    evidence: tuple[str, ...]


def classify(k: Market, p: Market) -> Relation:
    """The relation of Kalshi YES to Polymarket's first outcome (identity) or second (complement);
    otherwise the strongest weaker relation, with the evidence both ways."""
    r1, e1 = compare(k.first, p.first, p.participants)
    if r1 == IDENTITY and _deadlines(k, p) and k.when and p.when and abs(
            k.when - p.when) > SAME_OCCASION:
        # "by D1" vs "by D2": the earlier deadline pays in fewer worlds
        rel = SUBSET if k.when < p.when else SUPERSET
        return Relation(rel, True, (f"deadline Kalshi {k.when:%Y-%m-%d} vs Polymarket "
                                    f"{p.when:%Y-%m-%d}: {rel} ({e1})",))
    if p.second is not None:
        r2, e2 = compare(k.first, p.second, p.participants)
    else:
        comp = _complement(p.first.interval)
        if comp is None and p.first.interval is not None:
            r2, e2 = OVERLAP, "no single-interval complement"
        else:
            negated = Proposition(p.first.kind, f"not {p.first.label}", p.first.entity, comp,
                                  p.first.unit, p.first.stem)
            r2, e2 = compare(k.first, negated, p.participants) if comp is not None else (
                OVERLAP, "first outcome has no threshold")
    first = f"vs {p.outcomes[0]!r}: {r1} ({e1})"
    second = f"vs {p.outcomes[1]!r}: {r2} ({e2})"
    if "unmapped" in (r1, r2):
        # the same contract up to a side nobody can name: identity or complement, orientation
        # unknown — reported as identity with mapped=False, never as a guessed side
        kiv, piv = k.first.interval, p.first.interval
        same_shape = kiv is not None and piv is not None and IDENTITY in (
            _interval_relation(kiv, piv), _interval_relation(kiv.negated(), piv))
        if r1 == IDENTITY or r2 == IDENTITY or same_shape:
            return Relation(IDENTITY, False, (first, second))
        return Relation(OVERLAP, False, (first, second))
    if r1 == IDENTITY:
        return Relation(IDENTITY, True, (first, second))
    if r2 == IDENTITY:
        return Relation(COMPLEMENT, True, (first, second))
    # the most informative weaker relation: a subset or superset of either outcome is a near
    # miss worth showing ("wins by over 1.5" ⊂ "wins"); else overlap before disjoint
    for wanted in ((SUBSET, SUPERSET), (OVERLAP,), (DISJOINT,)):
        for rel in (r1, r2):
            if rel in wanted:
                return Relation(rel, True, (first, second))
    return Relation(r1, True, (first, second))
